"""Multi-node helpers for the network tests: a network split into one directory per
institution, one real node process each (tests/nodeproc.py), a write load, and
polling helpers (behaviour with generous deadlines, never wall-clock assertions)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from keys.keyfile import load_signer
from ledger.model.entries import Statement, sign_batch
from ledger.model.genesis import Genesis
from ledger.node.datadir import InstitutionSpec, init_network, load_genesis, split_network
from ledger.tlog.checkpoint import verify_checkpoint
from ledger.tlog.encoding import b64d
from ledger.tlog.note import Verifier
from ledger.tlog.timefmt import format_time
from tests.nodeproc import FAST_KDF, PASSPHRASE, NodeProcess, free_port

NETWORK = "net.eduledger.example/test"
INSTITUTIONS = (
    InstitutionSpec("olymp", "Olympiad organiser", "olympiad-organiser"),
    InstitutionSpec("ipk", "Teacher-training institute", "training-institute"),
    InstitutionSpec("uni", "University", "university"),
    InstitutionSpec("lyc", "Lyceum", "school"),
)
SEQ = "olymp"

# Small blocks, short block time: the tests see many checkpoints quickly.
FAST_ENV = {"EDULEDGER_BATCH_MS": "50", "EDULEDGER_BATCH_MAX": "64"}


def wait_until(what: str, predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, ValueError, KeyError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Network:
    """Four institutions (quorum 2 of the three witnesses besides the sequencer's, by default), each node a
    separate process with its own SQLite."""

    def __init__(self, root: Path, *, quorum: int = 2, institutions=INSTITUTIONS, env: dict[str, str] | None = None) -> None:
        self.root = root
        source = root / "source"
        self.genesis: Genesis = init_network(
            source,
            network=NETWORK,
            institutions=institutions,
            sequencer=SEQ,
            quorum=quorum,
            passphrase=PASSPHRASE.encode(),
            created=int(time.time()) - 60,
            kdf_params=FAST_KDF,
        )
        self.source = source
        self.ports = {i.id: free_port() for i in institutions}
        self.urls = {inst: f"http://127.0.0.1:{p}" for inst, p in self.ports.items()}
        self.dirs = split_network(source, root / "nodes", self.urls)
        env = {**FAST_ENV, **(env or {})}
        self.nodes = {inst: NodeProcess(self.dirs[inst], port=self.ports[inst], env=env) for inst in self.dirs}

    # --- processes -------------------------------------------------------------------

    def start(self, *insts: str) -> "Network":
        for inst in insts or list(self.nodes):
            self.nodes[inst].start()
        return self

    def kill(self, inst: str) -> None:
        self.nodes[inst].kill()

    def stop_all(self) -> None:
        for n in self.nodes.values():
            n.stop()

    # --- reads -----------------------------------------------------------------------

    def url(self, inst: str) -> str:
        return self.urls[inst]

    def status(self, inst: str) -> dict:
        return httpx.get(self.urls[inst] + "/api/v1/ledger/status", timeout=5).json()

    def network_status(self, inst: str) -> dict:
        return httpx.get(self.urls[inst] + "/api/v1/network/status", timeout=10).json()

    def final_size(self, inst: str) -> int:
        return self.status(inst).get("final_size") or 0

    def checkpoint(self, inst: str) -> bytes:
        r = httpx.get(self.urls[inst] + "/checkpoint", timeout=5)
        r.raise_for_status()
        return r.content

    def verified_final(self, inst: str):
        """The node's /checkpoint, verified against the genesis with the quorum."""
        g = self.genesis
        return verify_checkpoint(
            self.checkpoint(inst),
            log=Verifier.from_vkey(g.log_vkey),
            witnesses=[Verifier.from_vkey(f.witness_vkey) for f in g.founders],
            quorum=g.quorum,
            origin=g.network,
        )

    def leaf_hash_at(self, inst: str, index: int) -> bytes:
        from ledger.tlog import merkle

        r = httpx.get(self.urls[inst] + f"/api/v1/ledger/entries/{index}", timeout=5)
        r.raise_for_status()
        j = r.json()
        return b64d(j["leaf_hash"], "leaf_hash", size=32) if "leaf_hash" in j else merkle.leaf_hash(b64d(j["data"], "data"))

    # --- writes ----------------------------------------------------------------------

    def signer(self, inst: str):
        signer, _ = load_signer(self.source / "keys" / f"{inst}.signing.key", PASSPHRASE.encode())
        return signer

    def batch(self, inst: str, first: int, n: int) -> dict:
        statements = [
            Statement(
                NETWORK,
                "credential.anchor",
                inst,
                {"digest": f"{k:064x}", "type": "net-test", "issued_at": format_time(int(time.time()) - 1)},
            )
            for k in range(first, first + n)
        ]
        return {"entries": [e.to_json() for e in sign_batch(statements, self.signer(inst))]}

    def submit(self, via: str, inst: str, first: int, n: int, timeout: float = 60) -> list[bytes]:
        """Submit n anchors signed by ``inst`` through node ``via``; return the acknowledged leaf hashes."""
        r = httpx.post(self.urls[via] + "/api/v1/ledger/entries", json=self.batch(inst, first, n), timeout=timeout)
        assert r.status_code == 200, (r.status_code, r.text)
        out = []
        for item in r.json()["results"]:
            assert item["accepted"], item
            out.append(b64d(item["leaf_hash"], "leaf_hash", size=32))
        return out


class Load:
    """Submits signed batches to one URL until stopped; records every acknowledged leaf hash.

    503 (pushback, or a standby without the sequencer role) is retried after a pause;
    a refused connection ends nothing either: the load keeps trying until stopped,
    because the node may come back or another process may take over."""

    def __init__(self, net: Network, urls: Callable[[], str], inst: str, start: int, batch: int = 10) -> None:
        self.net, self.urls, self.inst = net, urls, inst
        self.counter = start
        self.batch_n = batch
        self.acked: set[bytes] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.signer = net.signer(inst)

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                first = self.counter
                self.counter += self.batch_n
                body = self.net.batch(self.inst, first, self.batch_n)
                try:
                    r = client.post(self.urls() + "/api/v1/ledger/entries", json=body)
                except httpx.HTTPError:
                    time.sleep(0.2)
                    continue  # not acknowledged: may be lost, never counted
                if r.status_code == 200:
                    for item in r.json()["results"]:
                        assert item["accepted"], item
                        self.acked.add(b64d(item["leaf_hash"], "leaf_hash", size=32))
                else:
                    time.sleep(0.2)

    def __enter__(self) -> "Load":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def audit(data_dir: Path, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "ledger.cli.main", "ledger", "audit", "--data-dir", str(data_dir)]
    if database_url:
        args += ["--database-url", database_url]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "EDULEDGER_KEY_PASSPHRASE": PASSPHRASE})


def all_leaf_hashes(url: str) -> list[bytes]:
    """Every leaf hash of a node's log, from its hash tiles at level 0 (C2SP tlog-tiles)."""
    from ledger.tlog import tiles

    size = httpx.get(url + "/api/v1/ledger/status", timeout=5).json()["size"]
    out: list[bytes] = []
    full, partial = tiles.tiles_for_size(0, size)
    for n in range(full + (1 if partial else 0)):
        width = tiles.TILE_WIDTH if n < full else partial
        r = httpx.get(url + "/" + tiles.TileRef(0, n, width).path(), timeout=10)
        r.raise_for_status()
        out += [r.content[i : i + 32] for i in range(0, len(r.content), 32)]
    return out


__all__ = ["Load", "Network", "all_leaf_hashes", "audit", "load_genesis", "wait_until"]
