"""``eduledger credential``, end to end: against a data directory (the node in-process) and a node process over HTTP.

Every bundle the commands export is checked with the real verifier CLI against the network's trust file.
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import httpx
import pytest

from ledger.cli.main import main
from ledger.node.datadir import init_network
from tests.fixtures_network import FIELDS, INSTITUTIONS, NETWORK
from tests.nodeproc import FAST_KDF, PASSPHRASE, NodeProcess

DIGEST = re.compile(r"issued ([0-9a-f]{64}) at ledger index (\d+)")
OLYMPIAD = ["--kind", "olympiad-diploma", "--holder", "Иванова Мария Петровна", "--title", "Диплом победителя"] + [
    a for k, v in FIELDS["olympiad-diploma"].items() for a in ("--field", f"{k}={v}")
]


@pytest.fixture
def net(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.chdir(tmp_path)  # --store defaults to ./issued
    data = tmp_path / "net"
    init_network(data, network=NETWORK, institutions=INSTITUTIONS, sequencer="olymp-1", quorum=2,
                 passphrase=PASSPHRASE.encode(), created=int(time.time()) - 60, kdf_params=FAST_KDF)
    return data


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def issued(out: str) -> tuple[str, int]:
    m = DIGEST.search(out)
    assert m, out
    return m.group(1), int(m.group(2))


def verify_report(capsys, bundle: Path, trust: Path) -> dict:
    code, out, _ = run(capsys, "verify", str(bundle), "--trust", str(trust), "--json")
    (report,) = json.loads(out)["files"]
    assert code == (0 if report["ok"] else 1)
    return report


def trust_file(capsys, data: Path) -> Path:
    assert run(capsys, "network", "export-trust", "--data-dir", str(data), "--out", "trust.json")[0] == 0
    return Path("trust.json")


def test_issue_then_export_gives_a_bundle_that_verifies(net, capsys):
    code, out, err = run(capsys, "credential", "issue", "--data-dir", str(net), "--institution", "olymp-1", *OLYMPIAD)
    assert code == 0, err
    digest, index = issued(out)
    assert index >= len(INSTITUTIONS)
    stored = json.loads((Path("issued") / f"{digest}.credential.json").read_text())
    assert stored["eduledgerExtension"]["kind"] == "olympiad-diploma" and stored["issuer"]["name"] == "Центр олимпиад"
    code, out, err = run(capsys, "credential", "export", digest, "--out", "diploma.bundle.json", "--data-dir", str(net))
    assert code == 0, err
    report = verify_report(capsys, Path("diploma.bundle.json"), trust_file(capsys, net))
    assert report["status"] == "verified" and report["digest"] == digest and report["index"] == index


def test_issue_with_the_holders_email_puts_only_its_salted_hash_in_and_verify_confirms_it(net, capsys):
    base = ["credential", "issue", "--data-dir", str(net), "--institution", "olymp-1", *OLYMPIAD]
    code, out, err = run(capsys, *base, "--holder-email", "Pupil.57@School.example")
    assert code == 0, err
    digest, _ = issued(out)
    text = (Path("issued") / f"{digest}.credential.json").read_text()
    assert "pupil.57" not in text.lower() and json.loads(text)["credentialSubject"]["identifier"][0]["identityType"] == "emailAddress"
    assert run(capsys, "credential", "export", digest, "--out", "d.bundle.json", "--data-dir", str(net))[0] == 0
    trust = trust_file(capsys, net)
    code, out, _ = run(capsys, "verify", "d.bundle.json", "--trust", str(trust), "--holder-email", "pupil.57@school.example")
    assert code == 0 and "issued to the person with this e-mail address" in out
    assert run(capsys, "verify", "d.bundle.json", "--trust", str(trust), "--holder-email", "pupil.58@school.example")[0] == 1
    code, _, err = run(capsys, *base, "--holder-email", "not-an-address")
    assert code == 1 and "e-mail" in err


def test_issue_from_a_spec_file_and_the_kinds_own_rules(net, capsys):
    spec = {"kind": "teacher-pd", "holder_name": "Смирнова Анна", "title": "Удостоверение о повышении квалификации", **FIELDS["teacher-pd"]}
    Path("spec.json").write_text(json.dumps(spec, ensure_ascii=False))
    code, out, err = run(capsys, "credential", "issue", "--file", "spec.json", "--data-dir", str(net), "--institution", "ipk-1")
    assert code == 0, err
    digest, _ = issued(out)
    assert json.loads((Path("issued") / f"{digest}.credential.json").read_text())["credentialSubject"]["activityStartDate"] == "2026-02-01T00:00:00Z"
    # A spec that breaks its kind's rules is refused (exit 1) with the field named, and nothing is anchored.
    Path("bad.json").write_text(json.dumps({**spec, "hours": 5000}, ensure_ascii=False))
    code, _, err = run(capsys, "credential", "issue", "--file", "bad.json", "--data-dir", str(net), "--institution", "ipk-1")
    assert code == 1 and err.startswith("eduledger: not issued: hours") and not err.rstrip().endswith(".")


def test_revoke_and_supersede_show_in_the_exported_bundles(net, capsys):
    base = ["--data-dir", str(net), "--institution", "olymp-1"]
    first, _ = issued(run(capsys, "credential", "issue", *base, *OLYMPIAD)[1])
    second, _ = issued(run(capsys, "credential", "issue", *base, *OLYMPIAD)[1])
    code, out, err = run(capsys, "credential", "revoke", first, "--reason", "issued-in-error", *base)
    assert code == 0 and f"revoked {first}" in out, err
    spec = {"kind": "olympiad-diploma", "holder_name": "Иванова Мария Петровна", "title": "Диплом победителя (исправлено)", **FIELDS["olympiad-diploma"]}
    Path("fixed.json").write_text(json.dumps(spec, ensure_ascii=False))
    code, out, err = run(capsys, "credential", "supersede", second, "--by", "fixed.json", *base)
    assert code == 0, err
    new, _ = issued(out)
    assert f"{second} superseded by it" in out
    trust = trust_file(capsys, net)
    reports = {}
    for d in (first, second, new):
        assert run(capsys, "credential", "export", d, "--out", f"{d}.json", "--data-dir", str(net))[0] == 0
        reports[d] = verify_report(capsys, Path(f"{d}.json"), trust)
    assert reports[first]["status"] == "revoked"
    assert reports[second]["status"] == "superseded" and reports[second]["superseded_by"] == new
    assert reports[new]["status"] == "verified"
    # The ledger refuses revoking what was never anchored: exit 1, with the ledger's reason.
    code, _, err = run(capsys, "credential", "revoke", "0" * 64, "--reason", "fraud", *base)
    assert code == 1 and err.startswith("eduledger: the ledger refused it:") and "not anchored" in err


def test_a_10000_row_csv_batch_issues_every_good_row_and_reports_each_bad_one(net, capsys, monkeypatch):
    bad = {18: "много", 4243: "0", 9001: None}  # row numbers (from 1): hours not a number, out of range, no holder name
    with open("cohort.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["holder_name", "title", "programme", "hours", "start", "end", "provider"])
        for n in range(1, 10_001):
            hours = bad.get(n, "72") or "72"
            w.writerow(["" if n == 9001 else f"Учитель {n}", "Удостоверение", "Цифровая дидактика", hours, "2026-02-01", "2026-02-20", "ИПК"])
    monkeypatch.setenv("EDULEDGER_PROGRESS", "1")
    started = time.monotonic()
    code, out, err = run(capsys, "credential", "batch", "cohort.csv", "--kind", "teacher-pd", "--data-dir", str(net),
                         "--institution", "ipk-1", "--report", "report.csv", "--store", "cohort")
    elapsed = time.monotonic() - started
    assert code == 1, err  # some rows refused: every one listed
    refused = re.findall(r"^row (\d+): refused: (.+)$", out, re.M)
    assert {int(n) for n, _ in refused} == set(bad)
    reasons = dict((int(n), r) for n, r in refused)
    assert "hours" in reasons[18] and "hours" in reasons[4243] and "holder name" in reasons[9001]
    assert "9997 of 10000 rows issued, 3 refused" in out
    assert "anchoring" in err and "9997/9997" in err  # the progress bar
    with open("report.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10_000 and [int(r["row"]) for r in rows] == list(range(1, 10_001))
    assert sum(r["status"] == "issued" for r in rows) == 9997
    assert len(list(Path("cohort").glob("*.credential.json"))) == 9997
    assert elapsed < 120
    # Any row's bundle verifies.
    last = rows[-1]
    assert run(capsys, "credential", "export", last["digest"], "--out", "last.json", "--data-dir", str(net), "--store", "cohort")[0] == 0
    assert verify_report(capsys, Path("last.json"), trust_file(capsys, net))["status"] == "verified"


def test_batch_check_issues_nothing(net, capsys):
    Path("rows.json").write_text(json.dumps([{"holder_name": "А Б", "title": "Грамота"}, {"title": "без имени"}], ensure_ascii=False))
    code, out, _ = run(capsys, "credential", "batch", "rows.json", "--kind", "generic", "--check", "--data-dir", str(net), "--institution", "olymp-1")
    assert code == 1 and "row 2: refused" in out and "1 would be issued, 1 refused" in out
    assert not Path("issued").exists()


def test_over_http_with_the_institutions_key_file(net, capsys, tmp_path):
    node = NodeProcess(net).start()
    try:
        remote = ["--url", node.url, "--key", str(net / "keys" / "ipk-1.signing.key")]  # the institution comes from the roster
        spec = {"kind": "teacher-pd", "holder_name": "Смирнова Анна", "title": "Удостоверение", **FIELDS["teacher-pd"]}
        Path("spec.json").write_text(json.dumps(spec, ensure_ascii=False))
        code, out, err = run(capsys, "credential", "issue", "--file", "spec.json", *remote)
        assert code == 0, err
        digest, _ = issued(out)
        rows = [{**spec, "holder_name": f"Учитель {n}"} for n in range(5)] + [{**spec, "end": "2026-01-01"}]
        Path("rows.json").write_text(json.dumps(rows, ensure_ascii=False))
        code, out, err = run(capsys, "credential", "batch", "rows.json", "--kind", "teacher-pd", *remote)
        assert code == 1 and "5 of 6 rows issued, 1 refused" in out and "row 6: refused" in out, err
        assert run(capsys, "credential", "revoke", digest, "--reason", "withdrawn", *remote)[0] == 0
        # export needs no key over HTTP: the bundle is public proof, asked for with the credential.
        code, _, err = run(capsys, "credential", "export", digest, "--out", "b.json", "--url", node.url)
        assert code == 0, err
        Path("trust.json").write_bytes(httpx.get(node.url + "/api/v1/trust").content)
        report = verify_report(capsys, Path("b.json"), Path("trust.json"))
        assert report["status"] == "revoked" and report["issuer"] == "Институт повышения квалификации"
        # A key the roster does not know: exit 2 with a hint.
        assert run(capsys, "keys", "generate", "x.example/k", "--out", str(tmp_path / "stranger.key"))[0] == 0
        code, _, err = run(capsys, "credential", "issue", "--file", "spec.json", "--url", node.url, "--key", str(tmp_path / "stranger.key"))
        assert code == 2 and "choose one with --institution" in err
    finally:
        node.stop()


def test_the_node_answers_a_bundle_request_for_an_unknown_credential_with_404(net, capsys):
    node = NodeProcess(net).start()
    try:
        Path("c.json").write_text(json.dumps({"credential": {"id": "x"}}))
        r = httpx.post(node.url + "/api/v1/credentials/bundle", content=Path("c.json").read_bytes(), headers={"content-type": "application/json"})
        assert r.status_code == 404 and r.json()["error"] == "notfound"
        r = httpx.post(node.url + "/api/v1/credentials/bundle", content=b"[" * 100_000, headers={"content-type": "application/json"})
        assert r.status_code == 400
    finally:
        node.stop()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["issue", "--kind", "space-flight", "--holder", "X", "--title", "Y"], "unknown kind 'space-flight'; use one of"),
        (["issue", "--kind", "generic", "--field", "novalue"], "--field must be NAME=VALUE"),
        (["issue", "--kind", "generic", "--holder", "X", "--title", "Y", "--url", "http://127.0.0.1:9"], "--url needs --key"),
        (["revoke", "0" * 64, "--reason", "boredom"], "unknown --reason 'boredom'"),
        (["export", "ab" * 32, "--out", "x.json"], "pass --store where"),
        (["batch", "missing.csv", "--kind", "generic"], "cannot read missing.csv"),
    ],
)
def test_usage_errors_exit_2_with_one_prefix_and_a_hint(net, capsys, argv, words):
    code, _, err = run(capsys, "credential", *argv, "--data-dir", str(net))
    assert code == 2
    assert err.startswith("eduledger: ") and words in err and err == err.rstrip() + "\n" and not err.rstrip().endswith(".")


def test_a_bundle_waits_for_a_final_checkpoint_then_asks_to_retry():
    from types import SimpleNamespace

    from ledger.errors import NotFoundError, PushbackError
    from ledger.model.issuance import final_bundle

    finals = iter([None, (3, b"not final enough")])  # first no final checkpoint, then one that does not cover entry 5
    node = SimpleNamespace(log=SimpleNamespace(size=10), store=SimpleNamespace(latest_final=lambda: next(finals, (3, b""))))
    clock = iter([0.0, 0.0, 0.5, 1.5])
    with pytest.raises(PushbackError) as e:
        final_bundle(node, {}, 5, wait_seconds=1.0, sleep=lambda s: None, monotonic=lambda: next(clock))
    assert e.value.retry_after == 1 and "entry 5" in str(e.value)
    with pytest.raises(NotFoundError):
        final_bundle(node, {}, 10)
