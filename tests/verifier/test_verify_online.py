"""``eduledger verify --online URL`` over real HTTP: every outcome of the node's check is a pass (exit 0),
a failure at the step it concerns (exit 1) or an environment error (exit 2), never a warning that passes.

Nodes are real (a MiniNetwork node served by uvicorn on 127.0.0.1) where a real node can be put in the
state under test: current, revoked after the bundle, forked, halted by a fork alert. A node that refuses,
garbles, lags or halts outright is a small ``http.server`` on 127.0.0.1 answering as such a node would,
with real checkpoints of the network where it serves any.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from ledger.model.entries import Statement, sign_batch
from ledger.model.receipts import Receipt
from ledger.node import Node
from ledger.storage import open_store
from ledger.tlog.canonical import canonical_digest
from ledger.tlog.encoding import b64e
from ledger.tlog.timefmt import format_time
from tests.fixtures_network import MiniNetwork
from tests.nodeproc import free_port
from verifier import cli

HALT_DETAIL = "this node stopped serving log data because it has seen a fork of the log (test); see 'eduledger network status'"


# --- nodes ------------------------------------------------------------------------------------


@contextmanager
def served(node: Node, data_dir: Path) -> Iterator[str]:
    """A real node's HTTP API (portfolio_api, node routes only) on a free port of 127.0.0.1."""
    import uvicorn

    from portfolio_api.app import create_app
    from portfolio_api.settings import Settings

    app = create_app(Settings(data_dir=data_dir, portfolio=False), node=node)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the node did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


Answer = tuple[int, Any]  # (HTTP status, body: bytes as they are, anything else as JSON)


@contextmanager
def fake_node(answer: Callable[[str, dict[str, str]], Answer]) -> Iterator[str]:
    """A tiny HTTP server on 127.0.0.1: ``answer(path, query)`` decides every GET."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            query = dict(p.split("=", 1) for p in url.query.split("&") if "=" in p)
            status, body = answer(url.path, query)
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(body, bytes) else "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def valid_status(path: str, query: dict[str, str]) -> Answer | None:
    """What a node answers about a credential nobody revoked."""
    if path.startswith("/api/v1/ledger/credentials/"):
        digest = path.rsplit("/", 1)[1]
        return 200, {"digest": digest, "status": "valid", "anchor_index": None, "revocation_index": None, "supersession_index": None, "superseded_by": None}
    return None


def fork_of(n: MiniNetwork) -> Node:
    """A second node on the same genesis and keys with a store of its own: whatever it appends is
    signed by the same log key and cosigned by the same witnesses, but is another tree."""
    node = Node(open_store("memory://"), n.genesis, n.keys, clock=n.clock)
    node.log.open()
    return node


def anchor_on(node: Node, n: MiniNetwork, cred: dict) -> None:
    """MiniNetwork.issue, on another node of the same keys: anchor, sign the checkpoint, cosign it."""
    body = {"digest": canonical_digest(cred).hex(), "type": "olympiad-diploma", "issued_at": cred["validFrom"]}
    (result,), _ = node.log.append(sign_batch([Statement(n.genesis.network, "credential.anchor", "olymp-1", body)], n.keys.signing["olymp-1"]))
    assert isinstance(result, Receipt), result
    node.log.sign_checkpoint()
    node.log.collect_cosignatures()


# --- the network and the command -----------------------------------------------------------------


@pytest.fixture
def net(tmp_path: Path) -> MiniNetwork:
    return MiniNetwork(tmp_path)


@pytest.fixture
def issued(net: MiniNetwork, tmp_path: Path):
    """A credential, its bundle on disk (checkpoint of the log as it was), the trust file, the time."""
    cred = net.credential()
    bundle = tmp_path / "diploma.json"
    bundle.write_bytes(net.bundle(cred, net.issue(cred)))
    trust = tmp_path / "trust.json"
    trust.write_bytes(net.trust().to_bytes())
    return cred, bundle, trust


def verify_online(capsys, files: list[Path], trust: Path, url: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    """``eduledger verify FILES --trust TRUST --online URL --json``: (exit status, the JSON, stderr)."""
    code = cli.main([*map(str, files), "--trust", str(trust), "--json", "--online", url, "--at", format_time(int(time.time()) + 60), *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def bundle_size(bundle: Path) -> int:
    receipt = json.loads(bundle.read_bytes())["receipt"]
    return int(receipt.split("\n\n", 1)[1].split("\n")[1])


# --- 0: a node that proves the bundle's checkpoint is in its log --------------------------------------


def test_a_current_node_that_extends_the_bundle_passes_with_exit_0(net, issued, capsys, tmp_path):
    _, bundle, trust = issued
    net.issue(net.credential(holder_name="Другой"))  # the node is ahead of the bundle
    with served(net.node, net.data) as url:
        code, out, err = verify_online(capsys, [bundle], trust, url)
    (report,) = out["files"]
    assert code == 0 and out["ok"] and out["exit_status"] == 0 and err == ""
    assert report["ok"] and report["status"] == "verified"
    assert report["online"] == {
        "node": url,
        "status": "passed",
        "code": "consistent",
        "message": f"the node's newest checkpoint (log size {net.log.size}) extends the bundle's",
    }
    assert [s["status"] for s in report["steps"]] == ["passed"] * 9


# --- 1: failures, at the step they concern ------------------------------------------------------------


def test_a_revocation_learned_from_the_node_fails_at_status_with_exit_1(net, issued, capsys):
    cred, bundle, trust = issued
    net.revoke(cred, reason="withdrawn")
    with served(net.node, net.data) as url:
        code, out, _ = verify_online(capsys, [bundle], trust, url)
    (report,) = out["files"]
    assert code == 1 and not out["ok"] and out["failed"] == 1 and out["exit_status"] == 1
    assert report["status"] == "revoked" and report["steps"][7]["status"] == "failed" and "withdrawn" in report["steps"][7]["message"]
    assert report["online"]["status"] == "passed" and report["online"]["code"] == "consistent"


def test_a_supersession_learned_from_the_node_fails_at_status_in_plain_output_too(net, issued, capsys):
    cred, bundle, trust = issued
    new = net.credential(title="Исправленный диплом")
    net.issue(new)
    net.supersede(cred, new)
    with served(net.node, net.data) as url:
        code = cli.main([str(bundle), "--trust", str(trust), "--online", url])
    out, _ = capsys.readouterr()
    assert code == 1 and "SUPERSEDED at step 8 (status): superseded in ledger entry" in out


def test_a_fork_proven_by_the_nodes_own_proof_fails_at_consistency_with_the_evidence(net, issued, capsys):
    _, bundle, trust = issued
    fork = fork_of(net)
    size = bundle_size(bundle)
    while fork.log.size < size + 2:  # another tree, larger than the bundle's
        anchor_on(fork, net, net.credential(holder_name=f"Другая ветка {fork.log.size}"))
    fork_note, fork_root = fork.final_checkpoint(), fork.log.tree.root(size)
    with served(fork, net.data) as url:  # (stopping the node closes its store)
        code, out, err = verify_online(capsys, [bundle], trust, url)
    (report,) = out["files"]
    consistency = report["steps"][4]
    assert code == 1 and err == "" and report["status"] == "fork" and report["online"]["code"] == "fork"
    assert consistency["status"] == "failed" and consistency["message"].startswith("fork: ") and "the log has forked" in consistency["message"]
    evidence = consistency["evidence"]
    assert evidence["old"] == json.loads(bundle.read_bytes())["receipt"].split("\n\n", 1)[1]
    assert evidence["new"] == fork_note.decode()
    assert evidence["proof"][0] == b64e(fork_root) != report["checkpoint"]["root"]  # the fork's root at the bundle's size, then the proof


def test_a_consistency_proof_the_node_refuses_fails_at_consistency_with_exit_1(net, issued, capsys):
    _, bundle, trust = issued
    net.issue(net.credential(holder_name="Другой"))
    note = net.node.final_checkpoint()

    def answer(path: str, query: dict[str, str]) -> Answer:
        if path == "/checkpoint":
            return 200, note
        if path == "/api/v1/ledger/proof/consistency":
            return 404, {"error": "notfound", "detail": "no tree of that size here"}
        return valid_status(path, query) or (404, {"error": "notfound", "detail": path})

    with fake_node(answer) as url:
        code, out, err = verify_online(capsys, [bundle], trust, url)
    (report,) = out["files"]
    consistency = report["steps"][4]
    assert code == 1 and err == "" and report["status"] == "failed" and report["online"]["code"] == "refused"
    assert consistency["status"] == "failed" and f"the node {url} did not prove that its newest checkpoint" in consistency["message"]
    assert "HTTP 404" in consistency["message"] and "no tree of that size here" in consistency["message"]


def test_a_consistency_proof_that_does_not_verify_fails_but_is_not_called_a_fork(net, issued, capsys):
    _, bundle, trust = issued
    net.issue(net.credential(holder_name="Другой"))
    net.issue(net.credential(holder_name="Третий"))
    note, size = net.node.final_checkpoint(), bundle_size(bundle)
    real = net.log.consistency_proof(size, net.log.size)

    def answer(path: str, query: dict[str, str]) -> Answer:
        if path == "/checkpoint":
            return 200, note
        if path == "/api/v1/ledger/proof/consistency":  # another old root, and a proof of hashes that lead nowhere
            return 200, {"old_root": b64e(b"\x01" * 32), "proof": [b64e(b"\x02" * 32) for _ in real]}
        return valid_status(path, query) or (404, {"error": "notfound", "detail": path})

    with fake_node(answer) as url:
        code, out, _ = verify_online(capsys, [bundle], trust, url)
    (report,) = out["files"]
    consistency = report["steps"][4]
    assert code == 1 and report["status"] == "failed" and report["online"]["code"] == "invalid-proof"
    assert consistency["status"] == "failed" and "does not verify against its own signed checkpoint" in consistency["message"]
    assert not consistency["message"].startswith("fork")


def test_a_node_checkpoint_the_trust_file_does_not_vouch_for_fails_at_consistency(net, issued, capsys, tmp_path):
    _, bundle, trust = issued
    stranger = MiniNetwork(tmp_path / "other")  # another network: other keys
    stranger.issue(stranger.credential())
    stranger.issue(stranger.credential(holder_name="Другой"))
    note = stranger.node.final_checkpoint()

    def answer(path: str, query: dict[str, str]) -> Answer:
        if path == "/checkpoint":
            return 200, note
        return valid_status(path, query) or (404, {"error": "notfound", "detail": path})

    with fake_node(answer) as url:
        code, out, _ = verify_online(capsys, [bundle], trust, url)
    (report,) = out["files"]
    assert code == 1 and report["online"]["code"] == "invalid-checkpoint" and report["steps"][4]["status"] == "failed"
    assert "is not one the trust file vouches for" in report["steps"][4]["message"]


# --- 2: environment errors -------------------------------------------------------------------------


def test_an_unreachable_node_exits_2_naming_the_node_and_what_to_do(issued, capsys):
    _, bundle, trust = issued
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code, out, err = verify_online(capsys, [bundle], trust, url)
    (report,) = out["files"]
    assert code == 2 and not out["ok"] and out["exit_status"] == 2 and out["incomplete"] == 1 and out["failed"] == 0
    assert not report["ok"] and report["status"] == "incomplete" and report["online"]["status"] == "error"
    assert report["online"]["code"] == "unreachable" and all(s["status"] != "failed" for s in report["steps"])
    (line,) = err.splitlines()
    assert line.startswith(f"eduledger: cannot reach the node {url} (") and line.endswith("check the URL and the network, or verify offline without --online")


def test_an_unreachable_node_is_not_verified_in_plain_output_either(issued, capsys):
    _, bundle, trust = issued
    code = cli.main([str(bundle), "--trust", str(trust), "--online", f"http://127.0.0.1:{free_port()}"])
    out, err = capsys.readouterr()
    assert code == 2 and f"{bundle}: INCOMPLETE: no step failed" in out and ": verified" not in out
    assert err.startswith("eduledger: cannot reach the node")


def test_a_halted_node_exits_2_with_its_reason(issued, capsys):
    _, bundle, trust = issued
    with fake_node(lambda path, query: (503, {"error": "halted", "detail": HALT_DETAIL})) as url:
        code, out, err = verify_online(capsys, [bundle], trust, url)
    (report,) = out["files"]
    assert code == 2 and report["status"] == "incomplete" and report["online"]["code"] == "halted"
    assert err == f"eduledger: the node {url} has halted: {HALT_DETAIL}: ask its operator, or verify against another node of the network\n"


def test_a_real_node_halted_by_its_fork_alert_exits_2_when_asked_for_log_data(net, issued, capsys):
    cred, bundle, trust = issued
    net.revoke(cred)  # so the status read needs an entry, which a halted node does not serve
    net.node.record_fork("test: two trees of one size", "a", "b")
    with served(net.node, net.data) as url:
        code, out, err = verify_online(capsys, [bundle], trust, url)
    (report,) = out["files"]
    assert code == 2 and report["online"]["code"] == "halted" and "it has seen a fork of the log (test: two trees of one size)" in err
    assert report["status"] == "incomplete" and report["steps"][4]["status"] == "passed"  # its checkpoint and proof did check


def test_a_lagging_node_exits_2_and_asks_for_nothing_it_cannot_prove(net, tmp_path, capsys):
    net.issue(net.credential(holder_name="Первый"))
    old_note = net.node.final_checkpoint()  # the node will serve this, older than the bundle's
    cred = net.credential()
    bundle = tmp_path / "diploma.json"
    bundle.write_bytes(net.bundle(cred, net.issue(cred)))
    trust = tmp_path / "trust.json"
    trust.write_bytes(net.trust().to_bytes())
    asked: list[str] = []

    def answer(path: str, query: dict[str, str]) -> Answer:
        asked.append(path)
        return (200, old_note) if path == "/checkpoint" else (404, {"error": "notfound", "detail": path})

    with fake_node(answer) as url:
        code, out, err = verify_online(capsys, [bundle], trust, url)
    (report,) = out["files"]
    assert code == 2 and report["online"]["code"] == "lagging" and report["status"] == "incomplete" and asked == ["/checkpoint"]
    assert err.startswith(f"eduledger: the node {url} is behind this bundle: its newest checkpoint is of log size ")
    assert err.rstrip().endswith("try again once it has caught up, or verify against another node of the network")


def test_a_node_error_is_one_line_for_a_cohort_and_a_failed_file_still_exits_1(net, issued, capsys, tmp_path):
    cred, bundle, trust = issued
    doc = json.loads(bundle.read_bytes())
    doc["credential"]["credentialSubject"]["name"] = "Кто-то другой"
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(doc, ensure_ascii=False))
    copy = tmp_path / "copy.json"
    copy.write_bytes(bundle.read_bytes())
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = verify_online(capsys, [bundle, copy], trust, url)
    assert code == 2 and out["incomplete"] == 2 and len(err.splitlines()) == 1 and "(2 files)" in err
    code, out, err = verify_online(capsys, [bundle, altered], trust, url)
    assert code == 1 and out["failed"] == 1 and out["incomplete"] == 1 and out["exit_status"] == 1
    assert err.startswith(f"eduledger: cannot reach the node {url}")  # 1 wins, and the node is still named
