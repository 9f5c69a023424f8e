"""Offline verification sees a revocation made after the bundle, through the status lists in the trust file.

A real network (``eduledger network init``), credentials issued, exported, revoked and the trust file exported
with the CLI, then ``eduledger verify`` offline; and through the e-portfolio, whose ``GET /api/v1/trust``
writes the same trust file (``TrustPolicy.export``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.errors import MalformedError
from ledger.model import statuslist
from ledger.tlog.timefmt import format_time, parse_time
from portfolio_api.services.credentials import IssueRequest
from tests.cli.test_credential_cli import net, run  # noqa: F401 - net: the fixture (a network made by init_network)
from tests.fixtures_network import FIELDS
from tests.portfolio.helpers import env  # noqa: F401
from verifier.trust import MAX_STATUS_LISTS, TrustPolicy
from verifier.verify import verify

OLYMPIAD = ["--kind", "olympiad-diploma", "--holder", "Иванова Мария Петровна", "--title", "Диплом победителя"] + [
    a for k, v in FIELDS["olympiad-diploma"].items() for a in ("--field", f"{k}={v}")
]
DAY = 86400




def issue_and_export(capsys, data: Path, bundle: str) -> str:
    code, out, err = run(capsys, "credential", "issue", "--data-dir", str(data), "--institution", "olymp-1", *OLYMPIAD)
    assert code == 0, err
    digest = out.split("issued ", 1)[1].split()[0]
    assert run(capsys, "credential", "export", digest, "--out", bundle, "--data-dir", str(data))[0] == 0
    return digest


def export_trust(capsys, data: Path, out: str) -> Path:
    assert run(capsys, "network", "export-trust", "--data-dir", str(data), "--out", out)[0] == 0
    return Path(out)


def revoke(capsys, data: Path, digest: str) -> None:
    assert run(capsys, "credential", "revoke", digest, "--reason", "issued-in-error", "--data-dir", str(data), "--institution", "olymp-1")[0] == 0


def verify_json(capsys, bundle: str, trust: Path, *extra: str) -> tuple[int, dict, dict]:
    code, out, err = run(capsys, "verify", bundle, "--trust", str(trust), "--json", *extra)
    doc = json.loads(out)
    (report,) = doc["files"]
    return code, report, doc


def step8(report: dict) -> dict:
    return next(s for s in report["steps"] if s["name"] == "status")


@pytest.fixture
def revoked_later(net, capsys):
    """A bundle made before its credential was revoked, and trust files exported before and after the revocation."""
    digest = issue_and_export(capsys, net, "b.json")
    before = export_trust(capsys, net, "before.json")
    revoke(capsys, net, digest)
    after = export_trust(capsys, net, "after.json")
    return digest, before, after


# --- the revocation ---------------------------------------------------------------------


def test_a_revocation_after_the_bundle_fails_offline_with_a_trust_file_exported_after_it(revoked_later, capsys):
    _, _, after = revoked_later
    code, out, _ = run(capsys, "verify", "b.json", "--trust", str(after))
    as_of = format_time(TrustPolicy.from_bytes(after.read_bytes()).as_of)
    assert code == 1 and "REVOKED at step 8 (status): revoked after this bundle was made, according to the trust file of " + as_of in out
    code, report, doc = verify_json(capsys, "b.json", after)
    assert code == 1 and report["status"] == "revoked" and not report["ok"] and doc["exit_status"] == 1
    assert step8(report)["evidence"]["status_list"] == "olymp-1/0"
    assert doc["trust"]["status_lists"] >= 1 and doc["trust"]["as_of"] == as_of


def test_the_library_reports_revoked_from_the_trust_files_list(revoked_later):
    _, _, after = revoked_later
    trust = TrustPolicy.from_bytes(after.read_bytes())
    report = verify(Path("b.json").read_bytes(), trust, now=trust.as_of + 60)
    assert report.status == "revoked" and report.first_failure.name == "status" and "after this bundle was made" in report.first_failure.message


def test_a_trust_file_exported_before_the_revocation_verifies_with_its_list_checked(revoked_later, capsys):
    _, before, _ = revoked_later
    code, report, _ = verify_json(capsys, "b.json", before)
    assert code == 0 and report["status"] == "verified"
    assert step8(report)["status"] == "passed" and "nor in its status list in the trust file of" in step8(report)["message"]


def test_the_node_serves_the_same_trust_file_and_the_e_portfolio_bundle_turns_revoked(env, tmp_path):  # noqa: F811
    held = env.svc.credentials.issue(env.users["olymp"], IssueRequest("petr@example.org", "olympiad", "Призёр олимпиады", "2026-02-10"))
    bundle = env.svc.documents.bundle(held.id)
    before = env.client.get("/api/v1/trust")
    env.svc.credentials.revoke(env.users["olymp"], held.id, "issued-in-error")
    after = env.client.get("/api/v1/trust")
    assert before.status_code == after.status_code == 200
    served = env.client.get("/status/olymp/0").json()
    assert served in json.loads(after.content)["status_lists"]  # exactly as the node serves it
    for data, status in ((before.content, "verified"), (after.content, "revoked")):
        trust = TrustPolicy.from_bytes(data)
        assert verify(bundle, trust, now=trust.as_of + 60).status == status


# --- a trust file that cannot be believed --------------------------------------------------


def _tampered(after: Path, change) -> Path:
    doc = json.loads(after.read_text())
    change(doc["status_lists"][0])
    out = after.with_name("tampered.json")
    out.write_text(json.dumps(doc, ensure_ascii=False))
    return out


def test_a_list_whose_bits_were_cleared_is_refused_with_a_clear_error(revoked_later, capsys):
    _, _, after = revoked_later
    tampered = _tampered(after, lambda c: c["credentialSubject"].update(encodedList=statuslist.encode_bits(())))
    code, out, err = run(capsys, "verify", "b.json", "--trust", str(tampered))
    assert code == 2 and out == ""
    assert err.startswith(f"eduledger: {tampered} is not a usable trust file: status list olymp-1/0: ") and "export it again" in err
    assert "Traceback" not in err
    # The library, given the policy anyway, fails step 8 without calling it a revocation.
    trust = TrustPolicy.from_bytes(tampered.read_bytes())
    report = verify(Path("b.json").read_bytes(), trust, now=trust.as_of + 60)
    assert report.status == "failed" and report.first_failure.name == "status" and "cannot be trusted" in report.first_failure.message


def test_a_list_signed_with_a_key_the_roster_does_not_give_its_institution_is_refused(revoked_later, capsys):
    _, _, after = revoked_later
    trust = TrustPolicy.from_bytes(after.read_bytes())
    other = json.loads(after.read_text())["institutions"]
    ipk_key = next(i for i in other if i["id"] == "ipk-1")["keys"][0]["key"]
    from ledger.tlog.encoding import b64d
    from verifier.dataintegrity import multikey

    def swap_key(c):
        method = c["proof"][0]["verificationMethod"]
        c["proof"][0]["verificationMethod"] = method.split("#")[0] + "#" + multikey(b64d(ipk_key, "key", size=32))

    tampered = _tampered(after, swap_key)
    code, _, err = run(capsys, "verify", "b.json", "--trust", str(tampered))
    assert code == 2 and "was not a signing key of olymp-1" in err
    assert trust.status_list_bits("olymp-1", 0)  # the original verifies


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda c: c.update(extra="x"), "not a status list credential as nodes serve it"),
        (lambda c: c["credentialSubject"].update(encodedList="u" + "A" * (statuslist.MAX_ENCODED + 1)), "at most 12000 characters"),
        (lambda c: c.update(id=c["id"] + "x"), "/status/<institution>/<list>"),
        (lambda c: c.update(proof=[]), "exactly one proof"),
        (lambda c: c.update(validFrom=5), "validFrom"),
    ],
)
def test_a_malformed_list_makes_the_trust_file_unusable(revoked_later, capsys, change, words):
    _, _, after = revoked_later
    tampered = _tampered(after, change)
    with pytest.raises(MalformedError) as e:
        TrustPolicy.from_bytes(tampered.read_bytes())
    assert words in str(e.value)
    code, _, err = run(capsys, "verify", "b.json", "--trust", str(tampered))
    assert code == 2 and "is not a usable trust file" in err and "Traceback" not in err


def test_the_number_of_lists_is_bounded_before_any_is_parsed(revoked_later):
    _, _, after = revoked_later
    doc = json.loads(after.read_text())
    doc["status_lists"] = [{}] * (MAX_STATUS_LISTS + 1)
    with pytest.raises(MalformedError, match=f"more than the {MAX_STATUS_LISTS}"):
        TrustPolicy.from_bytes(json.dumps(doc).encode())
    doc["status_lists"] = [json.loads(after.read_text())["status_lists"][0]] * 2
    with pytest.raises(MalformedError, match="listed twice"):
        TrustPolicy.from_bytes(json.dumps(doc).encode())


# --- how old the trust file is ---------------------------------------------------------------


def test_a_trust_file_older_than_the_bundle_passes_with_a_warning_in_text_and_json(net, capsys):
    issue_and_export(capsys, net, "first.json")  # a ledger with blocks, and list olymp-1/0 published
    early = export_trust(capsys, net, "early.json")
    issue_and_export(capsys, net, "b.json")
    code, out, _ = run(capsys, "verify", "b.json", "--trust", str(early))
    assert code == 0 and ": verified (" in out and "warning at step 8 (status): " in out and "is older than this bundle" in out
    code, report, doc = verify_json(capsys, "b.json", early)
    assert code == 0 and report["ok"] and report["status"] == "verified" and doc["exit_status"] == 0
    s = step8(report)
    assert s["status"] == "warning" and "is older than this bundle" in s["message"] and s["evidence"]["trust_older_than_bundle"] is True


def test_an_old_trust_file_passes_with_a_warning_and_max_trust_age_sets_how_old(revoked_later, capsys):
    _, before, _ = revoked_later
    as_of = TrustPolicy.from_bytes(before.read_bytes()).as_of
    later = format_time(as_of + 40 * DAY)
    code, out, _ = run(capsys, "verify", "b.json", "--trust", str(before), "--at", later)
    assert code == 0 and ": verified (" in out and "is 40 days old" in out and "warning at step 8 (status)" in out
    code, report, _ = verify_json(capsys, "b.json", before, "--at", later)
    assert code == 0 and report["ok"] and step8(report)["status"] == "warning" and step8(report)["evidence"]["trust_age_days"] == 40
    code, report, _ = verify_json(capsys, "b.json", before, "--at", later, "--max-trust-age", "60")
    assert code == 0 and step8(report)["status"] == "passed"
    code, report, _ = verify_json(capsys, "b.json", before, "--at", later, "--max-trust-age", "0")
    assert code == 0 and step8(report)["status"] == "passed"
    assert run(capsys, "verify", "b.json", "--trust", str(before), "--max-trust-age", "-1")[0] == 2
    # The library takes seconds.
    trust = TrustPolicy.from_bytes(before.read_bytes())
    assert verify(Path("b.json").read_bytes(), trust, now=parse_time(later), max_trust_age=50 * DAY).step("status").status == "passed"
    assert verify(Path("b.json").read_bytes(), trust, now=parse_time(later)).step("status").status == "warning"


# --- trust files exported before status lists ------------------------------------------------


def test_a_trust_file_without_status_lists_still_loads_and_verifies_from_the_bundle(revoked_later, capsys):
    _, _, after = revoked_later
    doc = json.loads(after.read_text())
    del doc["status_lists"]
    old = Path("old-format.json")
    old.write_text(json.dumps(doc, ensure_ascii=False))
    trust = TrustPolicy.from_bytes(old.read_bytes())
    assert trust.status_lists is None and trust.status_list_bits("olymp-1", 0) is None
    assert "status_lists" not in json.loads(trust.to_bytes())
    code, report, doc = verify_json(capsys, "b.json", old)
    assert code == 0 and report["status"] == "verified" and doc["trust"]["status_lists"] is None
