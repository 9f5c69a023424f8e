"""The verifier: every kind verifies; every tampering fails at the exact step that catches it."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from ledger.errors import InconsistencyError
from ledger.tlog.canonical import canonical_digest
from ledger.tlog.encoding import b64e
from ledger.tlog.note import Note, parse_note, sign_note
from ledger.tlog.tlog_proof import parse_tlog_proof
from tests.fixtures_network import LedgerFixture, MiniNetwork
from tests.keyutil import RawSigner
from verifier import CheckpointCache, StatusRefresh, TrustPolicy, verify, verify_consistency_of
from verifier.report import PASSED, STEPS, WARNING

verify_module = importlib.import_module("verifier.verify")


@pytest.fixture
def net() -> LedgerFixture:
    return LedgerFixture()


@pytest.fixture
def issued(net):
    cred = net.credential()
    index = net.issue(cred)
    return cred, net.bundle(cred, index)


def failed_step(report) -> tuple[int, str]:
    f = report.first_failure
    assert f is not None, f"expected a failure, got {[(s.number, s.status, s.message) for s in report.steps]}"
    assert "could not check this step" not in f.message, f.message
    return f.number, f.name


def edit(bundle: bytes, fn) -> bytes:
    doc = json.loads(bundle)
    fn(doc)
    return json.dumps(doc, ensure_ascii=False).encode()


def with_receipt(bundle: bytes, head=lambda lines: lines, checkpoint=lambda note: note) -> bytes:
    """Rewrite the receipt's tlog-proof: ``head`` edits its lines, ``checkpoint`` the note text."""

    def fn(doc):
        h, note = doc["receipt"].split("\n\n", 1)
        doc["receipt"] = "\n".join(head(h.split("\n"))) + "\n\n" + checkpoint(note)

    return edit(bundle, fn)


# --- happy paths --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["olympiad-diploma", "participation", "school-leaving", "teacher-pd", "generic"])
def test_every_kind_verifies_with_every_step_passed(net, kind):
    inst = "ipk-1" if kind == "teacher-pd" else "olymp-1"
    cred = net.credential(kind, institution=inst)
    report = verify(net.bundle(cred, net.issue(cred)), net.trust(), now=net.now)
    assert report.ok and report.status == "verified", str(report)
    assert [(s.number, s.name, s.status) for s in report.steps] == [(n, name, "passed") for n, name, _ in STEPS]
    assert report.kind == kind and report.holder == "Иванова Мария Петровна" and report.digest == canonical_digest(cred).hex()
    json.dumps(report.to_json())  # the report is plain JSON


def test_a_bundle_built_by_a_real_node_verifies(tmp_path):
    n = MiniNetwork(tmp_path)
    cred = n.credential()
    index = n.issue(cred)
    report = verify(n.bundle(cred, index), n.trust(), now=int(cred_time(cred)) + 60)
    assert report.ok, str(report)


def cred_time(cred) -> int:
    from ledger.tlog.timefmt import parse_time

    return parse_time(cred["validFrom"])


def test_the_trust_file_round_trips_through_its_json(net, issued):
    _, bundle = issued
    t = TrustPolicy.from_bytes(net.trust().to_bytes())
    assert t == net.trust() and verify(bundle, t, now=net.now).ok


def test_key_rotated_later_does_not_invalidate_earlier_credentials(net):
    cred = net.credential()
    index = net.issue(cred)
    old_trust = net.trust()
    net.now += 600
    net.rotate_key("olymp-1", net.now)
    net.now += 600
    bundle = net.bundle(cred, index)
    assert len(json.loads(bundle)["issuer_keys"]) == 1
    for trust in (old_trust, net.trust()):  # the rotation learnt from the bundle, or from the roster
        report = verify(bundle, trust, now=net.now)
        assert report.ok, str(report)
        assert "until 2026-03-01T10:10:00Z" in report.step("issuer").message


def test_a_key_added_after_the_trust_file_was_exported_is_learnt_from_the_bundle(net):
    old_trust = net.trust()
    net.now += 60
    new = net.add_key("olymp-1", net.now)
    net.now += 60
    cred = net.credential()
    index = net.issue(cred, signer=new)
    report = verify(net.bundle(cred, index), old_trust, now=net.now)
    assert report.ok, str(report)


def test_a_checkpoint_is_verified_once_per_distinct_checkpoint(net):
    creds = [net.credential(holder_name=f"Участник {i}") for i in range(20)]
    indices = net.issue_many(creds)
    note = net.checkpoint()
    trust = net.trust()
    seen = CheckpointCache(trust)
    for c, i in zip(creds, indices):
        assert verify(net.bundle(c, i, note=note), trust, now=net.now, seen=seen).ok
    assert seen.signature_checks == 1


def test_a_cache_made_for_another_trust_policy_is_refused(net, issued):
    with pytest.raises(ValueError):
        verify(issued[1], net.trust(), now=net.now, seen=CheckpointCache(net.trust()))


# --- the credential ---------------------------------------------------------------------


def test_altered_credential_field_fails_at_digest(net, issued):
    _, bundle = issued
    bad = edit(bundle, lambda d: d["credential"]["credentialSubject"].__setitem__("name", "Петров Пётр"))
    report = verify(bad, net.trust(), now=net.now)
    assert failed_step(report) == (2, "digest") and "altered" in report.first_failure.message
    # The receipt itself is still genuine: independent steps say so.
    assert report.step("inclusion").status == "passed" and report.step("issuer").status == "skipped"


def test_altered_extension_field_fails_at_digest(net, issued):
    _, bundle = issued
    bad = edit(bundle, lambda d: d["credential"]["eduledgerExtension"].__setitem__("place", "2"))
    assert failed_step(verify(bad, net.trust(), now=net.now)) == (2, "digest")


# --- the receipt ----------------------------------------------------------------------------


def test_every_proof_hash_altered_fails_at_inclusion(net):
    creds = [net.credential(holder_name=f"Участник {i}") for i in range(9)]
    index = net.issue_many(creds)[4]
    bundle = net.bundle(creds[4], index)
    proof = parse_tlog_proof(json.loads(bundle)["receipt"]).proof
    assert len(proof) >= 3
    for i in range(len(proof)):

        def flip(lines, i=i):
            pos = len(lines) - len(proof) + i
            h = bytearray(parse_tlog_proof("c2sp.org/tlog-proof@v1\nindex 0\n" + lines[pos] + "\n\nx").proof[0])
            h[i % 32] ^= 0x01
            return lines[:pos] + [b64e(bytes(h))] + lines[pos + 1 :]

        assert failed_step(verify(with_receipt(bundle, head=flip), net.trust(), now=net.now)) == (6, "inclusion")


def test_a_dropped_or_extra_proof_hash_fails_at_inclusion(net):
    creds = [net.credential(holder_name=f"Участник {i}") for i in range(5)]
    index = net.issue_many(creds)[2]
    bundle = net.bundle(creds[2], index)
    for head in (lambda lines: lines[:-1], lambda lines: lines + [lines[-1]]):
        assert failed_step(verify(with_receipt(bundle, head=head), net.trust(), now=net.now)) == (6, "inclusion")


@pytest.mark.parametrize("delta", [-1, 1, 10**6])
def test_altered_receipt_index_fails_at_inclusion(net, delta):
    creds = [net.credential(holder_name=f"Участник {i}") for i in range(5)]
    index = net.issue_many(creds)[2]
    bundle = net.bundle(creds[2], index)
    shift = lambda lines: [f"index {index + delta}" if x.startswith("index ") else x for x in lines]  # noqa: E731
    assert failed_step(verify(with_receipt(bundle, head=shift), net.trust(), now=net.now)) == (6, "inclusion")


@pytest.mark.parametrize("delta", [-1, 1])
def test_altered_checkpoint_size_fails_at_log_signature(net, issued, delta):
    _, bundle = issued

    def resize(note):
        lines = note.split("\n")
        lines[1] = str(int(lines[1]) + delta)
        return "\n".join(lines)

    assert failed_step(verify(with_receipt(bundle, checkpoint=resize), net.trust(), now=net.now)) == (3, "log-signature")


def test_altered_anchor_entry_fails(net, issued):
    """The entry bytes travel in the proof's extra line: changing them breaks canonical form or the digest."""
    _, bundle = issued

    def swap(lines):
        extra = json.loads(parse_tlog_proof("\n".join(lines) + "\n\nx").extra)
        extra["body"]["issued_at"] = "2020-01-01T00:00:00Z"
        data = json.dumps(extra, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        return [lines[0], "extra " + b64e(data)] + lines[2:]

    report = verify(with_receipt(bundle, head=swap), net.trust(), now=net.now)
    assert failed_step(report) == (6, "inclusion")  # the leaf hash changed: not in the tree


def test_checkpoint_signed_by_an_unknown_key_fails_at_log_signature(net, issued):
    _, bundle = issued

    def forge(note_text):
        text = parse_note(note_text.encode()).text
        return Note(text, (sign_note(text, net.network, RawSigner()),)).to_bytes().decode()

    report = verify(with_receipt(bundle, checkpoint=forge), net.trust(), now=net.now)
    assert failed_step(report) == (3, "log-signature") and "not signed by the log key" in report.first_failure.message


def test_a_whole_forged_log_under_an_unknown_key_fails_at_log_signature(net):
    cred = net.credential()
    index = net.issue(cred)
    forged = net.bundle(cred, index, note=net.checkpoint(log_signer=RawSigner()))
    assert failed_step(verify(forged, net.trust(), now=net.now)) == (3, "log-signature")


def test_too_few_cosignatures_fail_at_cosignatures(net):
    cred = net.credential()
    index = net.issue(cred)
    bundle = net.bundle(cred, index, note=net.checkpoint(cosigners=["uni-1"]))
    report = verify(bundle, net.trust(), now=net.now)
    assert failed_step(report) == (4, "cosignatures") and "need 2" in report.first_failure.message


def test_the_sequencers_own_cosignature_never_makes_the_quorum(net):
    """Quorum 2: the sequencer (olymp-1) plus uni-1 met the old rule; today only uni-1 counts. Such a
    checkpoint still verifies offline, with a warning at step 4 that says so; one that falls short even
    under the old rule fails."""
    cred = net.credential()
    index = net.issue(cred)
    assert net.trust().sequencer == "olymp-1" and net.trust().quorum == 2
    legacy = verify(net.bundle(cred, index, note=net.checkpoint(cosigners=["olymp-1", "uni-1"])), net.trust(), now=net.now)
    step = legacy.steps[3]
    assert legacy.ok and (step.number, step.status) == (4, WARNING)
    assert "only 1 of the 2 institutions besides the sequencer olymp-1" in step.message and "--online" in step.message
    current = verify(net.bundle(cred, index, note=net.checkpoint(cosigners=["ipk-1", "uni-1"])), net.trust(), now=net.now)
    assert current.ok and current.steps[3].status == PASSED and "2 of the 2 institutions besides the sequencer" in current.steps[3].message
    alone = verify(net.bundle(cred, index, note=net.checkpoint(cosigners=["olymp-1"])), net.trust(), now=net.now)
    assert failed_step(alone) == (4, "cosignatures") and "other than the sequencer olymp-1" in alone.first_failure.message


def test_after_a_handover_the_new_sequencers_witness_stops_counting(net):
    cred = net.credential()
    index = net.issue(cred)
    size = net.tree.size
    trust = net.trust()
    handed = TrustPolicy(
        network=trust.network, genesis_hash=trust.genesis_hash, log=trust.log, witnesses=trust.witnesses, quorum=2,
        sequencer="uni-1", sequencers=((0, "olymp-1"), (size, "uni-1")), roster=trust.roster,
    )
    assert handed.sequencer_at(size - 1) == "olymp-1" and handed.sequencer_at(size) == "uni-1"
    assert TrustPolicy.from_bytes(handed.to_bytes()).sequencers == ((0, "olymp-1"), (size, "uni-1"))
    # At this size uni-1 sequences: olymp-1 and ipk-1 make the quorum, uni-1 and ipk-1 only under the old rule.
    ok = verify(net.bundle(cred, index, note=net.checkpoint(cosigners=["olymp-1", "ipk-1"])), handed, now=net.now)
    assert ok.ok and ok.steps[3].status == PASSED
    old = verify(net.bundle(cred, index, note=net.checkpoint(cosigners=["uni-1", "ipk-1"])), handed, now=net.now)
    assert old.ok and old.steps[3].status == WARNING


@pytest.mark.parametrize(
    "sequencers, why",
    [(((1, "olymp-1"),), "start at size 0"), (((0, "uni-1"), (0, "olymp-1")), "increasing"), (((0, "nobody-9"), (5, "olymp-1")), "not institutions")],
)
def test_a_sequencer_history_that_makes_no_sense_is_refused(net, sequencers, why):
    trust = net.trust()
    with pytest.raises(ValueError, match=why):
        TrustPolicy(
            network=trust.network, genesis_hash=trust.genesis_hash, log=trust.log, witnesses=trust.witnesses, quorum=2,
            sequencer="olymp-1", sequencers=sequencers, roster=trust.roster,
        )


def test_a_duplicated_cosigner_is_counted_once(net):
    cred = net.credential()
    index = net.issue(cred)
    one = parse_note(net.checkpoint(cosigners=["uni-1"]))
    log_sig, cosig = one.signatures
    doubled = Note(one.text, (log_sig, cosig, cosig, cosig)).to_bytes()
    report = verify(net.bundle(cred, index, note=doubled), net.trust(), now=net.now)
    assert failed_step(report) == (4, "cosignatures") and "has 1 valid" in report.first_failure.message


def test_a_cosignature_by_a_key_outside_the_trust_file_does_not_count(net):
    cred = net.credential()
    index = net.issue(cred)
    trust = net.trust()
    net.witness["uni-1"] = RawSigner()  # uni-1's witness name with a key the trust file does not know
    report = verify(net.bundle(cred, index, note=net.checkpoint(cosigners=["uni-1", "ipk-1"])), trust, now=net.now)
    assert failed_step(report) == (4, "cosignatures") and "has 1 valid" in report.first_failure.message


def test_trust_file_of_another_network_fails_at_log_signature(issued):
    _, bundle = issued
    other = LedgerFixture(network="other.eduledger.example/net", seed=2)
    report = verify(bundle, other.trust(), now=other.now)
    assert failed_step(report) == (3, "log-signature") and "another network" in report.first_failure.message


def test_same_network_name_other_keys_fails_at_log_signature(issued):
    _, bundle = issued
    impostor = LedgerFixture(seed=3)  # same network name, different log key
    assert failed_step(verify(bundle, impostor.trust(), now=impostor.now)) == (3, "log-signature")


# --- issuer -----------------------------------------------------------------------------


def test_issuer_key_not_yet_valid_at_issue_time_fails_at_issuer(net):
    trust = net.trust()
    future = net.add_key("olymp-1", net.now + 86400)  # registered now, valid from tomorrow
    cred = net.credential()
    index = net.issue(cred, signer=future, check=False)  # the ledger would refuse it; a forged log need not
    report = verify(net.bundle(cred, index), trust, now=net.now)
    assert failed_step(report) == (7, "issuer") and "not valid" in report.first_failure.message


@pytest.mark.parametrize("trust_exported", ["before the revocation", "after the revocation"])
def test_a_credential_signed_after_its_key_was_revoked_for_compromise_fails_at_issuer(net, trust_exported):
    stolen = net.signing["olymp-1"]
    net.now += 100
    replacement = net.add_key("olymp-1", net.now)
    compromised_at = net.now + 10
    before = net.credential()  # signed before the compromise: stays valid
    before_index = net.issue(before, signer=stolen)
    net.now += 20
    after = net.credential(holder_name="Подделка")  # signed with the stolen key after the compromise
    after_index = net.issue(after, signer=stolen)
    early_trust = net.trust()
    net.now += 20
    net.revoke_key("olymp-1", stolen.public_key, compromised_at, signer=replacement)
    trust = early_trust if trust_exported == "before the revocation" else net.trust()
    report = verify(net.bundle(after, after_index), trust, now=net.now)
    assert failed_step(report) == (7, "issuer") and "not valid" in report.first_failure.message
    assert verify(net.bundle(before, before_index), trust, now=net.now).ok


def test_issuer_missing_from_the_trust_roster_fails_at_issuer(net, issued):
    _, bundle = issued
    t = net.trust()
    policy = TrustPolicy(
        t.network, t.genesis_hash, t.log,
        {i: w for i, w in t.witnesses.items() if i != "olymp-1"}, 2, "ipk-1",
        {i: r for i, r in t.roster.items() if i != "olymp-1"},
    )  # fmt: skip
    report = verify(bundle, policy, now=net.now)
    assert failed_step(report) == (7, "issuer") and "not an institution" in report.first_failure.message


def test_a_credential_naming_another_issuer_than_its_anchor_fails_at_issuer(net):
    cred = net.credential(institution="ipk-1", kind="generic")
    index = net.issue(cred, institution="olymp-1")  # anchored by olymp-1, claims ipk-1
    assert failed_step(verify(net.bundle(cred, index), net.trust(), now=net.now)) == (7, "issuer")


def test_a_key_entry_of_another_institution_slipped_into_the_bundle_fails_at_issuer(net):
    net.add_key("ipk-1", net.now)
    foreign = len(net.datas) - 1
    cred = net.credential()
    index = net.issue(cred)
    doc = net.bundle_doc(cred, index)
    from ledger.tlog.tlog_proof import TlogProof

    note = parse_tlog_proof(doc["receipt"]).checkpoint
    doc["issuer_keys"].append(TlogProof(foreign, tuple(net.tree.inclusion_proof(foreign)), note, net.datas[foreign]).to_text())
    report = verify(json.dumps(doc).encode(), net.trust(), now=net.now)
    assert failed_step(report) == (7, "issuer") and "not to the issuer" in report.first_failure.message


# --- status -------------------------------------------------------------------------------


def test_revoked_credential_fails_at_status(net):
    cred = net.credential()
    index = net.issue(cred)
    net.revoke(cred, reason="fraud")
    report = verify(net.bundle(cred, index), net.trust(), now=net.now)
    assert failed_step(report) == (8, "status") and report.status == "revoked"
    assert "fraud" in report.first_failure.message and report.first_failure.evidence["reason"] == "fraud"


def test_superseded_credential_fails_at_status_with_a_link_to_the_new_one(net):
    old = net.credential()
    index = net.issue(old)
    new = net.credential(title="Диплом победителя регионального этапа (исправленный)")
    new_index = net.issue(new)
    net.supersede(old, new)
    report = verify(net.bundle(old, index), net.trust(), now=net.now)
    assert failed_step(report) == (8, "status") and report.status == "superseded"
    assert report.superseded_by == canonical_digest(new).hex()
    assert verify(net.bundle(new, new_index), net.trust(), now=net.now).ok


def test_a_status_entry_for_another_credential_fails_at_status(net):
    cred, other = net.credential(), net.credential(holder_name="Другой")
    index = net.issue(cred)
    net.issue(other)
    rev = net.revoke(other)
    doc = net.bundle_doc(cred, index)
    from ledger.tlog.tlog_proof import TlogProof

    note = parse_tlog_proof(doc["receipt"]).checkpoint
    doc["status"].append(TlogProof(rev, tuple(net.tree.inclusion_proof(rev)), note, net.datas[rev]).to_text())
    assert failed_step(verify(json.dumps(doc).encode(), net.trust(), now=net.now)) == (8, "status")


def test_a_revocation_dropped_from_the_bundle_is_found_online(net):
    cred = net.credential()
    index = net.issue(cred)
    note_a = net.checkpoint()
    bundle = net.bundle(cred, index, note=note_a)
    size_a = net.tree.size
    rev = net.revoke(cred, reason="withdrawn")
    note_b = net.checkpoint()
    from ledger.tlog.tlog_proof import TlogProof

    refresh = StatusRefresh(
        note_b,
        tuple(net.tree.consistency_proof(size_a)),
        (TlogProof(rev, tuple(net.tree.inclusion_proof(rev)), note_b, net.datas[rev]),),
    )
    assert verify(bundle, net.trust(), now=net.now).ok  # offline, the bundle predates the revocation
    report = verify(bundle, net.trust(), now=net.now, refresh=refresh)
    assert failed_step(report) == (8, "status") and report.status == "revoked"
    assert report.step("consistency").status == "passed"


def test_an_unreachable_node_leaves_the_report_incomplete_never_ok(net, issued):
    _, bundle = issued
    report = verify(bundle, net.trust(), now=net.now, refresh=StatusRefresh(error="cannot reach http://node: timeout"))
    assert report.first_failure is None and report.step("status").status == "warning" and "timeout" in report.step("status").message
    assert not report.ok and report.status == "incomplete" and report.online.code == "unreachable"


def test_old_offline_status_passes_with_a_warning(net, issued):
    _, bundle = issued
    report = verify(bundle, net.trust(), now=net.now + 90 * 86400)
    assert report.ok and report.step("status").status == "warning" and "check online" in report.step("status").message


# --- dates ----------------------------------------------------------------------------------


def test_expired_credential_fails_at_validity(net):
    cred = net.credential(valid_until=net.now + 60)
    bundle = net.bundle(cred, net.issue(cred))
    assert verify(bundle, net.trust(), now=net.now + 59).ok
    report = verify(bundle, net.trust(), now=net.now + 60)
    assert failed_step(report) == (9, "validity") and report.status == "expired"


def test_not_yet_valid_credential_fails_at_validity(net, issued):
    _, bundle = issued
    report = verify(bundle, net.trust(), now=net.now - 1)
    assert failed_step(report) == (9, "validity") and report.status == "not-yet-valid"


# --- consistency ------------------------------------------------------------------------------


def _forked(net):
    """Two checkpoints of the same size with different roots, both genuinely signed and cosigned."""
    a_cred = net.credential(holder_name="A")
    a_index = net.issue(a_cred)
    bundle_a = net.bundle(a_cred, a_index)
    fork = LedgerFixture()  # same seed: same keys, same genesis
    fork.now = net.now
    b_cred = fork.credential(holder_name="B")
    b_index = fork.issue(b_cred)
    return bundle_a, fork.bundle(b_cred, b_index), fork


def test_a_fork_between_two_bundles_fails_at_consistency_with_both_checkpoints(net):
    bundle_a, bundle_b, _ = _forked(net)
    trust = net.trust()
    seen = CheckpointCache(trust)
    assert verify(bundle_a, trust, now=net.now, seen=seen).ok
    report = verify(bundle_b, trust, now=net.now, seen=seen)
    assert failed_step(report) == (5, "consistency") and report.status == "fork"
    evidence = report.first_failure.evidence
    assert evidence["old"] != evidence["new"] and evidence["old"].startswith(net.network)


def test_verify_consistency_of_raises_with_both_checkpoints(net):
    bundle_a, bundle_b, fork = _forked(net)
    a = parse_tlog_proof(json.loads(bundle_a)["receipt"]).checkpoint
    b = parse_tlog_proof(json.loads(bundle_b)["receipt"]).checkpoint
    with pytest.raises(InconsistencyError) as e:
        verify_consistency_of(a, b, [], trust=net.trust())
    assert e.value.old == a.decode() and e.value.new == b.decode()
    # A larger checkpoint of the fork does not extend A either, whatever proof is offered.
    fork.issue(fork.credential(holder_name="C"))
    c = fork.checkpoint()
    with pytest.raises(InconsistencyError):
        verify_consistency_of(a, c, fork.tree.consistency_proof(parse_checkpoint_size(a)), trust=net.trust())


def parse_checkpoint_size(note: bytes) -> int:
    return int(parse_note(note).text.split("\n")[1])


def test_consistent_checkpoints_pass(net):
    net.issue(net.credential())
    a, size_a = net.checkpoint(), net.tree.size
    net.issue(net.credential(holder_name="Второй"))
    verify_consistency_of(a, net.checkpoint(), net.tree.consistency_proof(size_a), trust=net.trust())


def test_an_online_checkpoint_that_does_not_extend_the_bundle_fails_at_consistency(net):
    bundle_a, _, fork = _forked(net)
    fork.issue(fork.credential(holder_name="C"))
    refresh = StatusRefresh(fork.checkpoint(), tuple(fork.tree.consistency_proof(net.tree.size)), ())
    report = verify(bundle_a, net.trust(), now=net.now, refresh=refresh)
    assert failed_step(report) == (5, "consistency") and "proof" in report.first_failure.evidence


# --- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"not json at all", "not valid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100 + b"]" * 100, "nested"),
        (b'{"format": "eduledger-bundle/v1", "format": "x"}', "twice"),
        (b'{"n": 9007199254740993}', "safe integer"),
        (b'{"n": -9007199254740993}', "safe integer"),
        (b'{"n": NaN}', "NaN"),
        (b'{"n": 1e999}', "double"),
        (b" " * (600 * 1024), "bytes"),
        (b"[]", "not a credential bundle"),
        (b'{"format": "eduledger-bundle/v1"}', "missing"),
    ],
)
def test_malformed_files_fail_at_well_formed(net, data, words):
    report = verify(data, net.trust(), now=net.now)
    assert failed_step(report) == (1, "well-formed") and words in report.first_failure.message
    assert all(s.status == "skipped" for s in report.steps[1:])


def test_truncated_bundle_fails_at_well_formed(net, issued):
    _, bundle = issued
    for cut in (1, len(bundle) // 3, len(bundle) // 2, len(bundle) - 2):
        assert failed_step(verify(bundle[:cut], net.trust(), now=net.now)) == (1, "well-formed")


def test_oversized_bundle_fails_at_well_formed(net, issued):
    _, bundle = issued
    big = edit(bundle, lambda d: d["credential"].__setitem__("description", "x" * (600 * 1024)))
    report = verify(big, net.trust(), now=net.now)
    assert failed_step(report) == (1, "well-formed") and "larger than the limit" in report.first_failure.message


def test_deeply_nested_credential_fails_at_well_formed(net, issued):
    _, bundle = issued
    deep: dict = {}
    for _ in range(40):
        deep = {"x": deep}
    bad = edit(bundle, lambda d: d["credential"].__setitem__("evidence", deep))
    assert failed_step(verify(bad, net.trust(), now=net.now)) == (1, "well-formed")


def test_duplicate_keys_inside_the_credential_fail_at_well_formed(net, issued):
    _, bundle = issued
    text = bundle.decode()
    dup = text.replace('"name": "Иванова Мария Петровна"', '"name": "Иванова Мария Петровна", "name": "Петров Пётр"', 1)
    assert dup != text
    assert failed_step(verify(dup.encode(), net.trust(), now=net.now)) == (1, "well-formed")


def test_bundle_fields_cannot_change_the_rules(net, issued):
    _, bundle = issued
    for key, value in (("quorum", 0), ("trust", {"log": "x"}), ("witnesses", [])):
        bad = edit(bundle, lambda d: d.__setitem__(key, value))
        report = verify(bad, net.trust(), now=net.now)
        assert failed_step(report) == (1, "well-formed") and "unknown bundle field" in report.first_failure.message


def test_report_to_json_names_every_step(net, issued):
    _, bundle = issued
    j = verify(bundle, net.trust(), now=net.now).to_json()
    assert j["ok"] and [s["name"] for s in j["steps"]] == [name for _, name, _ in STEPS]
    assert j["checkpoint"]["size"] == net.tree.size


def test_the_verifier_module_is_importable_by_name():
    assert verify_module.verify is verify


def test_bundle_format_sample_is_documented():
    doc = Path(__file__).resolve().parents[2] / "docs" / "formats.md"
    if doc.exists() and "## Credentials, bundles and trust files" in doc.read_text(encoding="utf-8"):
        assert "eduledger-bundle/v1" in doc.read_text(encoding="utf-8")
