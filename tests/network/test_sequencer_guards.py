"""The sequencer checks itself: no silent fork, ever (issue 15).

Three institutions (the sequencer ``seq``, ``ipk``, ``uni``; quorum 2), each a real
:class:`ledger.node.Node` served over HTTP by uvicorn in a thread of this process, with its
own SQLite database and data directory (``split_network``), so the nodes talk to each other
exactly as separate processes do. Every wait polls behaviour with a deadline; nothing asserts
on wall-clock time.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from ledger.model.entries import Statement, sign_batch
from ledger.model.receipts import Receipt
from ledger.node import Node, NodeOptions
from ledger.node.datadir import (
    InstitutionSpec,
    init_network,
    load_keys,
    load_peers,
    split_network,
    witness_name,
)
from ledger.storage import open_store
from ledger.tlog.checkpoint import parse_checkpoint
from ledger.tlog.note import Verifier, verify_note
from ledger.tlog.timefmt import format_time
from portfolio_api.app import create_app
from portfolio_api.settings import Settings
from tests.netutil import wait_until
from tests.nodeproc import FAST_KDF, PASSPHRASE, free_port

NET = "guards.example/net"
SEQ, IPK, UNI = "seq", "ipk", "uni"
INSTITUTIONS = (
    InstitutionSpec(SEQ, "Olympiad organiser", "olympiad-organiser"),
    InstitutionSpec(IPK, "Teacher-training institute", "training-institute"),
    InstitutionSpec(UNI, "University", "university"),
)


class Served:
    """One node behind uvicorn in a thread (lifespan runs Node.start and Node.stop)."""

    def __init__(self, node: Node, data_dir: Path, port: int) -> None:
        import uvicorn

        self.node = node
        app = create_app(Settings(data_dir=data_dir, portfolio=False), node=node)
        # A peer's keep-alive request arriving while the server shuts down can leave uvicorn waiting
        # for that connection forever (uvicorn 0.55, h11); the grace period bounds the wait.
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the node did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "the node did not stop"


class Net:
    """The three institutions, one directory and one SQLite database each."""

    def __init__(self, root: Path) -> None:
        source = root / "source"
        self.genesis = init_network(
            source,
            network=NET,
            institutions=INSTITUTIONS,
            sequencer=SEQ,
            quorum=2,
            passphrase=PASSPHRASE.encode(),
            created=int(time.time()) - 60,
            kdf_params=FAST_KDF,
        )
        self.root = root
        self.ports = {i.id: free_port() for i in INSTITUTIONS}
        self.urls = {inst: f"http://127.0.0.1:{p}" for inst, p in self.ports.items()}
        self.dirs = split_network(source, root / "nodes", self.urls)
        self.served: dict[str, Served] = {}
        self.signer = load_keys(self.dirs[IPK], PASSPHRASE.encode()).signing[IPK]
        self.counter = 0

    def db(self, inst: str) -> Path:
        return self.dirs[inst] / "ledger.db"

    def node(self, inst: str, data_dir: Path | None = None) -> Node:
        d = data_dir or self.dirs[inst]
        return Node(
            open_store(f"sqlite:///{d / 'ledger.db'}"),
            self.genesis,
            load_keys(d, PASSPHRASE.encode()),
            peers=load_peers(d),
            options=NodeOptions(batch_ms=10),
        )

    def start(self, *insts: str) -> None:
        for inst in insts or [i.id for i in INSTITUTIONS]:
            self.served[inst] = Served(self.node(inst), self.dirs[inst], self.ports[inst])

    def stop(self, inst: str) -> None:
        self.served.pop(inst).stop()

    def stop_all(self) -> None:
        for inst in list(self.served):
            self.stop(inst)

    def __getitem__(self, inst: str) -> Node:
        return self.served[inst].node

    # --- HTTP -------------------------------------------------------------------------

    def statements(self, n: int) -> list[Statement]:
        """n fresh anchors by ipk (never submitted before)."""
        t = format_time(int(time.time()) - 5)
        out = [Statement(NET, "credential.anchor", IPK, {"digest": f"{k:064x}", "type": "guard-test", "issued_at": t}) for k in range(self.counter, self.counter + n)]
        self.counter += n
        return out

    def entries(self, n: int) -> dict:
        """n fresh anchors signed by ipk, as a submission body."""
        return {"entries": [e.to_json() for e in sign_batch(self.statements(n), self.signer)]}

    def post(self, inst: str, n: int) -> httpx.Response:
        return httpx.post(self.urls[inst] + "/api/v1/ledger/entries", json=self.entries(n), timeout=30)

    def submit(self, n: int) -> None:
        r = self.post(SEQ, n)
        assert r.status_code == 200, (r.status_code, r.text)

    def network_status(self, inst: str) -> dict:
        return httpx.get(self.urls[inst] + "/api/v1/network/status", timeout=10).json()

    def final_size(self, inst: str) -> int:
        return httpx.get(self.urls[inst] + "/api/v1/ledger/status", timeout=5).json()["final_size"] or 0

    def witnessed_size(self, inst: str) -> int:
        r = httpx.get(self.urls[inst] + "/api/v1/network/witnessed", timeout=5)
        return size_of(r.content) if r.status_code == 200 else 0

    def status_cli(self, inst: str):
        """``eduledger network status --url`` (in this process: its exit code and standard error)."""
        from typer.testing import CliRunner

        from ledger.cli.main import app

        return CliRunner().invoke(app, ["network", "status", "--url", self.urls[inst]])

    def settled(self, size: int) -> bool:
        """The sequencer's log is final at ``size`` and both other witnesses hold it."""
        return self.final_size(SEQ) >= size and all(self.witnessed_size(i) >= size for i in (IPK, UNI))


def size_of(note: bytes) -> int:
    return parse_checkpoint(note.split(b"\n\n", 1)[0].decode() + "\n").size


def log_signed(net: Net, note: bytes) -> bytes:
    """The note's checkpoint text, after checking its log signature."""
    return verify_note(note, [Verifier.from_vkey(net.genesis.log_vkey)]).text.encode()


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite database (the backup API, as an operator's backup)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def restore_db(backup: Path, db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copy2(backup, db)


def clone_data_dir(net: Net, root: Path) -> Path:
    """A copy of the sequencer's data directory (log key included) and of its database."""
    clone = root / "clone"
    shutil.copytree(net.dirs[SEQ], clone, ignore=shutil.ignore_patterns("ledger.db*"))
    copy_db(net.db(SEQ), clone / "ledger.db")
    return clone


def append_in_clone(net: Net, clone_dir: Path, n: int, witnesses: tuple[str, ...]) -> bytes:
    """The clone appends n entries of its own, signs the larger tree with the log key and has
    ``witnesses`` cosign it (each extends what it cosigned, so each does). Returns its note."""
    clone = net.node(SEQ, clone_dir)
    clone.log.cosigners = [c for c in clone.log.cosigners if c.name in {witness_name(NET, w) for w in witnesses}]
    assert len(clone.log.cosigners) == len(witnesses)
    clone.log.open()
    results, _ = clone.log.append(sign_batch(net.statements(n), net.signer))
    assert all(isinstance(r, Receipt) for r in results), results
    note = clone.log.sign_checkpoint()
    clone.log.collect_cosignatures()
    clone.store.close()
    return note


@pytest.fixture
def net(tmp_path):
    n = Net(tmp_path)
    try:
        yield n
    finally:
        n.stop_all()


def accepted(r: httpx.Response) -> httpx.Response | None:
    return r if r.status_code == 200 else None


def assert_refused(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    assert int(r.headers["retry-after"]) >= 1
    for w in words:
        assert w in r.json()["detail"], (w, r.json()["detail"])


# --- a sequencer restored from an older backup ---------------------------------------------


def test_a_sequencer_restored_from_an_older_backup_refuses_to_sign_or_sequence_and_alerts(net, tmp_path):
    net.start()
    net.submit(5)
    old_size = net[SEQ].log.size
    wait_until("the first entries to be final and held by both witnesses", lambda: net.settled(old_size), timeout=30)
    backup = tmp_path / "backup.db"
    copy_db(net.db(SEQ), backup)
    for _ in range(3):
        net.submit(4)
    real_size = net[SEQ].log.size
    assert real_size > old_size
    wait_until("the larger log to be final and held by both witnesses", lambda: net.settled(real_size), timeout=30)
    wait_until("ipk to mirror the larger log", lambda: net.final_size(IPK) >= real_size, timeout=30)
    real_final = httpx.get(net.urls[IPK] + "/checkpoint", timeout=5).content
    assert size_of(real_final) == real_size

    net.stop(SEQ)
    restore_db(backup, net.db(SEQ))
    net.start(SEQ)
    seq = net[SEQ]
    assert seq.log.size == old_size

    # Writes are refused from the first moment (503 with Retry-After and the reason) ...
    assert_refused(net.post(SEQ, 1))
    alert = wait_until("the sequencer alert", lambda: net.network_status(SEQ)["sequencer_alert"], timeout=30)
    assert alert["kind"] == "beyond" and alert["witness_size"] == real_size and alert["size"] == old_size
    assert f"{real_size}" in alert["answer"] and "text/x.tlog.size" in alert["answer"]
    assert "eduledger ledger recover --from" in alert["reason"]
    assert_refused(net.post(SEQ, 1), "witness", f"{real_size}")
    # ... and, forwarded by a replica, too.
    assert net.post(IPK, 1).status_code == 503
    # The witnesses' log-signed checkpoint of the larger size is the second-signer evidence.
    fork = wait_until("the fork alert with both notes", lambda: net.network_status(SEQ)["fork_alert"], timeout=30)
    assert size_of(fork["new"].encode()) == real_size and size_of(fork["old"].encode()) == old_size
    log_signed(net, fork["new"].encode())
    log_signed(net, fork["old"].encode())
    status = net.network_status(SEQ)
    assert status["sequencing_refused"] and "fork" in status["sequencing_refused"]
    cli = net.status_cli(SEQ)
    assert cli.exit_code == 1, cli.output
    assert "SEQUENCER ALERT" in cli.stderr and "FORK ALERT" in cli.stderr and f"\n{real_size}\n" in cli.stderr

    # Nothing was signed at a reused index, so nothing there can become final.
    time.sleep(1.5)  # a few rounds of the retry and self-check loops
    latest = seq.store.latest_checkpoint()
    assert latest is not None and latest[0] == old_size
    assert seq.log.size == old_size
    assert httpx.get(net.urls[IPK] + "/checkpoint", timeout=5).content == real_final
    assert net.witnessed_size(IPK) == net.witnessed_size(UNI) == real_size

    # An append that was being stored when the alert came is committed, never signed ...
    results, _ = seq.log.append(sign_batch(net.statements(1), net.signer))
    assert isinstance(results[0], Receipt)
    # ... not even by the restart's recovery of committed entries: the alerts are kept, and the
    # restarted sequencer runs, refuses writes and signs nothing, before any witness answers.
    net.stop(SEQ)
    net.start(SEQ)
    assert_refused(net.post(SEQ, 1), "fork")
    assert net[SEQ].store.size() == old_size + 1
    assert net[SEQ].store.latest_checkpoint()[0] == old_size
    assert net.status_cli(SEQ).exit_code == 1


# --- a second holder of the log key ---------------------------------------------------------


def test_a_second_signer_with_a_larger_tree_shown_through_a_peer_is_an_alert_at_once(net, tmp_path):
    net.start()
    net.submit(4)
    size = net[SEQ].log.size
    wait_until("the log final and held by both witnesses", lambda: net.settled(size), timeout=30)
    clone = clone_data_dir(net, tmp_path)
    # The copy signs a larger tree of its own; the witnesses cosign it (it extends what they hold).
    rogue = append_in_clone(net, clone, 3, (IPK, UNI))
    assert size_of(rogue) == size + 3
    wait_until("uni's witness to hold the clone's checkpoint", lambda: net.witnessed_size(UNI) == size + 3, timeout=10)
    # The sequencer never pushed anything since: it sees the clone's note only through its
    # peers (their witnessed checkpoints), and raises the alert without waiting to grow past it.
    fork = wait_until("the fork alert on the sequencer", lambda: net.network_status(SEQ)["fork_alert"], timeout=30)
    assert log_signed(net, fork["new"].encode()) == log_signed(net, rogue)
    assert size_of(fork["old"].encode()) == size
    assert "beyond this sequencer's log" in fork["reason"]
    assert_refused(net.post(SEQ, 1), "fork")
    assert net.status_cli(SEQ).exit_code == 1
    latest = net[SEQ].store.latest_checkpoint()
    assert latest is not None and latest[0] == size
    # A replica cannot prove the pair (nobody serves the clone's tree): a warning, never a halt.
    pending = wait_until("ipk to list the pair as not yet proved", lambda: net.network_status(IPK)["split_view_pending"], timeout=30)
    assert f"and {size + 3}" in pending[0]
    assert net.network_status(IPK)["fork_alert"] is None
    assert httpx.get(net.urls[IPK] + "/api/v1/ledger/entries/0", timeout=5).status_code == 200


def test_a_second_signer_of_the_same_size_with_another_root_stops_the_sequencer_through_the_witness(net, tmp_path):
    net.start()
    net.submit(4)
    size = net[SEQ].log.size
    wait_until("the log final and held by both witnesses", lambda: net.settled(size), timeout=30)
    clone = clone_data_dir(net, tmp_path)
    net.stop(UNI)  # uni misses what the sequencer signs next
    net.submit(3)
    assert net[SEQ].log.size == size + 3
    # The real sequencer is down while the copy shows uni another tree of the same size.
    net.stop(SEQ)
    net.start(UNI)
    rogue = append_in_clone(net, clone, 3, (UNI,))
    assert size_of(rogue) == size + 3 and net.witnessed_size(UNI) == size + 3
    net.start(SEQ)
    # Asked for the missing cosignature, uni answers that it cosigned another checkpoint of that size.
    alert = wait_until("the sequencer alert", lambda: net.network_status(SEQ)["sequencer_alert"], timeout=30)
    assert alert["kind"] == "fork" and alert["witness"] == witness_name(NET, UNI) and alert["size"] == size + 3
    fork = wait_until("the fork alert on the sequencer", lambda: net.network_status(SEQ)["fork_alert"], timeout=30)
    assert {log_signed(net, fork["old"].encode()), log_signed(net, fork["new"].encode())} >= {log_signed(net, rogue)}
    assert size_of(fork["old"].encode()) == size_of(fork["new"].encode()) == size + 3
    assert_refused(net.post(SEQ, 1))
    assert net.status_cli(SEQ).exit_code == 1


# --- honest restarts -------------------------------------------------------------------------


def test_an_honest_restart_with_the_witnesses_agreeing_resumes_sequencing(net):
    net.start()
    net.submit(4)
    size = net[SEQ].log.size
    wait_until("the log final and held by both witnesses", lambda: net.settled(size), timeout=30)
    net.stop(SEQ)
    net.start(SEQ)
    # The witnesses hold exactly this log's size: the start-up round has nothing against it.
    r = wait_until("a write to be accepted after the restart", lambda: accepted(net.post(SEQ, 2)), timeout=30)
    assert all(item["accepted"] for item in r.json()["results"])
    wait_until("the new entries to be final", lambda: net.settled(size + 2), timeout=30)
    status = net.network_status(SEQ)
    assert status["sequencer_alert"] is None and status["fork_alert"] is None and status["sequencing_refused"] is None
    assert net.status_cli(SEQ).exit_code == 0
    # The sequencer runs the follower's checks too, and found nothing: rounds ran, no alert.
    assert net[SEQ].split_view_pending == []


class _SilentServer:
    """A TCP port that accepts connections and never answers: a hung witness."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)  # connections wait in the backlog, unanswered

    def close(self) -> None:
        self.sock.close()


def test_writes_wait_for_the_witnesses_start_up_round_but_only_for_a_bounded_time(net, monkeypatch):
    from ledger.node.roles import Roles

    net.start()
    net.submit(2)
    size = net[SEQ].log.size
    wait_until("the log final and held by both witnesses", lambda: net.settled(size), timeout=30)
    net.stop(SEQ)
    net.stop(IPK)
    net.stop(UNI)
    silent = [_SilentServer(net.ports[i]) for i in (IPK, UNI)]
    try:
        monkeypatch.setattr(Roles, "STARTUP_WITNESS_WAIT", 2.0)
        monkeypatch.setattr(Roles, "STARTUP_INLINE_WAIT", 0.05)
        net.start(SEQ)
        # Neither witness answers: writes are refused while the round waits for them ...
        assert_refused(net.post(SEQ, 1), "asking its witnesses")
        # ... and sequencing starts once the bound has passed: an outage does not stop the log.
        wait_until("a write to be accepted without the witnesses", lambda: net.post(SEQ, 1).status_code == 200, timeout=45)
        assert net[SEQ].sequencing_refused() is None and net[SEQ].sequencer_alert() is None
    finally:
        for s in silent:
            s.close()
