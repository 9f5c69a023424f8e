"""The institution network under faults, with real node processes on loopback.

Three institutions (olympiad organiser = sequencer, teacher-training institute,
university), quorum 2, each node a separate ``eduledger run`` process with its own
SQLite and keys (tests/netutil.py). Every wait polls behaviour with a generous
deadline; nothing asserts on wall-clock time.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time

import httpx
import pytest

from ledger.network.witness import AddCheckpoint
from ledger.node.datadir import witness_name
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.encoding import b64e
from ledger.tlog.note import sign_note
from tests.keyutil import RawSigner
from tests.netutil import NETWORK, SEQ, Load, Network, all_leaf_hashes, audit, wait_until
from tests.network.faults import tamper_entry
from tests.nodeproc import PASSPHRASE

pytestmark = pytest.mark.slow


@pytest.fixture
def net(tmp_path):
    n = Network(tmp_path)
    try:
        yield n
    finally:
        n.stop_all()


def cosigners_of(note: bytes) -> set[str]:
    """Names of the witness keys that cosigned a note (signature lines after the blank line)."""
    _, _, sigs = note.decode().partition("\n\n")
    return {line.split(" ")[1] for line in sigs.splitlines() if line.startswith("— ")} - {NETWORK}


def network_status_cli(net: Network, inst: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli.main", "network", "status", "--url", net.url(inst)], capture_output=True, text=True, timeout=60
    )


def test_one_witness_down_checkpoints_still_become_final_and_it_catches_up_on_return(net):
    net.start()
    net.kill("uni")
    acked = net.submit("olymp", "ipk", 0, 30)
    size = net.status("olymp")["size"]
    wait_until("a final checkpoint with two of three institutions", lambda: net.final_size("olymp") >= size)
    assert witness_name(NETWORK, "uni") not in cosigners_of(net.checkpoint("olymp"))
    net.nodes["uni"].start()
    # The returning node mirrors everything, and its witness is asked again (the
    # sequencer's retry loop) with a proof from the size it last cosigned.
    wait_until("the third node to mirror the final log", lambda: net.final_size("uni") >= size)
    def returning_witness_cosigned_latest():
        latest = net.network_status("olymp")["latest_cosigners"]
        return latest["size"] >= size and witness_name(NETWORK, "uni") in latest["witnesses"]

    wait_until("the returning witness to cosign the latest checkpoint", returning_witness_cosigned_latest)
    assert set(acked) <= set(all_leaf_hashes(net.url("uni")))
    assert net.verified_final("uni").checkpoint.size >= size


def test_two_witnesses_down_entries_are_acknowledged_but_not_final_until_they_return(net):
    net.start()
    wait_until("genesis final", lambda: net.final_size("olymp") > 0)
    net.kill("ipk")
    net.kill("uni")
    acked = net.submit("olymp", "olymp", 0, 25)  # acknowledged = committed, not final
    status = net.status("olymp")
    assert status["size"] >= 25 + 3 and (status["final_size"] or 0) < status["size"]
    r = httpx.get(net.url("olymp") + "/checkpoint", timeout=5)
    assert r.status_code == 200  # still the older final checkpoint, quorum-cosigned
    assert net.verified_final("olymp").checkpoint.size == status["final_size"]
    net.nodes["ipk"].start()
    net.nodes["uni"].start()
    wait_until("finality to resume", lambda: net.final_size("olymp") >= status["size"])
    wait_until("replicas to reach the final size", lambda: min(net.final_size(i) for i in ("ipk", "uni")) >= status["size"])
    for inst in ("olymp", "ipk", "uni"):
        assert set(acked) <= set(all_leaf_hashes(net.url(inst))), inst


def test_sequencer_killed_during_writes_then_restarted_loses_no_acknowledged_entry_and_replicas_agree(net):
    net.start()
    with Load(net, lambda: net.url(random.choice(["olymp", "ipk", "uni"])), "uni", 0) as load:
        wait_until("some acknowledged entries", lambda: len(load.acked) >= 100)
        net.kill(SEQ)  # kill -9 in the middle of the load
        before = len(load.acked)
        net.nodes[SEQ].start()
        wait_until("the load to continue after restart", lambda: len(load.acked) >= before + 50)
    size = net.status("olymp")["size"]
    wait_until("every node final at the same size", lambda: all(net.final_size(i) >= size for i in ("olymp", "ipk", "uni")), timeout=90)
    roots = {net.verified_final(i).checkpoint.root for i in ("olymp", "ipk", "uni") if net.final_size(i) == size}
    leaves = {inst: all_leaf_hashes(net.url(inst)) for inst in ("olymp", "ipk", "uni")}
    assert len(roots) == 1
    assert leaves["olymp"][:size] == leaves["ipk"][:size] == leaves["uni"][:size]
    assert load.acked <= set(leaves["olymp"])
    for inst in ("olymp", "ipk", "uni"):
        assert merkle.root(leaves[inst][:size]) in roots
    net.stop_all()
    result = audit(net.dirs[SEQ])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_replica_database_edited_behind_its_back_is_detected_and_never_served(net):
    net.start()
    net.submit("olymp", "ipk", 0, 10)
    size = net.status("olymp")["size"]
    wait_until("the replica to mirror", lambda: net.final_size("uni") >= size)
    tamper_entry(net.dirs["uni"] / "ledger.db", 5)
    alert = wait_until("the follower's rolling check to notice", lambda: net.network_status("uni")["storage_alert"])
    assert "entry 5" in alert["reason"]
    # From then on the replica serves none of its stored data, tampered or not ...
    for path in ("/tile/entries/000.p/" + str(min(size, 255)), "/api/v1/ledger/entries/5", "/api/v1/ledger/entries/0", "/api/v1/ledger/blocks"):
        r = httpx.get(net.url("uni") + path, timeout=5)
        assert r.status_code == 503, (path, r.status_code, r.text[:200])
        assert "integrity check" in r.json()["detail"] and "entry 5" in r.json()["detail"]
    # ... and its witness cosigns nothing, not even the sequencer's honest next checkpoint.
    net.submit("olymp", "ipk", 10, 5)
    wait_until("the next final checkpoint", lambda: net.final_size("olymp") >= size + 5)
    r = add_checkpoint(net, "uni", 0, [], net.checkpoint("olymp"))
    assert r.status_code == 503 and "integrity check" in r.json()["detail"]
    cli = network_status_cli(net, "uni")
    assert cli.returncode == 1 and "STORAGE ALERT" in cli.stderr and "entry 5" in cli.stderr
    net.nodes["uni"].kill()
    result = audit(net.dirs["uni"])
    assert result.returncode == 1, result.stdout + result.stderr
    with pytest.raises(RuntimeError, match="do not hash"):
        net.nodes["uni"].start(timeout=30)  # refuses to open, so serves nothing


# --- a malicious sequencer (test double holding the log key) ------------------------


class RogueSequencer:
    """Holds the log key and signs whatever tree it likes: a split view on demand."""

    def __init__(self, net: Network) -> None:
        from keys.keyfile import load_signer

        self.log_key, _ = load_signer(net.source / "keys" / "log.key", PASSPHRASE.encode())

    def checkpoint(self, leaves: list[bytes], origin: str = NETWORK, key=None) -> bytes:
        cp = Checkpoint(origin, len(leaves), merkle.root(leaves))
        return (cp.body() + "\n" + sign_note(cp.body(), origin, key or self.log_key).line()).encode()


def leaves(tag: str, n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"{tag} {i}".encode()) for i in range(n)]


def add_checkpoint(net: Network, inst: str, old: int, proof: list[bytes], note: bytes) -> httpx.Response:
    """POST add-checkpoint; a witness still in its start-up catch-up (503, "asking its peers": the
    stopped peers never answer, ledger/network/witness_catchup.py) is asked again until it is over."""
    body = AddCheckpoint(old, tuple(proof), note).to_bytes()
    deadline = time.monotonic() + 60
    while True:
        r = httpx.post(net.url(inst) + "/add-checkpoint", content=body, timeout=10)
        if r.status_code != 503 or "asking its peers" not in r.text or time.monotonic() > deadline:
            return r
        time.sleep(0.5)


def test_a_sequencer_showing_two_views_is_refused_and_reported_as_a_fork_with_evidence(net):
    # The honest sequencer is not running: the double talks to the witnesses.
    net.start("ipk", "uni")
    rogue = RogueSequencer(net)
    view_a, view_b = rogue.checkpoint(leaves("a", 8)), rogue.checkpoint(leaves("b", 8))
    # Each witness alone sees a log that extends what it cosigned, so each cosigns.
    assert add_checkpoint(net, "ipk", 0, [], view_a).status_code == 200
    assert add_checkpoint(net, "uni", 0, [], view_b).status_code == 200
    # The nodes exchange what their witnesses cosigned: both see the split view.
    for inst in ("ipk", "uni"):
        alert = wait_until(f"a fork alert on {inst}", lambda inst=inst: net.network_status(inst)["fork_alert"])
        assert {alert["old"].encode(), alert["new"].encode()} == {view_a, view_b}
    # Showing the other view to a witness directly is refused too.
    r = add_checkpoint(net, "ipk", 8, [], view_b)
    assert r.status_code == 409
    # After a fork the witness stops cosigning, even an honest-looking extension.
    longer = rogue.checkpoint(leaves("a", 9))
    r = add_checkpoint(net, "ipk", 8, [bytes(32)], longer)
    assert r.status_code == 409 and "fork" in r.json()["detail"]
    assert not r.headers["content-type"].startswith("text/x.tlog.size")  # no size to retry with
    cli = subprocess.run(
        [sys.executable, "-m", "ledger.cli.main", "network", "status", "--url", net.url("uni")], capture_output=True, text=True, timeout=60
    )
    assert cli.returncode == 1 and "FORK ALERT" in cli.stderr and view_a.decode() in cli.stderr and view_b.decode() in cli.stderr


class RogueProofServer:
    """The rogue sequencer's HTTP face at the sequencer's URL: it answers consistency-proof
    requests (``/api/v1/ledger/proof/consistency``) from one of its views, or with garbage."""

    def __init__(self, port: int) -> None:
        import http.server
        import json
        import threading
        from urllib.parse import parse_qs, urlparse

        from ledger.tlog.encoding import b64e
        from ledger.tlog.tree import Tree

        server = self
        self.tree: list[bytes] | None = None
        self.garbage = False

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                q = {k: int(v[0]) for k, v in parse_qs(url.query).items()}
                if url.path != "/api/v1/ledger/proof/consistency" or not (server.tree or server.garbage):
                    self.send_error(404)
                    return
                if server.garbage:
                    old_root, new_root, proof = bytes(32), bytes(32), [bytes(32)] * 2
                else:
                    t = Tree(server.tree)
                    old_root, new_root, proof = t.root(q["old"]), t.root(q["new"]), t.consistency_proof(q["old"], q["new"])
                body = json.dumps(
                    {"old_size": q["old"], "new_size": q["new"], "old_root": b64e(old_root), "new_root": b64e(new_root), "proof": [b64e(h) for h in proof]}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "RogueProofServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_sequencer_showing_trees_of_different_sizes_is_reported_as_a_fork_once_a_proof_shows_two_trees(net):
    net.start("ipk", "uni")
    rogue = RogueSequencer(net)
    tree_a, tree_b = leaves("a", 8), leaves("b", 10)
    view_a, view_b = rogue.checkpoint(tree_a), rogue.checkpoint(tree_b)
    # Each witness sees a tree that extends what it cosigned (nothing), so each cosigns.
    assert add_checkpoint(net, "ipk", 0, [], view_a).status_code == 200
    assert add_checkpoint(net, "uni", 0, [], view_b).status_code == 200
    # Sizes differ, so only a consistency proof can tell. None to be had (the sequencer's
    # URL does not answer, the replicas' logs are shorter): pending and retried, no alert.
    pending = wait_until("ipk to report the pair as unproved", lambda: net.network_status("ipk")["split_view_pending"])
    assert "sizes 8" in pending[0] and "and 10" in pending[0]
    with RogueProofServer(net.ports[SEQ]) as server:
        # A proof that does not verify against the larger signed root is the supplier's
        # bad data, not evidence: still no alert.
        server.garbage = True
        wait_until(
            "a round with the garbage proof",
            lambda: any("does not verify" in p for p in net.network_status("ipk")["split_view_pending"]),
        )
        assert net.network_status("ipk")["fork_alert"] is None and net.network_status("uni")["fork_alert"] is None
        # The rogue's own proof for its size-10 view verifies against view B's signed root
        # and shows another tree at size 8 than view A: a fork, with both notes and the proof.
        server.garbage, server.tree = False, tree_b
        for inst in ("ipk", "uni"):
            alert = wait_until(f"a fork alert on {inst}", lambda inst=inst: net.network_status(inst)["fork_alert"])
            assert {alert["old"].encode(), alert["new"].encode()} == {view_a, view_b}
            assert alert["proof"][0] == b64e(merkle.root(tree_b[:8]))
    cli = network_status_cli(net, "ipk")
    assert cli.returncode == 1 and "FORK ALERT" in cli.stderr and b64e(merkle.root(tree_b[:8])) in cli.stderr
    # The witness stops cosigning after the fork, even an honest-looking extension of its view.
    from ledger.tlog.tree import Tree

    longer = leaves("a", 12)
    r = add_checkpoint(net, "ipk", 8, Tree(longer).consistency_proof(8, 12), rogue.checkpoint(longer))
    assert r.status_code == 409 and "fork" in r.json()["detail"]
    assert not r.headers["content-type"].startswith("text/x.tlog.size")  # no size to retry with


def test_witness_refuses_stale_replayed_garbage_and_foreign_requests_with_c2sp_status_codes(net):
    net.start("ipk")
    rogue = RogueSequencer(net)
    tree = leaves("x", 20)
    first = rogue.checkpoint(tree[:8])
    second = rogue.checkpoint(tree[:20])
    assert add_checkpoint(net, "ipk", 0, [], first).status_code == 200
    # Replayed request (old size no longer the witness's): 409 with the current size.
    r = add_checkpoint(net, "ipk", 0, [], first)
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/x.tlog.size") and r.text.strip() == "8"
    # Garbage consistency proof: 422, and nothing moves.
    r = add_checkpoint(net, "ipk", 8, [bytes(32)] * 3, second)
    assert r.status_code == 422
    # A checkpoint of another log: 404 (unknown origin).
    other_key = RawSigner()
    r = add_checkpoint(net, "ipk", 0, [], rogue.checkpoint(tree[:4], origin="other.example/log", key=other_key))
    assert r.status_code == 404
    # Our origin but not signed by the log key: 403.
    r = add_checkpoint(net, "ipk", 8, [], rogue.checkpoint(tree[:8], key=other_key))
    assert r.status_code == 403
    # Old size larger than the checkpoint size: 400, checked before the stale-size 409.
    r = add_checkpoint(net, "ipk", 30, [], second)
    assert r.status_code == 400, r.text
    # Malformed request: 400.
    r = httpx.post(net.url("ipk") + "/add-checkpoint", content=b"old x\n\n" + second, timeout=10)
    assert r.status_code == 400
    # A stale checkpoint, smaller than the one cosigned: 409 with the current size.
    r = add_checkpoint(net, "ipk", 0, [], rogue.checkpoint(tree[:4]))
    assert r.status_code == 409 and r.text.strip() == "8"
    # The honest extension with a real proof still works: none of the above was taken as a fork.
    from ledger.tlog.tree import Tree

    proof = Tree(tree).consistency_proof(8, 20)
    r = add_checkpoint(net, "ipk", 8, proof, second)
    assert r.status_code == 200, r.text
    assert net.network_status("ipk")["fork_alert"] is None
