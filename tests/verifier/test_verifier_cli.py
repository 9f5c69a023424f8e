"""``eduledger verify`` and ``eduledger network export-trust``: exit codes, output, directories, PDFs, pools, --online."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from ledger.cli import main as ledger_cli
from ledger.tlog.timefmt import format_time
from tests.fixtures_network import LedgerFixture, MiniNetwork
from verifier import cli, online
from verifier.online import NodeClient


@pytest.fixture
def cohort(tmp_path: Path):
    """Ten bundles in a directory (one more in a subdirectory), the trust file, and the time to verify at."""
    net = LedgerFixture()
    creds = [net.credential(holder_name=f"Участник {i}") for i in range(11)]
    indices = net.issue_many(creds)
    note = net.checkpoint()
    d = tmp_path / "bundles"
    (d / "sub").mkdir(parents=True)
    for n, (c, i) in enumerate(zip(creds, indices)):
        (d / ("sub" if n == 10 else "") / f"{n:02d}.json").write_bytes(net.bundle(c, i, note=note))
    (d / "notes.txt").write_text("not a bundle, not walked")
    trust = tmp_path / "trust.json"
    trust.write_bytes(net.trust().to_bytes())
    return net, d, trust, format_time(net.now)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_directory_of_good_bundles_exits_0_with_one_line_each(cohort, capsys):
    _, d, trust, at = cohort
    code, out, _ = run(capsys, str(d), "--trust", str(trust), "--at", at)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 12 and lines[-1] == "11 of 11 verified"
    assert all(": verified (" in line for line in lines[:-1]) and "sub/10.json" in out


def test_any_failure_exits_1_with_the_first_failed_steps_reason(cohort, capsys):
    _, d, trust, at = cohort
    (d / "broken.json").write_bytes((d / "00.json").read_bytes()[:-40])
    doc = json.loads((d / "01.json").read_bytes())
    doc["credential"]["credentialSubject"]["name"] = "Кто-то другой"
    (d / "altered.json").write_text(json.dumps(doc, ensure_ascii=False))
    code, out, _ = run(capsys, str(d), "--trust", str(trust), "--at", at)
    assert code == 1 and out.strip().endswith("11 of 13 verified")
    assert "broken.json: FAILED at step 1 (well-formed): the file is not a well-formed credential bundle" in out
    assert "altered.json: FAILED at step 2 (digest): the credential was altered" in out


def test_json_prints_every_report(cohort, capsys):
    _, d, trust, at = cohort
    code, out, _ = run(capsys, str(d / "00.json"), "--trust", str(trust), "--json", "--at", at)
    j = json.loads(out)
    assert code == 0 and j["ok"] and j["verified"] == 1 and j["failed"] == 0
    f = j["files"][0]
    assert f["file"].endswith("00.json") and f["status"] == "verified" and len(f["steps"]) == 9


def test_expiry_depends_on_the_time_of_verification(cohort, capsys):
    net, d, trust, _ = cohort
    code, out, _ = run(capsys, str(d / "00.json"), "--trust", str(trust), "--at", format_time(net.now - 3600))
    assert code == 1 and "NOT-YET-VALID at step 9 (validity)" in out


@pytest.mark.parametrize("make_args, words", [
    (lambda d, t: [str(d), "--trust", str(t.parent / "missing.json")], "cannot read the trust file"),
    (lambda d, t: [str(d), "--trust", str(t.parent)], "cannot read the trust file"),
    (lambda d, t: [str(d), "--trust", str(d / "00.json")], "not a usable trust file"),
    (lambda d, t: [str(d / "nope.json"), "--trust", str(t)], "no such file or directory"),
    (lambda d, t: [str(d / "sub" / "empty"), "--trust", str(t)], "no such file"),
    (lambda d, t: [str(d), "--trust", str(t), "--at", "yesterday"], "--at"),
    (lambda d, t: [str(d), "--trust", str(t), "--workers", "-1"], "--workers"),
])  # fmt: skip
def test_usage_errors_exit_2(cohort, capsys, make_args, words):
    _, d, trust, _ = cohort
    code, _, err = run(capsys, *make_args(d, trust))
    assert code == 2 and words in err and err.startswith("eduledger: ")


def test_flag_and_argument_errors_exit_2(cohort, capsys):
    _, d, trust, _ = cohort
    assert run(capsys, str(d), "--trust", str(trust), "--bogus")[0] == 2
    assert run(capsys, str(d))[0] == 2  # --trust is required
    empty = d / "empty"
    empty.mkdir()
    code, _, err = run(capsys, str(empty), "--trust", str(trust))
    assert code == 2 and "no bundle files" in err


def test_mounted_under_eduledger(cohort, capsys):
    _, d, trust, at = cohort
    assert ledger_cli.main(["verify", str(d / "00.json"), "--trust", str(trust), "--at", at]) == 0
    assert ledger_cli.main(["verify", str(d / "00.json"), "--trust", str(trust.parent / "nope")]) == 2
    assert ledger_cli.main(["verify", str(d / "notes.txt"), "--trust", str(trust), "--at", at]) == 1
    capsys.readouterr()


def test_a_diploma_pdf_is_verified_through_its_embedded_bundle(cohort, capsys, tmp_path):
    from pypdf import PdfWriter

    from verifier.pdf import ATTACHMENT_NAME

    _, d, trust, at = cohort
    w = PdfWriter()
    w.add_blank_page(200, 200)
    w.add_attachment(ATTACHMENT_NAME, (d / "00.json").read_bytes())
    buf = io.BytesIO()
    w.write(buf)
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    (pdfs / "diploma.pdf").write_bytes(buf.getvalue())
    (pdfs / "plain.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    code, out, _ = run(capsys, str(pdfs), "--trust", str(trust), "--at", at)
    assert code == 1 and "diploma.pdf: verified" in out and "plain.pdf: FAILED at step 1" in out


def test_many_files_go_through_a_process_pool(cohort, capsys, monkeypatch):
    _, d, trust, at = cohort
    monkeypatch.setattr(cli, "PARALLEL_THRESHOLD", 5)
    code, out, _ = run(capsys, str(d), "--trust", str(trust), "--at", at, "--workers", "2", "--json")
    j = json.loads(out)
    assert code == 0 and j["verified"] == 11 and [f["file"] for f in j["files"]] == sorted(f["file"] for f in j["files"])


def test_a_fork_seen_by_two_pool_workers_is_rechecked_in_one_process(tmp_path):
    net = LedgerFixture()
    a = net.credential(holder_name="A")
    bundle_a = net.bundle(a, net.issue(a))
    fork = LedgerFixture()
    fork.now = net.now
    b = fork.credential(holder_name="B")
    bundle_b = fork.bundle(b, fork.issue(b))
    (tmp_path / "a.json").write_bytes(bundle_a)
    (tmp_path / "b.json").write_bytes(bundle_b)
    trust = net.trust()
    paths = [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    # As if two workers each verified one file with its own cache: both pass alone.
    alone = [cli.outcome(p, cli.verify_path(p, trust, net.now, cli.CheckpointCache(trust)), True) for p in paths]
    assert all(o.ok for o in alone)
    rechecked = cli._recheck_forks(paths, alone, trust, net.now, True)
    assert rechecked[0].ok and rechecked[1].shown["status"] == "fork" and rechecked[1].shown["file"] == paths[1]
    lines = cli._recheck_forks(paths, [cli.outcome(p, cli.verify_path(p, trust, net.now, cli.CheckpointCache(trust)), False) for p in paths], trust, net.now, False)
    assert lines[1].shown.startswith(f"{paths[1]}: FORK at step 5 (consistency)")


def test_progress_is_shown_for_many_files(cohort, capsys, monkeypatch):
    _, d, trust, at = cohort
    monkeypatch.setenv("EDULEDGER_PROGRESS", "1")
    code, _, err = run(capsys, str(d), "--trust", str(trust), "--at", at)
    assert code == 0 and "verifying" in err


# --- export-trust -------------------------------------------------------------------------


def test_export_trust_writes_the_networks_trust_file(tmp_path, capsys):
    from ledger.node import Node
    from ledger.node.datadir import load_keys
    from ledger.storage import open_store
    from tests.nodeproc import PASSPHRASE

    n = MiniNetwork(tmp_path)  # a data directory with a genesis file
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert ledger_cli.main(["network", "export-trust", "--data-dir", str(n.data), "--database-url", url]) == 2  # empty ledger
    node = Node(open_store(url), n.genesis, load_keys(n.data, PASSPHRASE.encode()))
    node.log.open()
    node.store.close()
    out = tmp_path / "trust.json"
    assert ledger_cli.main(["network", "export-trust", "--data-dir", str(n.data), "--database-url", url, "--out", str(out)]) == 0
    j = json.loads(out.read_text())
    assert j["format"] == "eduledger-trust/v1" and j["network"] == n.genesis.network and j["quorum"] == 2
    assert sorted(j["witnesses"]) == ["ipk-1", "olymp-1", "uni-1"] and j["roster_size"] == 3
    assert j["genesis_hash"] == n.genesis.hash().hex()
    capsys.readouterr()


# --- online ---------------------------------------------------------------------------------


def test_online_refresh_finds_a_revocation_made_after_the_bundle(tmp_path):
    from fastapi.testclient import TestClient

    from portfolio_api.app import create_app
    from portfolio_api.settings import Settings
    from verifier import verify

    n = MiniNetwork(tmp_path)
    cred = n.credential()
    bundle = n.bundle(cred, n.issue(cred))
    n.issue(n.credential(holder_name="Другой"))
    n.revoke(cred, reason="withdrawn")
    trust = n.trust()
    now = int(n.clock())
    assert verify(bundle, trust, now=now).ok  # offline: the bundle predates the revocation
    with TestClient(create_app(Settings(data_dir=n.data), node=n.node)) as http:
        client = NodeClient("http://testserver", client=http)
        first = verify(bundle, trust, now=now)
        refresh = client.refresh(first.digest, first.checkpoint_size)
        assert refresh.error is None and refresh.consistency and len(refresh.entries) == 1
        report = verify(bundle, trust, now=now, refresh=refresh)
    assert report.status == "revoked" and report.first_failure.number == 8
    assert report.step("consistency").status == "passed"


def test_online_network_failure_exits_2_and_the_file_is_not_verified(cohort, capsys, monkeypatch):
    _, d, trust, at = cohort

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    real = httpx.Client
    monkeypatch.setattr(online.httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(refuse), **kw))
    code, out, err = run(capsys, str(d / "00.json"), "--trust", str(trust), "--at", at, "--online", "http://node.invalid")
    assert code == 2 and "INCOMPLETE" in out and ": verified" not in out
    assert err.startswith("eduledger: cannot reach the node http://node.invalid")


def test_online_client_reports_http_errors_and_garbage_by_kind():
    def client(answer: httpx.Response) -> NodeClient:
        return NodeClient("http://node", client=httpx.Client(transport=httpx.MockTransport(lambda r: answer)))

    busy = client(httpx.Response(503, text="busy")).refresh("0" * 64, 10)
    assert busy.problem == "unavailable" and "HTTP 503" in busy.error
    garbage = client(httpx.Response(200, text="not a note")).refresh("0" * 64, 10)
    assert garbage.problem == "unavailable" and "not a checkpoint" in garbage.error


def test_a_directory_is_verified_in_path_order_by_components(tmp_path, capsys):
    """Nested directories come in the order of their path components (as pathlib sorts them):
    a/b/c.json before a/b-c/x.json, although "/" sorts after "-" as a character."""
    net = LedgerFixture()
    cred = net.credential(holder_name="A")
    bundle = net.bundle(cred, net.issue(cred))
    for rel in ("a/b-c/x.json", "a/b/c.json", "a/a.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(bundle)
    assert cli.collect_paths([tmp_path / "a"]) == [str(tmp_path / r) for r in ("a/a.json", "a/b/c.json", "a/b-c/x.json")]
