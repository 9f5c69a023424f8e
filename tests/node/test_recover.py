"""``eduledger ledger recover --from URL``: a rolled-back node takes its lost tail back from a peer, proven.

In process first (``ledger.node.rollback.recover`` against a peer that serves
another store): the tail comes back from a copy of the original log, and a
peer whose log was forked after the cut (same keys, quorum-final) is refused
before anything is stored, because this node's witnesses cosigned another root.

Then real node processes on loopback (tests/netutil.py): three institutions,
the sequencer's database truncated after its last block was final everywhere.
The audit fails and the node refuses to start; ``recover`` from a replica that
lags proves nothing and stores nothing (exit 1), from an unreachable URL is a
network error (exit 2), from an up-to-date replica restores the tail (exit 0);
then the audit passes, the node starts, and the log goes on being cosigned.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.model.entries import Statement, sign_batch
from ledger.node import Node
from ledger.node.audit import audit as audit_store
from ledger.node.rollback import HINT, RollbackError, load_log
from ledger.node.rollback import recover as recover_from
from ledger.storage import open_store
from ledger.tlog.timefmt import format_time
from tests.netutil import Network, all_leaf_hashes, audit, wait_until
from tests.node.test_rollback import ISSUER, NETWORK, Built, build
from tests.node.test_rollback import truncate as truncate_built
from tests.nodeproc import PASSPHRASE, free_port

NODES = ("olymp", "ipk", "uni")


# --- in process ------------------------------------------------------------------------------


class StorePeer:
    """What ``recover`` reads of a peer (``HttpPeer``'s reads), served from another node's store."""

    def __init__(self, url: str) -> None:
        self.base_url = f"store:{url}"
        self.store = open_store(url)

    def checkpoint(self) -> bytes:
        return self.store.latest_final()[1]

    def blocks(self, start: int, limit: int = 100):
        return self.store.blocks(start, start + limit)

    def entries(self, start: int, end: int, tree_size: int) -> list[bytes]:
        assert end <= tree_size
        return self.store.entries(start, end)


def copy_db(built: Built, name: str) -> str:
    """A copy of the node's SQLite database (the backup API: WAL included); its URL."""
    target = built.data.parent / f"{name}.db"
    source, dest = sqlite3.connect(built.data / "ledger.db"), sqlite3.connect(target)
    try:
        source.backup(dest)
    finally:
        source.close()
        dest.close()
    return f"sqlite:///{target}"


def recover_in_process(built: Built, peer: StorePeer):
    store = built.store()
    try:
        return recover_from(load_log(store, built.genesis, clock=time.time), peer, holds_log_key=True)
    finally:
        store.close()


def test_recover_restores_the_tail_from_a_copy_of_the_original_log(tmp_path):
    built = build(tmp_path)
    original = StorePeer(copy_db(built, "original"))
    truncate_built(built, built.cut)
    done = recover_in_process(built, original)
    assert (done.before, done.size, done.blocks, done.peer_final) == (built.cut, built.full, 1, built.full)
    assert not done.checked.behind
    store = built.store()
    try:
        result = audit_store(store, built.genesis)
        assert (result.entries, result.final_size) == (built.full, built.full)
        assert store.entries(0, built.full) == original.store.entries(0, built.full)
    finally:
        store.close()
        original.store.close()


def test_recover_refuses_a_peer_whose_tail_this_nodes_witnesses_did_not_cosign_and_stores_nothing(tmp_path):
    """A log forked after the cut, quorum-final with the same witness keys (their states were reset
    in that copy): its final checkpoint verifies, but this node's witnesses cosigned another root."""
    built = build(tmp_path)
    truncate_built(built, built.cut)
    forked_url = copy_db(built, "forked")
    conn = sqlite3.connect(built.data.parent / "forked.db")
    try:
        note = conn.execute("SELECT note FROM checkpoints WHERE size = ?", (built.cut,)).fetchone()[0]
        conn.execute("UPDATE witness_state SET size = ?, note = ?", (built.cut, note))
        conn.commit()
    finally:
        conn.close()
    node = Node(open_store(forked_url), built.genesis, built.keys)
    node.log.open()
    statements = [
        Statement(NETWORK, "credential.anchor", ISSUER, {"digest": f"{0xF0 + k:064x}", "type": "t", "issued_at": format_time(int(time.time()) - 60)})
        for k in range(2)
    ]
    node.log.append(sign_batch(statements, built.keys.signing[ISSUER]))
    node.log.sign_checkpoint()
    node.log.collect_cosignatures()
    assert node.store.latest_final()[0] == built.full
    node.store.close()

    forked = StorePeer(forked_url)
    try:
        with pytest.raises(RollbackError) as e:
            recover_in_process(built, forked)
    finally:
        forked.store.close()
    assert all(f.startswith("witness ") and f"at size {built.full}" in f for f in e.value.findings)
    assert "is not the one those checkpoints signed" in str(e.value)
    store = built.store()
    try:
        assert store.size() == built.cut and store.latest_final()[0] == built.cut  # nothing unproven was stored
    finally:
        store.close()


# --- real processes --------------------------------------------------------------------------


def recover(data_dir: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli.main", "ledger", "recover", "--from", url, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "EDULEDGER_KEY_PASSPHRASE": PASSPHRASE},
    )


def last_block_start(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT first_index FROM blocks ORDER BY height DESC LIMIT 1").fetchone()[0]


def size_of(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM entries").fetchone()[0]


def truncate(db: Path, cut: int) -> None:
    """What an attacker or an older backup leaves: triggers dropped, the tail from ``cut`` deleted with
    its checkpoints, cosignatures and final checkpoints; the witness states stay."""
    conn = sqlite3.connect(db)
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DELETE FROM entries WHERE idx >= ?", (cut,))
        conn.execute("DELETE FROM blocks WHERE first_index >= ?", (cut,))
        for table in ("checkpoints", "cosignatures", "final_checkpoints"):
            conn.execute(f"DELETE FROM {table} WHERE size > ?", (cut,))
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def net(tmp_path):
    n = Network(tmp_path)
    try:
        yield n
    finally:
        n.stop_all()


@pytest.mark.slow
def test_a_truncated_sequencer_recovers_its_tail_from_a_replica_then_audits_and_starts(net):
    net.start()
    net.submit("olymp", "ipk", 0, 10)
    first = net.status("olymp")["size"]
    # Replicas store the final checkpoints they mirror to: let them see this one before the next block.
    wait_until("every node final after the first block", lambda: all(net.final_size(i) >= first for i in NODES))
    net.submit("olymp", "ipk", 10, 10)
    full = net.status("olymp")["size"]
    wait_until("every node final at the full size", lambda: all(net.final_size(i) >= full for i in NODES))
    leaves = all_leaf_hashes(net.url("olymp"))
    net.stop_all()

    seq_db, uni_db = net.dirs["olymp"] / "ledger.db", net.dirs["uni"] / "ledger.db"
    cut = last_block_start(seq_db)
    assert cut == first < full
    truncate(seq_db, cut)
    truncate(uni_db, cut)  # a replica that lost the same tail: it cannot prove it
    result = audit(net.dirs["olymp"])
    assert result.returncode == 1 and f"the log holds {cut} entries" in result.stderr and HINT in result.stderr, result.stderr
    with pytest.raises(RuntimeError, match="this node refuses to start"):
        net.nodes["olymp"].start(timeout=60)

    net.start("ipk", "uni")  # replicas keep serving what they hold while the sequencer is down
    wait_until("uni to serve its (truncated) final checkpoint", lambda: net.final_size("uni") == cut)

    unreachable = recover(net.dirs["olymp"], f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 2, unreachable.stdout + unreachable.stderr
    assert "cannot reach" in unreachable.stderr and "Traceback" not in unreachable.stderr

    lagging = recover(net.dirs["olymp"], net.url("uni"))
    assert lagging.returncode == 1, lagging.stdout + lagging.stderr
    assert "cannot prove the missing tail" in lagging.stderr and f"final checkpoint is at size {cut}" in lagging.stderr
    assert f"reached size {full}" in lagging.stderr
    assert size_of(seq_db) == cut  # nothing unproven was stored

    recovered = recover(net.dirs["olymp"], net.url("ipk"))
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert f"recovered {full - cut} entries in 1 block from" in recovered.stdout and f"the log holds {full} entries" in recovered.stdout
    assert size_of(seq_db) == full
    again = recover(net.dirs["olymp"], net.url("ipk"))
    assert again.returncode == 0 and again.stdout.startswith("nothing to recover"), again.stdout + again.stderr
    result = audit(net.dirs["olymp"])
    assert result.returncode == 0, result.stdout + result.stderr

    # The node starts on the recovered log, with the same leaves, and the network goes on.
    net.start("olymp")
    assert all_leaf_hashes(net.url("olymp")) == leaves
    net.submit("olymp", "ipk", 20, 5)
    wait_until("every node final after the next block", lambda: all(net.final_size(i) >= full + 5 for i in NODES), timeout=90)
    assert all_leaf_hashes(net.url("uni"))[:full] == leaves
    net.stop_all()
    for inst in NODES:
        result = audit(net.dirs[inst])
        assert result.returncode == 0, (inst, result.stdout + result.stderr)
