"""A rollback is a discrepancy: a log that lost its tail fails the audit and its node refuses to start.

A small log (genesis block and three blocks, every checkpoint final, every
witness key held by the node, as in the single-process demo) is truncated the
way an attacker or an old backup would: triggers dropped, then the last block
deleted with its entries, checkpoints, cosignatures and final checkpoint. The
rest re-derives perfectly; what gives the rollback away is what the same
database remembers beyond the log (ledger/node/rollback.py). SQLite throughout,
plus one PostgreSQL case; the CLI cases run ``eduledger`` as a process.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.model.entries import Statement, sign_batch
from ledger.model.genesis import Genesis
from ledger.model.receipts import Receipt
from ledger.node import Node
from ledger.node.audit import AuditFailure, audit
from ledger.node.datadir import NodeKeys, init_network, load_keys, witness_name
from ledger.node.rollback import HINT, RollbackError, check_store
from ledger.storage import open_store
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import sign_note
from ledger.tlog.timefmt import format_time
from tests.fixtures_network import INSTITUTIONS, NETWORK
from tests.nodeproc import FAST_KDF, PASSPHRASE, free_port

SEQ = INSTITUTIONS[0].id
ISSUER = INSTITUTIONS[1].id


@dataclass
class Built:
    data: Path
    url: str
    genesis: Genesis
    keys: NodeKeys
    sizes: list[int]  # the log size after each block

    @property
    def full(self) -> int:
        return self.sizes[-1]

    @property
    def cut(self) -> int:
        """Where the last block starts: truncating here is consistent (a block boundary)."""
        return self.sizes[-2]

    def store(self):
        return open_store(self.url)

    def node(self) -> Node:
        return Node.from_data_dir(self.data, self.url, PASSPHRASE.encode())


def build(tmp_path: Path, url: str | None = None) -> Built:
    """Genesis block plus three blocks of two anchors, each checkpoint cosigned by every local witness and final."""
    data = tmp_path / "node"
    genesis = init_network(
        data,
        network=NETWORK,
        institutions=INSTITUTIONS,
        sequencer=SEQ,
        quorum=2,
        passphrase=PASSPHRASE.encode(),
        created=int(time.time()) - 3600,
        kdf_params=FAST_KDF,
    )
    keys = load_keys(data, PASSPHRASE.encode())
    url = url or f"sqlite:///{data / 'ledger.db'}"
    node = Node(open_store(url), genesis, keys)
    node.log.open()
    sizes = [node.log.size]
    for block in range(3):
        statements = [
            Statement(NETWORK, "credential.anchor", ISSUER, {"digest": f"{block * 10 + k:064x}", "type": "t", "issued_at": format_time(int(time.time()) - 60)})
            for k in range(2)
        ]
        results, size = node.log.append(sign_batch(statements, keys.signing[ISSUER]))
        assert all(isinstance(r, Receipt) for r in results), results
        node.log.sign_checkpoint()
        node.log.collect_cosignatures()
        assert node.store.latest_final()[0] == size
        sizes.append(size)
    node.store.close()
    return Built(data, url, genesis, keys, sizes)


# --- what an attacker (or an old backup) does ----------------------------------------------


def _drop_triggers_sqlite(conn: sqlite3.Connection) -> None:
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")


def _drop_triggers_postgres(conn: sa.Connection) -> None:
    rows = conn.exec_driver_sql(
        "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
    ).all()
    for name, table in rows:
        conn.exec_driver_sql(f'DROP TRIGGER "{name}" ON {table}')


def truncate(built: Built, cut: int, *, keep: tuple[str, ...] = ("witness",)) -> None:
    """Delete every entry and block from ``cut`` on, triggers dropped first, and the evidence beyond
    ``cut`` except what ``keep`` names: "witness" (the witness states, left alone as in the issue),
    "checkpoint", "cosignatures", "final". Without "witness", every witness state is moved back to
    the checkpoint stored at ``cut`` (as a full restore of an older backup would leave it)."""
    deletes = ["DELETE FROM entries WHERE idx >= :cut", "DELETE FROM blocks WHERE first_index >= :cut"]
    for table, kind in (("checkpoints", "checkpoint"), ("cosignatures", "cosignatures"), ("final_checkpoints", "final")):
        if kind not in keep:
            deletes.append(f"DELETE FROM {table} WHERE size > :cut")
    if built.url.startswith("sqlite"):
        conn = sqlite3.connect(built.data / "ledger.db")
        try:
            _drop_triggers_sqlite(conn)
            note = conn.execute("SELECT note FROM checkpoints WHERE size = ?", (cut,)).fetchone()[0]
            for statement in deletes:
                conn.execute(statement, {"cut": cut})
            if "witness" not in keep:
                conn.execute("UPDATE witness_state SET size = ?, note = ?", (cut, note))
            conn.commit()
        finally:
            conn.close()
    else:
        engine = sa.create_engine(built.url)
        try:
            with engine.begin() as conn:
                _drop_triggers_postgres(conn)
                note = conn.execute(sa.text("SELECT note FROM checkpoints WHERE size = :cut"), {"cut": cut}).scalar_one()
                for statement in deletes:
                    conn.execute(sa.text(statement), {"cut": cut})
                if "witness" not in keep:
                    conn.execute(sa.text("UPDATE witness_state SET size = :cut, note = :note"), {"cut": cut, "note": note})
        finally:
            engine.dispose()


def run_audit(built: Built, **kw):
    store = built.store()
    try:
        return audit(store, built.genesis, **kw)
    finally:
        store.close()


def start_and_stop(node: Node) -> None:
    async def go() -> None:
        await node.start()
        await node.stop()

    asyncio.run(go())


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDULEDGER_KEY_PASSPHRASE": PASSPHRASE}
    return subprocess.run([sys.executable, "-m", "ledger.cli.main", *args], capture_output=True, text=True, timeout=timeout, env=env)


def witnesses(built: Built) -> list[str]:
    return [witness_name(NETWORK, i.id) for i in INSTITUTIONS]


# --- an untouched log -----------------------------------------------------------------------


def test_an_untouched_log_passes_the_audit_and_the_cross_check_and_its_node_starts(tmp_path):
    built = build(tmp_path)
    result = run_audit(built)
    assert (result.entries, result.final_size, result.notes) == (built.full, built.full, ())
    store = built.store()
    try:
        checked = check_store(store, built.genesis, holds_log_key=True)
    finally:
        store.close()
    assert checked.size == built.full and not checked.behind
    # Every witness state, the latest checkpoint, the cosignatures and the final checkpoint were compared.
    assert {c.what for c in checked.claims} == {f"witness {w}" for w in witnesses(built)} | {
        f"checkpoint {built.full}", f"cosignatures for size {built.full}", f"final checkpoint {built.full}"
    }
    start_and_stop(built.node())
    assert cli("ledger", "audit", "--data-dir", str(built.data)).returncode == 0


# --- a consistent truncation ------------------------------------------------------------------


def test_a_truncated_log_re_derives_but_fails_the_audit_with_what_was_found_and_what_to_do(tmp_path):
    built = build(tmp_path)
    truncate(built, built.cut)
    with pytest.raises(RollbackError) as e:
        run_audit(built)
    assert isinstance(e.value, AuditFailure)  # the CLI reports it as any audit failure, exit 1
    message = str(e.value)
    assert f"the log holds {built.cut} entries" in message
    for w in witnesses(built):
        assert f"witness {w} cosigned size {built.full}" in message
    assert "lost the end of its log" in message and message.endswith(HINT)
    assert HINT == "restore from replicas: eduledger ledger recover --from URL"


def test_a_node_refuses_to_start_on_a_truncated_log_before_it_signs_anything(tmp_path):
    built = build(tmp_path)
    truncate(built, built.cut)
    node = built.node()
    with pytest.raises(RollbackError, match=re.escape(HINT)):
        asyncio.run(node.start())
    assert not node.is_leader and not node.is_sequencer
    node.store.close()
    store = built.store()
    try:  # nothing was signed, cosigned or written at the rolled-back size
        assert store.latest_checkpoint()[0] == built.cut and store.latest_cosigned_size() == built.cut
        assert {size for _, size, _ in store.witness_states()} == {built.full}
    finally:
        store.close()


def test_the_cli_audit_exits_1_and_run_refuses_with_the_message_and_no_traceback(tmp_path):
    built = build(tmp_path)
    truncate(built, built.cut)
    result = cli("ledger", "audit", "--data-dir", str(built.data))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("eduledger: audit failed at rollback: ")
    assert f"cosigned size {built.full}" in result.stderr and HINT in result.stderr
    run = cli("run", "--no-demo", "--no-verify-process", "--data-dir", str(built.data), "--port", str(free_port()), timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.startswith("eduledger: this node refuses to start: the log holds")
    assert HINT in run.stderr and "Traceback" not in run.stderr + run.stdout
    assert "node running" not in run.stdout


@pytest.mark.parametrize(
    ("kept", "finding"),
    [
        ("witness", "witness {w} cosigned size {full}"),
        ("checkpoint", "checkpoint {full} is stored"),
        ("cosignatures", "cosignatures for size {full} are stored"),
        ("final", "final checkpoint {full} is stored"),
    ],
)
def test_each_kind_of_evidence_alone_gives_the_rollback_away(tmp_path, kept, finding):
    built = build(tmp_path)
    truncate(built, built.cut, keep=(kept,))
    store = built.store()
    try:
        with pytest.raises(RollbackError) as e:
            check_store(store, built.genesis, holds_log_key=True)
    finally:
        store.close()
    expected = {finding.format(w=w, full=built.full) for w in witnesses(built)}
    assert set(e.value.findings) == expected
    with pytest.raises(RollbackError):
        run_audit(built)
    with pytest.raises(RollbackError):
        asyncio.run(built.node().start())


def test_a_log_signed_checkpoint_with_another_root_at_a_size_the_log_holds_is_a_discrepancy(tmp_path):
    """A witness state that disagrees with the log (the log was rewritten, not only cut)."""
    built = build(tmp_path)
    other = Checkpoint(NETWORK, built.cut, b"\x07" * 32)
    forged = (other.body() + "\n" + sign_note(other.body(), NETWORK, built.keys.log).line()).encode()
    store = built.store()
    try:
        name = witness_name(NETWORK, INSTITUTIONS[2].id)
        with store.engine.begin() as conn:  # witness_state is a mutable table: no trigger to drop
            conn.execute(sa.text("UPDATE witness_state SET size = :s, note = :n WHERE origin = :o"), {"s": built.cut, "n": forged, "o": f"{name} {NETWORK}"})
        with pytest.raises(RollbackError) as e:
            check_store(store, built.genesis, holds_log_key=False)
    finally:
        store.close()
    (finding,) = e.value.findings
    assert finding.startswith(f"witness {name} signs root ") and f"at size {built.cut}, the log's root there is" in finding
    assert "is not the one those checkpoints signed" in str(e.value)


def test_a_witness_state_not_signed_by_the_log_key_is_a_discrepancy(tmp_path):
    built = build(tmp_path)
    store = built.store()
    try:
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE witness_state SET note = :n"), {"n": b"not a checkpoint\n"})
        with pytest.raises(RollbackError, match="is not a checkpoint signed by the log key"):
            check_store(store, built.genesis, holds_log_key=False)
    finally:
        store.close()


def test_a_replicas_witness_ahead_of_its_log_is_lag_not_a_rollback(tmp_path):
    """A node without the log key: the sequencer pushes checkpoints to its witness before its
    follower mirrors them. Its state ahead of the log is reported, not refused."""
    built = build(tmp_path)
    truncate(built, built.cut, keep=("witness",))
    result = run_audit(built, holds_log_key=False)
    assert result.entries == built.cut
    assert len(result.notes) == len(INSTITUTIONS)
    assert all(f"cosigned size {built.full}, the log holds {built.cut} entries: behind" in n for n in result.notes)
    with pytest.raises(RollbackError):  # the same database on a log-key holder is a rollback
        run_audit(built, holds_log_key=True)


def test_the_claims_are_read_before_the_logs_size(tmp_path):
    """So a leader appending while a standby of its institution checks the shared database
    makes the log look longer than the claims, never shorter: no false alarm."""
    built = build(tmp_path)
    store = built.store()
    try:
        reads: list[str] = []
        for method in ("witness_states", "latest_checkpoint", "latest_cosigned_size", "latest_final", "size"):
            original = getattr(store, method)

            def spy(*a, _m=method, _o=original):
                reads.append(_m)
                return _o(*a)

            setattr(store, method, spy)
        check_store(store, built.genesis, holds_log_key=True)
    finally:
        store.close()
    assert reads[-1] == "size" and set(reads[:-1]) == {"witness_states", "latest_checkpoint", "latest_cosigned_size", "latest_final"}


def test_every_backend_lists_what_the_cross_check_reads(store_url):
    """witness_states, checkpoint_sizes and latest_cosigned_size (ledger/storage/base.py), same on SQLite, PostgreSQL, memory."""
    import hashlib

    from ledger.storage import StoredBlock

    store = open_store(store_url)
    try:
        assert (store.witness_states(), store.checkpoint_sizes(), store.latest_cosigned_size()) == ([], [], None)
        header = b"{}"
        store.append_block(StoredBlock(0, 0, 5, header, hashlib.sha256(header).digest()), [(hashlib.sha256(b"%d" % i).digest(), b"e") for i in range(5)])
        for size in (5, 2, 3):
            store.add_checkpoint(size, b"cp%d" % size)
        store.add_cosignature(3, "w/b", b"c")
        store.add_cosignature(2, "w/a", b"c")
        store.cas_witness_state("w/b log", None, 3, b"n3")
        store.cas_witness_state("w/a log", None, 2, b"n2")
        assert store.checkpoint_sizes() == [2, 3, 5] and store.checkpoint_sizes(3) == [3, 5] and store.checkpoint_sizes(6) == []
        assert store.latest_cosigned_size() == 3
        assert store.witness_states() == [("w/a log", 2, b"n2"), ("w/b log", 3, b"n3")]
        with pytest.raises(ValueError):
            store.checkpoint_sizes(-1)
    finally:
        store.close()


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_truncated_postgres_log_fails_the_audit_and_its_node_refuses_to_start(tmp_path, pg_store_url):
    built = build(tmp_path, pg_store_url)
    assert run_audit(built).entries == built.full
    truncate(built, built.cut)
    with pytest.raises(RollbackError) as e:
        run_audit(built)
    assert f"the log holds {built.cut} entries" in str(e.value) and str(e.value).endswith(HINT)
    node = built.node()
    with pytest.raises(RollbackError, match=re.escape(HINT)):
        asyncio.run(node.start())
    node.leadership.release()
    node.store.close()
    store = built.store()
    try:
        assert store.size() == built.cut  # the truncation stands; nothing was re-signed
        assert store.latest_checkpoint()[0] == built.cut
    finally:
        store.close()
