"""Shared helpers of the network fault tests (tests/network/test_sequencer_guards.py,
tests/network/test_fault_matrix.py): three institutions (the sequencer ``seq``, ``ipk``,
``uni``; quorum 2 of the two besides the sequencer), each a real :class:`ledger.node.Node`
served over HTTP by uvicorn in a thread of this process, with its own SQLite database and
data directory (``split_network``), so the nodes talk to each other exactly as separate
processes do, while a test can still read each node's store and counters directly."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path

import httpx

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




def accepted(r: httpx.Response) -> httpx.Response | None:
    return r if r.status_code == 200 else None


def assert_refused(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    assert int(r.headers["retry-after"]) >= 1
    for w in words:
        assert w in r.json()["detail"], (w, r.json()["detail"])


def tamper_entry(db: Path, index: int) -> None:
    """Edit one stored entry's bytes behind the node's back (dropping the append-only trigger)."""
    with sqlite3.connect(db) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        (data,) = conn.execute("SELECT data FROM entries WHERE idx = ?", (index,)).fetchone()
        conn.execute("UPDATE entries SET data = ? WHERE idx = ?", (data.replace(b"0", b"1", 1), index))
