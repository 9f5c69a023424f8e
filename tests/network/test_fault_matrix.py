"""The fault matrix (issue 15), in the spirit of Sunlight's sequencer error tests: one table of
faults, each with its expected outcome, asserted the same way for every row.

The network is tests/network/faults.py's: three institutions (the sequencer ``seq``, ``ipk``,
``uni``; quorum 2 of the two witnesses besides the sequencer's), real nodes served over HTTP in
threads of this process, one SQLite database each. Every row is asserted uniformly:

1. **no inconsistent checkpoint is ever final**: the final checkpoints stored by every node, and
   by the faulty party itself (a copied data directory's database), are all views of one tree;
2. **detection within a stated bound on every honest node**: each node named in the row shows
   what it must (an alert, a refusal, or a pending pair as a warning) within ``bound`` of its own
   check rounds (``Integrity.rounds``: one per ``sync_now``/``check_now``, every 0.5 s) counted
   from when the fault was made visible to it; the wall-clock deadline only guards a hang;
3. **evidence**: a fork alert carries both log-signed notes (and the prefix proof when the
   larger tree is one a node holds: a checkpoint *beyond* the signer's log has no tree to prove
   from, the two signatures are the evidence);
4. **no final entry is lost**: every honest node still holds, at the same indices, every entry
   that was final before the fault.

The bounds measured here are the ones docs/network.md's threat model states.
"""

from __future__ import annotations

import http.server
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ledger.model.entries import sign_batch
from ledger.network.mirror import HttpPeer
from ledger.node.datadir import witness_name
from ledger.node.rollback import load_log, recover
from ledger.storage import open_store
from ledger.tlog.checkpoint import parse_checkpoint
from ledger.tlog.encoding import b64e
from ledger.tlog.note import Verifier, verify_note
from ledger.tlog.tree import Tree
from tests.netutil import wait_until
from tests.network.faults import (
    IPK,
    NET,
    SEQ,
    UNI,
    Net,
    append_in_clone,
    clone_data_dir,
    copy_db,
    log_signed,
    restore_db,
    size_of,
    tamper_entry,
)

pytestmark = pytest.mark.slow

#: A deadline that only guards against a hang; the bounds below are in check rounds.
HANG = 60


@dataclass
class Fault:
    """What a row's scenario leaves for the uniform checks.

    ``detect``: institution -> what it must show (``fork``, ``fork-or-pending``, ``sequencer``,
    ``alert`` (a sequencer or fork alert),
    ``storage``, ``remirrored``, ``refused``: refused at once, synchronously, nothing stored or
    started; ``none``: nothing reaches it, or nothing is to be detected). ``rounds_at``: each
    detecting node's ``rounds`` when the fault became visible to it. ``bound``: check rounds
    within which it must show it. ``final_before``: the leaf hashes final before the fault.
    ``faulty_dbs``: databases of the misbehaving party, whose finals count too."""

    detect: dict[str, str]
    bound: int
    final_before: list[bytes]
    rounds_at: dict[str, int] = field(default_factory=dict)
    faulty_dbs: list[Path] = field(default_factory=list)


def final_leaves(net: Net, inst: str) -> list[bytes]:
    store = net[inst].store
    final = store.latest_final()
    return store.leaf_hashes(0, final[0]) if final else []


def settle(net: Net, n: int) -> int:
    net.submit(n)
    size = net[SEQ].log.size
    wait_until(f"size {size} final and held by both witnesses", lambda: net.settled(size), timeout=HANG)
    wait_until("both replicas to mirror it", lambda: net.final_size(IPK) >= size and (UNI not in net.served or net.final_size(UNI) >= size), timeout=HANG)
    return size


def witness_ready(net: Net, inst: str) -> None:
    """Wait until ``inst``'s witness answers again after a start (it first asks its peers for the
    newest checkpoint it cosigned, answering 503 meanwhile): a probe with old size 0 gets 409."""
    from ledger.network.witness import AddCheckpoint

    note = httpx.get(net.urls[IPK] + "/checkpoint", timeout=5).content
    body = AddCheckpoint(0, (), note).to_bytes()
    wait_until(
        f"{inst}'s witness to answer", lambda: httpx.post(net.urls[inst] + "/add-checkpoint", content=body, timeout=5).status_code == 409, timeout=HANG
    )


def visible(net: Net, fault: Fault, *insts: str) -> Fault:
    fault.rounds_at = {i: net[i].rounds for i in insts if i in net.served}
    return fault


class FakeWitness:
    """A misbehaving institution's node at ``uni``'s URL: its witness answers every
    add-checkpoint with ``answer(size)`` (status, content type, body); every other path is 404."""

    def __init__(self, port: int, answer: Callable[[bytes], tuple[int, str, bytes]]) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                code, ctype, out = answer(body)
                self._send(code, ctype, out)

            def do_GET(self) -> None:  # noqa: N802
                self._send(404, "text/plain", b"not found\n")

            def _send(self, code: int, ctype: str, out: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- the faults ---------------------------------------------------------------------------------


def restore_from_backup(net: Net, tmp: Path) -> Fault:
    """The sequencer's database is replaced by a copy taken 12 entries earlier, then it starts."""
    net.start()
    settle(net, 5)
    backup = tmp / "backup.db"
    copy_db(net.db(SEQ), backup)
    for _ in range(3):
        real = settle(net, 4)
    before = final_leaves(net, IPK)
    assert len(before) == real
    net.stop(SEQ)
    restore_db(backup, net.db(SEQ))
    net.start(SEQ)
    return visible(net, Fault({SEQ: "remirrored", IPK: "none", UNI: "none"}, bound=4, final_before=before), SEQ)


def copied_data_directory_signs(net: Net, tmp: Path) -> Fault:
    """A copy of the sequencer's data directory, taken earlier, signs a different tree of the
    size the real log has reached since, and asks every witness to cosign it."""
    net.start()
    settle(net, 4)
    clone = clone_data_dir(net, tmp)
    settle(net, 3)
    before = final_leaves(net, IPK)
    append_in_clone(net, clone, 3, (SEQ, IPK, UNI))  # its own witness (in the copy) cosigns; it never counts
    fault = visible(net, Fault({IPK: "fork", UNI: "fork", SEQ: "alert"}, bound=4, final_before=before, faulty_dbs=[clone / "ledger.db"]), IPK, UNI, SEQ)
    # The witnesses refused it as a same-size fork; the sequencer learns it from their evidence, or at
    # the latest at its next cosignature round (they refuse as a fork).
    net.post(SEQ, 1)
    return fault


def larger_fork(net: Net, tmp: Path) -> Fault:
    """A second signer's tree three entries beyond the real log, cosigned by both witnesses
    (it extends what they hold), shown to the sequencer only through its peers."""
    net.start()
    size = settle(net, 4)
    before = final_leaves(net, IPK)
    clone = clone_data_dir(net, tmp)
    assert size_of(append_in_clone(net, clone, 3, (IPK, UNI))) == size + 3
    return visible(
        net, Fault({SEQ: "fork", IPK: "pending", UNI: "pending"}, bound=4, final_before=before, faulty_dbs=[clone / "ledger.db"]), SEQ, IPK, UNI
    )


def _fork_behind_uni(net: Net, tmp: Path, clone_entries: int) -> Fault:
    """uni misses the sequencer's next 3 entries; while the sequencer is down, a copy of its
    data directory shows uni a tree of ``clone_entries`` entries of its own on the same base."""
    net.start()
    settle(net, 4)
    before = final_leaves(net, IPK)
    clone = clone_data_dir(net, tmp)
    net.stop(UNI)
    net.submit(3)
    net.stop(SEQ)
    net.start(UNI)
    witness_ready(net, UNI)
    append_in_clone(net, clone, clone_entries, (UNI,))
    assert net.witnessed_size(UNI) == len(before) + clone_entries  # uni cosigned the copy's tree
    net.start(SEQ)
    detect = {SEQ: "fork", UNI: "fork-or-pending", IPK: "fork-or-pending"}
    return visible(net, Fault(detect, bound=6, final_before=before, faulty_dbs=[clone / "ledger.db"]), SEQ, IPK, UNI)


def smaller_fork(net: Net, tmp: Path) -> Fault:
    return _fork_behind_uni(net, tmp, 2)


def same_size_fork(net: Net, tmp: Path) -> Fault:
    fault = _fork_behind_uni(net, tmp, 3)
    fault.detect = {SEQ: "fork", UNI: "fork", IPK: "fork"}  # one size, two roots: no proof needed anywhere
    return fault


def edited_row_while_running(net: Net, tmp: Path) -> Fault:
    """An entry's bytes are rewritten in the running sequencer's database (trigger dropped)."""
    net.start()
    settle(net, 10)
    before = final_leaves(net, IPK)
    fault = visible(net, Fault({SEQ: "storage"}, bound=2, final_before=before), SEQ)  # the log is < 4096 entries: one window
    tamper_entry(net.db(SEQ), 5)
    return fault


def upsert(net: Net, tmp: Path) -> Fault:
    """``INSERT OR REPLACE`` over an existing entry of the running sequencer's database."""
    net.start()
    settle(net, 4)
    before = final_leaves(net, IPK)
    with sqlite3.connect(net.db(SEQ)) as conn:
        (leaf, data) = conn.execute("SELECT leaf_hash, data FROM entries WHERE idx = 3").fetchone()
        with pytest.raises(sqlite3.DatabaseError):
            conn.execute("INSERT OR REPLACE INTO entries (idx, leaf_hash, data) VALUES (3, ?, ?)", (leaf, data.replace(b"0", b"1", 1)))
    with sqlite3.connect(net.db(SEQ)) as conn:
        assert conn.execute("SELECT data FROM entries WHERE idx = 3").fetchone() == (data,)
    return Fault({SEQ: "refused"}, bound=0, final_before=before)


def truncated_tail(net: Net, tmp: Path) -> Fault:
    """The sequencer's last block is deleted with its entries, checkpoints, cosignatures and
    final checkpoints (triggers dropped). It refuses to start; recovered from a replica, it goes on."""
    net.start()
    settle(net, 4)
    settle(net, 3)
    before = final_leaves(net, IPK)
    net.stop(SEQ)
    with sqlite3.connect(net.db(SEQ)) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        (height, first) = conn.execute("SELECT height, first_index FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
        conn.execute("DELETE FROM blocks WHERE height = ?", (height,))
        conn.execute("DELETE FROM entries WHERE idx >= ?", (first,))
        for table in ("checkpoints", "cosignatures", "final_checkpoints"):
            conn.execute(f"DELETE FROM {table} WHERE size > ?", (first,))
    with pytest.raises(RuntimeError, match="did not start"):
        net.start(SEQ)  # RollbackError at start-up: its witness state and stored checkpoints say more
    # The way out the refusal names: recover from a replica, proven; then it starts and sequences.
    store = open_store(f"sqlite:///{net.db(SEQ)}")
    try:
        done = recover(load_log(store, net.genesis, clock=lambda: 0.0), HttpPeer(net.urls[IPK]), holds_log_key=True)
        assert done.size >= len(before) > done.before
    finally:
        store.close()
    net.start(SEQ)
    return Fault({SEQ: "refused"}, bound=0, final_before=before)


def witness_answers_beyond(net: Net, tmp: Path) -> Fault:
    """uni's witness lies: it says it has cosigned a size far beyond the log (409 with a size)."""
    fake = FakeWitness(net.ports[UNI], lambda body: (409, "text/x.tlog.size", b"1000\n"))
    net.faults_cleanup.append(fake.close)
    net.start(SEQ, IPK)
    before = final_leaves(net, IPK)
    return visible(net, Fault({SEQ: "sequencer"}, bound=4, final_before=before), SEQ)


def witness_bad_signature(net: Net, tmp: Path) -> Fault:
    """uni's witness answers every checkpoint with a cosignature line of its key name and key
    ID whose signature does not verify: it is not counted, so nothing becomes final with it."""
    name = witness_name(NET, UNI)
    vkey = next(f.witness_vkey for f in net.genesis.founders if f.id == UNI)
    key_id = Verifier.from_vkey(vkey).key_id
    line = f"— {name} {b64e(key_id + bytes(8) + bytes(range(64)))}\n".encode()
    fake = FakeWitness(net.ports[UNI], lambda body: (200, "text/plain; charset=utf-8", line))
    net.faults_cleanup.append(fake.close)
    net.start(SEQ, IPK)
    before = final_leaves(net, IPK)
    net.submit(2)
    size = net[SEQ].log.size
    cosigned = wait_until("ipk's cosignature on the new checkpoint", lambda: witness_name(NET, IPK) in {n for n, _ in net[SEQ].store.cosignatures(size)})
    assert cosigned and name not in {n for n, _ in net[SEQ].store.cosignatures(size)}
    assert net[SEQ].final_size < size  # uni's line never counts: no quorum
    return Fault({SEQ: "none", IPK: "none"}, bound=0, final_before=before)


FAULTS = {
    "restore from backup": restore_from_backup,
    "copied data directory signing": copied_data_directory_signs,
    "larger fork": larger_fork,
    "smaller fork": smaller_fork,
    "same-size fork": same_size_fork,
    "edited row while running": edited_row_while_running,
    "upsert": upsert,
    "truncated tail": truncated_tail,
    "witness answering 409 beyond": witness_answers_beyond,
    "witness lying with a bad signature": witness_bad_signature,
}


# --- the uniform checks -------------------------------------------------------------------------


def shows(net: Net, inst: str, what: str, fault: Fault) -> bool:
    """Whether ``inst`` shows the detection ``what`` now (its network status)."""
    st = net.network_status(inst)
    if what == "fork":
        return st["fork_alert"] is not None
    if what == "pending":
        return bool(st["split_view_pending"])
    if what == "fork-or-pending":
        return st["fork_alert"] is not None or bool(st["split_view_pending"])
    if what == "sequencer":
        return st["sequencer_alert"] is not None
    if what == "alert":
        return st["sequencer_alert"] is not None or st["fork_alert"] is not None
    if what == "storage":
        return st["storage_alert"] is not None
    if what == "remirrored":
        node = net[inst]
        return (
            node.store.size() >= len(fault.final_before)
            and node.sequencing_refused() is None
            and st["sequencer_alert"] is None
            and st["fork_alert"] is None
            and net.post(inst, 1).status_code == 200
        )
    raise ValueError(what)


def check_detected(net: Net, fault: Fault) -> None:
    for inst, what in fault.detect.items():
        if what == "none":  # nothing reached it, or nothing is to be detected: no false alarm either
            st = net.network_status(inst)
            assert st["fork_alert"] is None and st["storage_alert"] is None and st["sequencer_alert"] is None, (inst, st)
        if what in ("none", "refused"):
            continue
        wait_until(f"{inst} to show {what}", lambda inst=inst, what=what: shows(net, inst, what, fault), timeout=HANG, interval=0.1)
        rounds = net[inst].rounds - fault.rounds_at.get(inst, 0)
        assert rounds <= fault.bound, f"{inst} showed {what} after {rounds} check rounds, bound {fault.bound}"


def check_evidence(net: Net, fault: Fault) -> None:
    """Every fork alert: both notes log-signed; for two sizes whose larger tree a node holds, the proof."""
    for inst in net.served:
        alert = net.network_status(inst)["fork_alert"]
        if alert is None:
            continue
        old, new = log_signed(net, alert["old"].encode()), log_signed(net, alert["new"].encode())
        assert old != new
        if size_of(alert["old"].encode()) != size_of(alert["new"].encode()) and "beyond" not in alert["reason"]:
            assert alert["proof"], (inst, alert)


def finals(net: Net, fault: Fault) -> list[tuple[str, int, bytes, Tree]]:
    """(who, size, root, that party's tree) of every final checkpoint stored, honest or not."""
    log_key = Verifier.from_vkey(net.genesis.log_vkey)
    stores = [(inst, net[inst].store, False) for inst in net.served]
    stores += [(str(db), open_store(f"sqlite:///{db}"), True) for db in fault.faulty_dbs]
    out = []
    for who, store, close in stores:
        try:
            final = store.latest_final()
            if final is not None:
                cp = parse_checkpoint(verify_note(final[1], [log_key]).text)
                out.append((who, cp.size, cp.root, Tree(store.leaf_hashes(0, store.size()))))
        finally:
            if close:
                store.close()
    return out


def check_no_inconsistent_final(net: Net, fault: Fault) -> None:
    seen = finals(net, fault)
    for who_a, size_a, root_a, _ in seen:
        for who_b, size_b, root_b, tree_b in seen:
            if size_a <= size_b:
                assert tree_b.size >= size_b and tree_b.root(size_b) == root_b, f"{who_b}'s final is not its own log's"
                assert tree_b.root(size_a) == root_a, f"final checkpoints of {who_a} ({size_a}) and {who_b} ({size_b}) are two trees"


def check_no_final_entry_lost(net: Net, fault: Fault) -> None:
    n = len(fault.final_before)
    for inst in net.served:
        assert net[inst].store.size() >= n, inst
        assert net[inst].store.leaf_hashes(0, n) == fault.final_before, inst


@pytest.fixture
def net(tmp_path):
    n = Net(tmp_path)
    n.faults_cleanup = []
    try:
        yield n
    finally:
        n.stop_all()
        for close in n.faults_cleanup:
            close()


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_no_fault_makes_an_inconsistent_checkpoint_final_and_every_honest_node_detects_it(net, tmp_path, fault):
    injected = FAULTS[fault](net, tmp_path)
    check_detected(net, injected)
    check_evidence(net, injected)
    check_no_inconsistent_final(net, injected)
    check_no_final_entry_lost(net, injected)


# --- what individual rows promise besides the uniform checks -------------------------------------


def test_restored_sequencer_re_mirrors_and_goes_on_without_reusing_an_index(net, tmp_path):
    fault = restore_from_backup(net, tmp_path)
    check_detected(net, fault)
    real = len(fault.final_before)
    r = net.post(SEQ, 2)
    assert r.status_code == 200, r.text
    assert all(item["accepted"] and item["index"] >= real for item in r.json()["results"])
    wait_until("the new entries final everywhere", lambda: net.settled(net[SEQ].log.size), timeout=HANG)
    for inst in (SEQ, IPK, UNI):
        st = net.network_status(inst)
        assert st["fork_alert"] is None and st["sequencer_alert"] is None, (inst, st)
    assert net.status_cli(SEQ).exit_code == 0


def test_a_lying_witness_stops_the_sequencer_and_no_submission_is_acknowledged_under_the_alert(net, tmp_path):
    fault = witness_answers_beyond(net, tmp_path)
    check_detected(net, fault)
    alert = net.network_status(SEQ)["sequencer_alert"]
    assert alert["kind"] == "beyond" and alert["witness_size"] == 1000 and "text/x.tlog.size" in alert["answer"]
    r = net.post(SEQ, 1)
    assert r.status_code == 503 and "witness" in r.json()["detail"]
    # Forwarded by a replica: the sequencer's reason and Retry-After come back with the 503.
    r = net.post(IPK, 1)
    assert r.status_code == 503, r.text
    assert "witness" in r.json()["detail"] and int(r.headers["retry-after"]) == 30
    assert net.status_cli(SEQ).exit_code == 1


def test_an_append_stored_while_the_alert_is_raised_is_not_acknowledged(net, tmp_path):
    """Gap (a): the alert arrives while the append is being stored: committed, never signed, 503."""
    import asyncio

    from ledger.errors import HaltedError

    net.start()
    settle(net, 2)
    seq = net[SEQ]
    store_prepared = seq.log.store_prepared

    def store_then_alert(prepared):
        store_prepared(prepared)
        seq.record_fork("test: a fork seen while this append was stored", "old", "new")

    seq.log.store_prepared = store_then_alert
    loop = seq.sequencer._task.get_loop()  # the served app's event loop
    future = asyncio.run_coroutine_threadsafe(seq.sequencer.submit(sign_batch(net.statements(1), net.signer)), loop)
    with pytest.raises(HaltedError, match="not acknowledged"):
        future.result(30)
    latest = seq.store.latest_checkpoint()
    assert seq.store.size() == latest[0] + 1  # committed, not signed


def test_a_halted_node_serves_no_ledger_data_but_keeps_answering_status(net, tmp_path):
    """Gap (d): after a fork alert, /checkpoint, proofs, credential status, bundles and the trust
    file answer 503 with the reason; status and alert endpoints still answer."""
    net.start()
    settle(net, 2)
    net[IPK].record_fork("test: two trees", "old", "new")
    url = net.urls[IPK]
    for method, path in [
        ("GET", "/checkpoint"),
        ("GET", "/api/v1/ledger/checkpoint/latest"),
        ("GET", "/api/v1/ledger/proof/consistency?old=1&new=2"),
        ("GET", "/api/v1/ledger/proof/inclusion?size=2&index=0"),
        ("GET", "/api/v1/ledger/credentials/" + "0" * 64),
        ("GET", "/api/v1/trust"),
        ("POST", "/api/v1/credentials/bundle"),
    ]:
        r = httpx.request(method, url + path, json={} if method == "POST" else None, timeout=10)
        assert r.status_code == 503, (path, r.status_code, r.text[:200])
        assert "two trees" in r.json()["detail"], path
    for path in ("/api/v1/ledger/status", "/api/v1/network/status", "/api/v1/network/witnessed"):
        assert httpx.get(url + path, timeout=10).status_code == 200, path
    assert net.status_cli(IPK).exit_code == 1


def test_the_follower_reuses_one_client_per_peer(net, tmp_path):
    """Gap (b): mirroring goes through the node's kept client for the sequencer (its entry-bundle
    cache is filled by the mirroring), not a new one each round."""
    net.start()
    settle(net, 3)
    ipk = net[IPK]
    wait_until("a few follower rounds", lambda: ipk.rounds >= 3, timeout=HANG)
    peer = ipk._http_peers[net.urls[SEQ]]
    assert peer._bundle is not None  # filled by sync(): the mirroring used this client
    rounds = ipk.rounds
    wait_until("more follower rounds", lambda: ipk.rounds >= rounds + 2, timeout=HANG)
    assert ipk._http_peers[net.urls[SEQ]] is peer


def test_ledger_recover_clears_the_alerts_the_recovered_log_answers(net, tmp_path, monkeypatch):
    """Gap (g): a restored sequencer with no replica to re-mirror from alerts (sequencer and fork
    alerts, kept in its database); ``eduledger ledger recover --from URL`` proves the tail and
    clears both, saying so, and the node then starts and sequences."""
    from typer.testing import CliRunner

    from ledger.cli.main import app
    from ledger.node.integrity import Integrity

    monkeypatch.setattr(Integrity, "_remirror_sources", lambda self: [])
    restore_from_backup(net, tmp_path)
    wait_until("both alerts on the sequencer", lambda: (st := net.network_status(SEQ))["sequencer_alert"] and st["fork_alert"], timeout=HANG)
    net.stop(SEQ)
    monkeypatch.undo()
    result = CliRunner().invoke(app, ["ledger", "recover", "--from", net.urls[IPK], "--data-dir", str(net.dirs[SEQ])])
    assert result.exit_code == 0, result.output
    assert "sequencer alert cleared" in result.output and "fork alert cleared" in result.output
    net.start(SEQ)
    wait_until("a write accepted after recovery", lambda: net.post(SEQ, 1).status_code == 200, timeout=HANG)
    st = net.network_status(SEQ)
    assert st["sequencer_alert"] is None and st["fork_alert"] is None
