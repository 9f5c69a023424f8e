"""A witness's key and state live apart from the data directory, so a copy or a restore cannot clone or roll it back.

Issue 15: every institution's witness key and state are kept in a witness directory
(``<data>.witness`` by default, ledger/node/witnessdir.py), not in the data directory
and the log's database. Proved here with real processes and real SQLite files:

1. a copy of the sequencer's data directory started elsewhere holds no witness and makes nothing final;
2. a log database restored from an older copy leaves the witness state alone: the witness refuses the old tree,
   and the sequencer refuses to start on it;
3. a witness directory restored from an older copy asks its peers before it cosigns (503 meanwhile), moves to the
   newest checkpoint its own key cosigned, and then refuses a fork of what it had cosigned; with no peer answering
   it starts after the bounded wait;
4. two processes on one witness directory: the second refuses;
5. the old layout (witness keys in ``<data>/keys``, witness state in the log's database) migrates at start.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from keys.keyfile import load_signer
from ledger.errors import KeyFileError, PushbackError
from ledger.model.entries import Statement, sign_batch
from ledger.network.witness import AddCheckpoint
from ledger.node import Node, NodeOptions
from ledger.node.datadir import default_witness_dir, init_network, load_keys, witness_name
from ledger.node.witnessdir import STATE_FILE, WitnessDirInUse, open_witness_dir
from ledger.storage import CompareAndSwapError, open_store
from ledger.storage.witness_state import SqlWitnessStateStore, sqlite_url
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint, parse_checkpoint
from ledger.tlog.note import sign_note, verify_note
from ledger.tlog.timefmt import format_time
from ledger.tlog.tree import Tree
from tests.fixtures_network import INSTITUTIONS as MINI_INSTITUTIONS
from tests.fixtures_network import NETWORK as MINI_NETWORK
from tests.netutil import NETWORK, SEQ, Network, all_leaf_hashes, wait_until
from tests.nodeproc import FAST_KDF, PASSPHRASE, NodeProcess, free_port

# --- helpers ----------------------------------------------------------------------------------


def sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the backup API), as a backup tool takes it."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def witnessed_size(net: Network, inst: str) -> int:
    r = httpx.get(net.url(inst) + "/api/v1/network/witnessed", timeout=5)
    return parse_checkpoint(r.content.split(b"\n\n", 1)[0].decode() + "\n").size if r.status_code == 200 else 0


def add_checkpoint(url: str, old: int, proof: list[bytes], note: bytes) -> httpx.Response:
    return httpx.post(url + "/add-checkpoint", content=AddCheckpoint(old, tuple(proof), note).to_bytes(), timeout=10)


def log_key(net: Network):
    return load_signer(net.source / "keys" / "log.key", PASSPHRASE.encode())[0]


def signed(key, leaves: list[bytes]) -> bytes:
    cp = Checkpoint(NETWORK, len(leaves), merkle.root(leaves))
    return (cp.body() + "\n" + sign_note(cp.body(), NETWORK, key).line()).encode()


def final_everywhere(net: Network, insts, size: int) -> None:
    for inst in insts:
        wait_until(f"{inst} final at {size}", lambda inst=inst: net.final_size(inst) >= size)


# --- the witness state store ------------------------------------------------------------------


def test_the_witness_store_moves_only_by_compare_and_swap_and_is_durable(tmp_path):
    store = SqlWitnessStateStore(sqlite_url(tmp_path / STATE_FILE))
    try:
        store.cas_witness_state("w log", None, 3, b"n3")
        with pytest.raises(CompareAndSwapError) as e:
            store.cas_witness_state("w log", None, 4, b"n4")
        assert e.value.current_size == 3
        with pytest.raises(CompareAndSwapError):
            store.cas_witness_state("w log", 2, 4, b"n4")
        with pytest.raises(ValueError):
            store.cas_witness_state("w log", 3, 2, b"back")
        store.cas_witness_state("w log", 3, 5, b"n5")
        assert store.witness_state("w log") == (5, b"n5") and store.witness_states() == [("w log", 5, b"n5")]
        with store._engine.connect() as c:  # synchronous=FULL, one file (rollback journal)
            assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
    finally:
        store.close()
    reopened = SqlWitnessStateStore(sqlite_url(tmp_path / STATE_FILE))
    try:
        assert reopened.witness_state("w log") == (5, b"n5")
    finally:
        reopened.close()


@pytest.mark.postgres
def test_the_witness_store_on_postgresql_is_shared_by_compare_and_swap(pg_store_url):
    a, b = SqlWitnessStateStore(pg_store_url), SqlWitnessStateStore(pg_store_url)
    try:
        a.cas_witness_state("w log", None, 1, b"n1")
        with pytest.raises(CompareAndSwapError) as e:
            b.cas_witness_state("w log", None, 2, b"n2")  # the other process lost: it sees size 1
        assert e.value.current_size == 1
        b.cas_witness_state("w log", 1, 2, b"n2")
        assert a.witness_state("w log") == (2, b"n2")
    finally:
        a.close()
        b.close()


def test_a_witness_db_that_is_the_logs_own_database_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with pytest.raises(Exception, match="names the log's own database"):
        open_witness_dir(tmp_path / "w", data_dir=tmp_path, log_store=None, network=NETWORK, witness_db=url, log_database_url=url)


# --- 4. one process per witness directory ---------------------------------------------------


def _mini_network(tmp_path: Path) -> Path:
    data = tmp_path / "node"
    init_network(
        data, network=MINI_NETWORK, institutions=MINI_INSTITUTIONS, sequencer=MINI_INSTITUTIONS[0].id, quorum=2,
        passphrase=PASSPHRASE.encode(), created=int(time.time()) - 3600, kdf_params=FAST_KDF,
    )
    return data


def test_init_network_puts_the_witness_keys_in_the_witness_directory_only(tmp_path):
    data = _mini_network(tmp_path)
    assert not list((data / "keys").glob("*.witness.key"))
    wkeys = sorted(p.name for p in (default_witness_dir(data) / "keys").glob("*"))
    assert wkeys == sorted(f"{i.id}.witness.key" for i in MINI_INSTITUTIONS)
    assert oct((default_witness_dir(data) / "keys").stat().st_mode & 0o777) == "0o700"
    assert set(load_keys(data, PASSPHRASE.encode()).witness) == {i.id for i in MINI_INSTITUTIONS}
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    assert load_keys(copy, PASSPHRASE.encode()).witness == {}  # a copy of the data directory carries no witness


def test_a_second_process_on_one_witness_directory_is_refused_with_exit_1(tmp_path):
    data = _mini_network(tmp_path)
    held = open_witness_dir(default_witness_dir(data), data_dir=data, log_store=None, network=MINI_NETWORK)
    try:
        code = (
            "from pathlib import Path; from ledger.node.witnessdir import open_witness_dir as o; "
            f"o(Path({str(default_witness_dir(data))!r}), data_dir=Path({str(data)!r}), log_store=None, network='x')"
        )
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and f"{WitnessDirInUse.__name__}: the witness directory" in other.stderr
        env = {**os.environ, "EDULEDGER_KEY_PASSPHRASE": PASSPHRASE}
        run = subprocess.run(
            [sys.executable, "-m", "ledger.cli.main", "run", "--no-demo", "--no-verify-process", "--data-dir", str(data), "--port", str(free_port())],
            capture_output=True, text=True, timeout=120, env=env,
        )
        assert run.returncode == 1, run.stdout + run.stderr
        assert run.stderr.startswith("eduledger: this node refuses to start: the witness directory")
        assert f"in use by another process (pid {os.getpid()})" in run.stderr and "Traceback" not in run.stderr
    finally:
        held.close()
    again = open_witness_dir(default_witness_dir(data), data_dir=data, log_store=None, network=MINI_NETWORK)
    again.close()  # released: the next process gets it


# --- 5. the old layout migrates ---------------------------------------------------------------


def test_the_old_layout_migrates_at_start_keys_moved_state_copied_then_the_log_databases_rows_are_ignored(tmp_path):
    data = _mini_network(tmp_path)
    wdir = default_witness_dir(data)
    url = f"sqlite:///{data / 'ledger.db'}"
    keys = load_keys(data, PASSPHRASE.encode())
    # The old layout: witness keys in <data>/keys, witness state in the log's database.
    for p in (wdir / "keys").glob("*.witness.key"):
        shutil.move(p, data / "keys" / p.name)
    shutil.rmtree(wdir)
    node = Node(open_store(url), load_genesis_of(data), keys)  # no witness store: the states go to the log's database
    node.log.open()
    issuer = MINI_INSTITUTIONS[1].id
    st = [Statement(MINI_NETWORK, "credential.anchor", issuer, {"digest": f"{k:064x}", "type": "t", "issued_at": format_time(int(time.time()) - 60)}) for k in range(2)]
    node.log.append(sign_batch(st, keys.signing[issuer]))
    node.log.sign_checkpoint()
    node.log.collect_cosignatures()
    size = node.store.latest_final()[0]
    old_rows = node.store.witness_states()
    assert {s for _, s, _ in old_rows} == {size} and len(old_rows) == len(MINI_INSTITUTIONS)
    node.store.close()

    migrated = Node.from_data_dir(data, url, PASSPHRASE.encode())
    try:
        assert not list((data / "keys").glob("*.witness.key"))
        assert sorted(p.name for p in (wdir / "keys").glob("*.witness.key")) == sorted(f"{i.id}.witness.key" for i in MINI_INSTITUTIONS)
        assert set(migrated.witnesses) == {i.id for i in MINI_INSTITUTIONS}
        assert migrated.witness_store.witness_states() == old_rows
        assert len(migrated._witness_dir.migrated) == 2 * len(MINI_INSTITUTIONS)
    finally:
        migrated.store.close()
        migrated._witness_dir.close()
    # From now on the log database's rows are never read: rolling them back changes nothing.
    conn = sqlite3.connect(data / "ledger.db")
    conn.execute("UPDATE witness_state SET size = 0, note = x'00'")
    conn.commit()
    conn.close()
    again = Node.from_data_dir(data, url, PASSPHRASE.encode())
    assert again._witness_dir.migrated == []
    assert {s for _, s, _ in again.witness_store.witness_states()} == {size}

    async def start_and_stop() -> None:
        await again.start()  # the cross-check reads the witness store: no complaint about the zeroed rows
        await again.stop()

    asyncio.run(start_and_stop())
    audit = subprocess.run(
        [sys.executable, "-m", "ledger.cli.main", "ledger", "audit", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "EDULEDGER_KEY_PASSPHRASE": PASSPHRASE},
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_a_stray_witness_key_that_differs_from_the_witness_directorys_is_refused(tmp_path):
    data = _mini_network(tmp_path)
    inst = MINI_INSTITUTIONS[2].id
    stray = data / "keys" / f"{inst}.witness.key"
    stray.write_bytes(b"another key")
    with pytest.raises(KeyFileError, match="different witness keys"):
        open_witness_dir(default_witness_dir(data), data_dir=data, log_store=None, network=MINI_NETWORK)
    assert stray.exists()
    stray.write_bytes((default_witness_dir(data) / "keys" / stray.name).read_bytes())
    wd = open_witness_dir(default_witness_dir(data), data_dir=data, log_store=None, network=MINI_NETWORK)
    wd.close()
    assert not stray.exists()  # an identical copy is removed


def load_genesis_of(data: Path):
    from ledger.node.datadir import load_genesis

    return load_genesis(data)


# --- 3b. the catch-up's wait is bounded -------------------------------------------------------


def test_with_no_peer_answering_the_witness_answers_503_then_starts_after_the_bounded_wait(tmp_path, caplog):
    from ledger.node.datadir import write_peers

    data = _mini_network(tmp_path)
    inst = MINI_INSTITUTIONS[1].id
    key = load_signer(data / "keys" / "log.key", PASSPHRASE.encode())[0]
    cp = Checkpoint(MINI_NETWORK, 1, merkle.leaf_hash(b"x"))
    note = (cp.body() + "\n" + sign_note(cp.body(), MINI_NETWORK, key).line()).encode()
    # A node holding one witness key and no log key, its peers at ports where nothing listens.
    write_peers(data, {i.id: f"http://127.0.0.1:{free_port()}" for i in MINI_INSTITUTIONS})
    for p in (default_witness_dir(data) / "keys").glob("*.witness.key"):
        if not p.name.startswith(inst + "."):
            p.unlink()
    (data / "keys" / "log.key").unlink()
    node = Node.from_data_dir(data, f"sqlite:///{data / 'ledger.db'}", PASSPHRASE.encode(), options=NodeOptions(witness_catchup_wait=1.0))

    async def go() -> None:
        await node.start()
        w = node.witnesses[inst]
        with pytest.raises(PushbackError) as e:
            w.add_checkpoint(0, [], note)
        assert e.value.retry_after >= 1 and "asking its peers" in str(e.value)
        task = next(t for t in node._tasks if t.get_name() == "witness-catch-up")
        done = await asyncio.wait_for(task, 30)
        assert w.not_ready is None and done.answered == () and len(done.silent) == len(MINI_INSTITUTIONS) - 1
        assert w.add_checkpoint(0, [], note).name == witness_name(MINI_NETWORK, inst)  # cosigns after the bounded wait
        await node.stop()

    with caplog.at_level("WARNING", logger="eduledger.witness"):
        asyncio.run(go())
    assert any("no peer answered within 1 s" in r.getMessage() for r in caplog.records)


# --- real processes: 1, 2, 3 -----------------------------------------------------------------


@pytest.fixture
def net(tmp_path):
    n = Network(tmp_path)
    try:
        yield n
    finally:
        n.stop_all()


def test_a_copy_of_the_sequencers_data_directory_has_no_witness_and_makes_nothing_final(net, tmp_path):
    net.start()
    net.submit(SEQ, "ipk", 0, 5)
    final_everywhere(net, net.nodes, 6)
    # The copy: the data directory as an operator would copy it (the database by the backup API),
    # started on another machine that reaches none of the other nodes (its peers.json emptied).
    copy = tmp_path / "copy"
    shutil.copytree(net.dirs[SEQ], copy, ignore=shutil.ignore_patterns("ledger.db*"))
    sqlite_copy(net.dirs[SEQ] / "ledger.db", copy / "ledger.db")
    (copy / "peers.json").write_text("{}\n")
    copied_final = net.final_size(SEQ)
    clone = NodeProcess(copy, port=free_port(), env={"EDULEDGER_BATCH_MS": "50"}).start()
    try:
        assert list((default_witness_dir(copy) / "keys").glob("*")) == []  # no witness key travelled with the copy
        r = add_checkpoint(clone.url, 0, [], net.checkpoint(SEQ))
        assert r.status_code == 404 and "holds no witness key" in r.json()["detail"]
        assert httpx.get(clone.url + "/api/v1/network/witnessed", timeout=5).status_code == 404
        # It holds the log key and signs what it appends, but no witness of this network is at its disposal.
        r = httpx.post(clone.url + "/api/v1/ledger/entries", json=net.batch("uni", 500, 3), timeout=60)
        assert r.status_code == 200, r.text
        latest = wait_until(
            "the copy signing its new size",
            lambda: (c := httpx.get(clone.url + "/api/v1/ledger/checkpoint/latest", timeout=5)).status_code == 200
            and parse_checkpoint(c.content.split(b"\n\n", 1)[0].decode() + "\n").size > copied_final and c.content,
        )
        text, _, sigs = latest.partition(b"\n\n")
        assert [line for line in sigs.decode().splitlines() if line] and all(f" {NETWORK} " in line + " " for line in sigs.decode().splitlines() if line)
        assert len([line for line in sigs.decode().splitlines() if line]) == 1  # the log's signature only: no cosignature
        assert httpx.get(clone.url + "/api/v1/ledger/status", timeout=5).json()["final_size"] == copied_final
    finally:
        clone.kill()
    # The real network went on, unaffected.
    net.submit(SEQ, "ipk", 100, 3)
    final_everywhere(net, ("ipk", "uni", "lyc"), copied_final + 3)


def test_a_restored_log_database_keeps_the_witness_state_the_old_tree_is_refused_and_the_sequencer_will_not_start(net, tmp_path):
    net.start()
    net.submit(SEQ, "ipk", 0, 4)
    final_everywhere(net, ("ipk", "uni", "lyc"), 5)
    old_size = net.final_size("ipk")
    old_ipk, old_seq = tmp_path / "ipk-old.db", tmp_path / "seq-old.db"
    sqlite_copy(net.dirs["ipk"] / "ledger.db", old_ipk)
    sqlite_copy(net.dirs[SEQ] / "ledger.db", old_seq)
    old_note = net.checkpoint("ipk")
    net.submit(SEQ, "uni", 100, 4)
    wait_until("ipk's witness cosigned past the backup", lambda: witnessed_size(net, "ipk") > old_size)
    newer = witnessed_size(net, "ipk")

    # A witness node: its log database restored from the older copy, its witness directory untouched.
    net.nodes["ipk"].stop()
    for suffix in ("", "-wal", "-shm"):
        (net.dirs["ipk"] / f"ledger.db{suffix}").unlink(missing_ok=True)
    shutil.copy2(old_ipk, net.dirs["ipk"] / "ledger.db")
    net.nodes["ipk"].start()
    wait_until("ipk's witness ready", lambda: add_checkpoint(net.url("ipk"), 0, [], old_note).status_code != 503)
    r = add_checkpoint(net.url("ipk"), 0, [], old_note)
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/x.tlog.size")
    assert int(r.text) >= newer  # the witness state was not rolled back with the log's database
    wait_until("ipk mirrored back up", lambda: net.status("ipk")["size"] >= newer)

    # The sequencer: its own witness state (witness directory) is beyond the restored log: it refuses to start.
    net.nodes[SEQ].stop()
    for suffix in ("", "-wal", "-shm"):
        (net.dirs[SEQ] / f"ledger.db{suffix}").unlink(missing_ok=True)
    shutil.copy2(old_seq, net.dirs[SEQ] / "ledger.db")
    env = {**os.environ, "EDULEDGER_KEY_PASSPHRASE": PASSPHRASE}
    run = subprocess.run(
        [sys.executable, "-m", "ledger.cli.main", "run", "--no-demo", "--no-verify-process", "--data-dir", str(net.dirs[SEQ]), "--port", str(free_port())],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.startswith("eduledger: this node refuses to start: the log holds") and "ledger recover" in run.stderr


def test_a_witness_directory_restored_from_an_older_copy_catches_up_from_its_peers_before_it_cosigns(net, tmp_path):
    net.start()
    net.submit(SEQ, "ipk", 0, 4)
    final_everywhere(net, ("ipk", "uni", "lyc"), 5)
    wait_until("ipk's witness cosigned", lambda: witnessed_size(net, "ipk") >= 5)
    before = witnessed_size(net, "ipk")
    # The whole of ipk's host, as a backup tool copies it: data directory and witness directory.
    backup = tmp_path / "backup"
    backup.mkdir()
    sqlite_copy(net.dirs["ipk"] / "ledger.db", backup / "ledger.db")
    sqlite_copy(default_witness_dir(net.dirs["ipk"]) / STATE_FILE, backup / STATE_FILE)
    net.submit(SEQ, "uni", 100, 6)
    wait_until("ipk's witness cosigned past the backup", lambda: witnessed_size(net, "ipk") > before)
    cosigned = witnessed_size(net, "ipk")

    # Restore both, with lyc down so the catch-up round waits for it (bounded by the wait set here).
    net.nodes["ipk"].stop()
    net.nodes["lyc"].stop()
    for d, name in ((net.dirs["ipk"], "ledger.db"), (default_witness_dir(net.dirs["ipk"]), STATE_FILE)):
        for suffix in ("", "-wal", "-shm", "-journal"):
            (d / f"{name}{suffix}").unlink(missing_ok=True)
        shutil.copy2(backup / name, d / name)
    restored = NodeProcess(net.dirs["ipk"], port=net.ports["ipk"], env={**net.nodes["ipk"].extra_env, "EDULEDGER_WITNESS_CATCHUP_WAIT": "20"})
    net.nodes["ipk"] = restored.start()

    # A fork of what ipk cosigned before the restore that extends what the restored state says: with a
    # valid consistency proof from there, a witness that had not caught up would cosign it.
    real = all_leaf_hashes(net.url("uni"))[:before]
    fork = real + [merkle.leaf_hash(f"fork {i}".encode()) for i in range(cosigned - before + 2)]
    note = signed(log_key(net), fork)
    proof = Tree(fork).consistency_proof(before, len(fork))
    r = add_checkpoint(net.url("ipk"), before, proof, note)
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1 and "asking its peers" in r.json()["detail"]
    # It moved to the newest checkpoint its own key cosigned, which the answering peers hold ...
    wait_until("ipk's witness caught up", lambda: witnessed_size(net, "ipk") >= cosigned)
    # ... and cosigns again once the round is over (lyc never answered: the bounded wait).
    r = wait_until("ipk answering again", lambda: (r := add_checkpoint(net.url("ipk"), before, proof, note)).status_code != 503 and r, timeout=60)
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/x.tlog.size") and int(r.text) >= cosigned
    state_note = httpx.get(net.url("ipk") + "/api/v1/network/witnessed", timeout=5).content
    witnessed = parse_checkpoint(verify_note(state_note, [_log_verifier(net)]).text)
    assert witnessed.root == merkle.root(all_leaf_hashes(net.url("uni"))[: witnessed.size])  # the real tree, not the fork
    net.nodes["lyc"].start()
    net.submit(SEQ, "ipk", 200, 3)
    final_everywhere(net, ("ipk", "uni", "lyc"), cosigned + 3)


def _log_verifier(net: Network):
    from ledger.tlog.note import Verifier

    return Verifier.from_vkey(net.genesis.log_vkey)
