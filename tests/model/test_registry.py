"""Registry rules: who may append what, and key validity over time."""

from __future__ import annotations

import pytest

from ledger.errors import AuthorizationError, ConflictError, MalformedError
from ledger.model.entries import Statement, sign_batch
from ledger.model.genesis import Founder, Genesis
from ledger.model.registry import Registry
from ledger.tlog.encoding import b64e
from ledger.tlog.timefmt import format_time, parse_time
from tests.keyutil import RawSigner

NET = "edu.example/test"
T0 = parse_time("2026-01-01T00:00:00Z")


@pytest.fixture
def world():
    keys = {i: RawSigner() for i in ("olymp-1", "school-1")}
    g = Genesis(NET, T0, "log+00000000+AA", "olymp-1", 1, tuple(Founder(i, i, "school", k.public_key, f"w/{i}+0+AA") for i, k in keys.items()))
    r = Registry(NET, g.sequencer)
    for i, e in enumerate(g.entries()):
        r.apply_genesis(e, i, g.created)
    return r, keys


def stmt(kind, inst, **body):
    return Statement(NET, kind, inst, body)


def anchor(n, inst="school-1", at=T0 + 100):
    return stmt("credential.anchor", inst, digest=f"{n:064x}", type="diploma", issued_at=format_time(at))


def apply(r, signer, statement, now, index=100):
    (e,) = sign_batch([statement], signer)
    r.check(e, now)
    r.apply(e, index, now)
    return e


def test_anchor_then_revoke(world):
    r, k = world
    apply(r, k["school-1"], anchor(1), T0 + 200)
    assert r.status(f"{1:064x}") == "valid"
    apply(r, k["school-1"], stmt("credential.revoke", "school-1", digest=f"{1:064x}", reason="issued-in-error"), T0 + 300)
    assert r.status(f"{1:064x}") == "revoked"


def test_unregistered_institution_is_refused(world):
    r, _ = world
    with pytest.raises(AuthorizationError, match="not registered"):
        apply(r, RawSigner(), anchor(1, inst="nobody-1"), T0 + 200)


def test_key_of_another_institution_is_refused(world):
    r, k = world
    with pytest.raises(AuthorizationError, match="not a key of"):
        apply(r, k["olymp-1"], anchor(1), T0 + 200)


def test_revoking_someone_elses_credential_is_refused(world):
    r, k = world
    apply(r, k["school-1"], anchor(1), T0 + 200)
    with pytest.raises(AuthorizationError, match="issued by school-1"):
        apply(r, k["olymp-1"], stmt("credential.revoke", "olymp-1", digest=f"{1:064x}", reason="fraud"), T0 + 300)


def test_rotation_keeps_earlier_credentials_valid_and_refuses_the_old_key_after(world):
    r, k = world
    new = RawSigner()
    apply(r, k["school-1"], anchor(1, at=T0 + 100), T0 + 200)
    rot_at = T0 + 1000
    apply(r, k["school-1"], stmt("key.rotate", "school-1", old=b64e(k["school-1"].public_key), new=b64e(new.public_key), valid_from=format_time(rot_at)), T0 + 500)
    assert r.key_valid_at("school-1", k["school-1"].public_key, T0 + 100)  # earlier credential still checks
    assert not r.key_valid_at("school-1", k["school-1"].public_key, rot_at)
    with pytest.raises(AuthorizationError, match="not valid"):
        apply(r, k["school-1"], anchor(2, at=rot_at + 10), rot_at + 20)
    apply(r, new, anchor(3, at=rot_at + 10), rot_at + 20)


def test_backdated_key_revocation_invalidates_later_signatures(world):
    r, k = world
    apply(r, k["school-1"], stmt("key.revoke", "school-1", key=b64e(k["school-1"].public_key), valid_until=format_time(T0 + 50), reason="compromised"), T0 + 40)
    with pytest.raises(AuthorizationError):
        apply(r, k["school-1"], anchor(1, at=T0 + 60), T0 + 70)


def test_issue_time_before_key_validity_is_refused(world):
    r, k = world
    with pytest.raises(AuthorizationError, match="issue time"):
        apply(r, k["school-1"], anchor(1, at=T0 - 10), T0 + 10)


def test_future_issue_time_is_refused(world):
    r, k = world
    with pytest.raises(AuthorizationError, match="future"):
        apply(r, k["school-1"], anchor(1, at=T0 + 10_000), T0 + 10)


def test_double_anchor_and_double_revoke_conflict(world):
    r, k = world
    apply(r, k["school-1"], anchor(1), T0 + 200)
    other = stmt("credential.anchor", "school-1", digest=f"{1:064x}", type="other", issued_at=format_time(T0 + 150))
    with pytest.raises(ConflictError):
        apply(r, k["school-1"], other, T0 + 200)


def test_only_sequencer_registers_institutions(world):
    r, k = world
    body = dict(id="new-inst", name="New", type="school", signing_key=b64e(RawSigner().public_key), witness_vkey="w+0+AA")
    with pytest.raises(AuthorizationError, match="sequencing institution"):
        apply(r, k["school-1"], stmt("institution.register", "school-1", **body), T0 + 10)
    apply(r, k["olymp-1"], stmt("institution.register", "olymp-1", **body), T0 + 10)
    assert "new-inst" in r.institutions


def test_supersession_links_to_the_new_credential(world):
    r, k = world
    apply(r, k["school-1"], anchor(1), T0 + 200)
    apply(r, k["school-1"], anchor(2), T0 + 200)
    apply(r, k["school-1"], stmt("credential.supersede", "school-1", digest=f"{1:064x}", by=f"{2:064x}"), T0 + 300)
    assert r.status(f"{1:064x}") == "superseded" and r.supersessions[f"{1:064x}"].by == f"{2:064x}"


def test_check_does_not_change_state(world):
    r, k = world
    (e,) = sign_batch([anchor(1)], k["school-1"])
    r.check(e, T0 + 200)
    assert r.status(f"{1:064x}") == "unknown"


@pytest.mark.parametrize("quorum, ok", [(0, True), (1, True), (2, False)])
def test_the_genesis_quorum_counts_only_the_founders_besides_the_sequencer(quorum, ok):
    founders = tuple(Founder(i, i, "school", RawSigner().public_key, f"w/{i}+0+AA") for i in ("olymp-1", "school-1"))
    if ok:
        assert Genesis(NET, T0, "log+00000000+AA", "olymp-1", quorum, founders).quorum == quorum
    else:
        with pytest.raises(MalformedError, match="besides the sequencer"):
            Genesis(NET, T0, "log+00000000+AA", "olymp-1", quorum, founders)
