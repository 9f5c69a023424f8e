"""kill -9 during a write load loses no acknowledged entry, and the audit passes after restart."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from keys.keyfile import load_signer
from ledger.model.entries import Statement, sign_batch
from ledger.node.datadir import InstitutionSpec, init_network
from ledger.tlog.encoding import b64d
from ledger.tlog.timefmt import format_time
from tests.nodeproc import FAST_KDF, PASSPHRASE, NodeProcess

pytestmark = pytest.mark.slow


def make_network(data_dir: Path):
    return init_network(
        data_dir,
        network="crash.example/net",
        institutions=[InstitutionSpec("seq-inst", "Sequencer", "olympiad-organiser"), InstitutionSpec("school-1", "School", "school")],
        sequencer="seq-inst",
        quorum=1,
        passphrase=PASSPHRASE.encode(),
        created=int(time.time()) - 60,
        kdf_params=FAST_KDF,
    )


class Load:
    """Submits signed batches until stopped; records every acknowledged leaf hash."""

    def __init__(self, url: str, network: str, signer, start: int) -> None:
        self.url, self.network, self.signer = url, network, signer
        self.counter = start
        self.acked: set[bytes] = set()
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                with self.lock:
                    first = self.counter
                    self.counter += 20
                statements = [
                    Statement(self.network, "credential.anchor", "school-1", {"digest": f"{n:064x}", "type": "crash-test", "issued_at": format_time(int(time.time()) - 1)})
                    for n in range(first, first + 20)
                ]
                body = {"entries": [e.to_json() for e in sign_batch(statements, self.signer)]}
                try:
                    r = client.post(self.url + "/api/v1/ledger/entries", json=body)
                except httpx.HTTPError:
                    return  # the node died: whatever was not acknowledged may be lost
                if r.status_code == 200:
                    for item in r.json()["results"]:
                        assert item["accepted"], item
                        self.acked.add(b64d(item["leaf_hash"], "leaf_hash", size=32))


def audit(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli.main", "ledger", "audit", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=300
    )


def test_kill_9_during_writes_loses_no_acknowledged_entry(tmp_path):
    data = tmp_path / "node"
    genesis = make_network(data)
    signer, _ = load_signer(data / "keys" / "school-1.signing.key", PASSPHRASE.encode())
    acked: set[bytes] = set()
    counter = 0
    rng = random.Random(7)
    for round_ in range(4):
        node = NodeProcess(data, env={"EDULEDGER_BATCH_MS": "20"}).start()
        loads = [Load(node.url, genesis.network, signer, counter + i * 1_000_000) for i in range(3)]
        threads = [threading.Thread(target=ld.run, daemon=True) for ld in loads]
        for t in threads:
            t.start()
        # Kill only once writes are flowing (a loaded machine may take a while to
        # acknowledge the first one), then at a random moment of the load.
        deadline = time.monotonic() + 60
        while not any(ld.acked for ld in loads) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2 + rng.random())
        node.kill()  # mid-write: no shutdown hooks
        for ld in loads:
            ld.stop.set()
        for t in threads:
            t.join(15)
        counter += 10_000_000
        for ld in loads:
            acked |= ld.acked
        assert any(ld.acked for ld in loads), f"round {round_}: the load made no progress"

        # Restart: every acknowledged entry is there, and the audit passes.
        node = NodeProcess(data).start()
        size = httpx.get(node.url + "/api/v1/ledger/status").json()["size"]
        for lh in rng.sample(sorted(acked), min(200, len(acked))):
            import base64

            r = httpx.get(node.url + "/api/v1/ledger/proof/inclusion", params={"leaf_hash": base64.b64encode(lh).decode(), "size": size})
            assert r.status_code == 200, f"acknowledged entry lost after kill -9: {r.text}"
        node.stop()
        result = audit(data)
        assert result.returncode == 0, result.stderr
    from ledger.storage import open_store

    store = open_store(f"sqlite:///{data / 'ledger.db'}")
    try:
        missing = [lh for lh in acked if store.index_of(lh) is None]
    finally:
        store.close()
    assert not missing, f"{len(missing)} acknowledged entries missing"


def _ledger_with_five_anchors(tmp_path) -> Path:
    """A node's data directory whose log holds the genesis block and one block of five anchors; audit passes."""
    data = tmp_path / "node"
    genesis = make_network(data)
    signer, _ = load_signer(data / "keys" / "school-1.signing.key", PASSPHRASE.encode())
    node = NodeProcess(data).start()
    statements = [
        Statement(genesis.network, "credential.anchor", "school-1", {"digest": f"{n:064x}", "type": "t", "issued_at": format_time(int(time.time()) - 1)})
        for n in range(1, 6)
    ]
    r = httpx.post(node.url + "/api/v1/ledger/entries", json={"entries": [e.to_json() for e in sign_batch(statements, signer)]}, timeout=30)
    assert r.status_code == 200
    node.stop()
    assert audit(data).returncode == 0
    return data


def _flip_last_base64_char(note: bytes) -> bytes:
    """Change one character of the last signature line's base64, keeping it valid base64."""
    lines = note.rstrip(b"\n").split(b"\n")
    last = lines[-1]
    pos = len(last) - 3  # inside the signature, before any padding
    lines[-1] = last[:pos] + (b"A" if last[pos:pos + 1] != b"A" else b"B") + last[pos + 1 :]
    return b"\n".join(lines) + b"\n"


TAMPERINGS = {
    # what is changed: (SQL to read the old value, SQL to write the new one, how to change it, what the audit names)
    "entry bytes": ("SELECT data FROM entries WHERE idx = 3", "UPDATE entries SET data = ? WHERE idx = 3",
                    lambda v: v.replace(f"{2:064x}".encode(), f"{9:064x}".encode()), "entry 3"),
    "block header": ("SELECT header FROM blocks WHERE height = 1", "UPDATE blocks SET header = ? WHERE height = 1",
                     lambda v: v.replace(b'"time":', b'"time":1'), "block 1"),
    "stored leaf hash": ("SELECT leaf_hash FROM entries WHERE idx = 4", "UPDATE entries SET leaf_hash = ? WHERE idx = 4",
                         lambda v: bytes([v[0] ^ 1]) + v[1:], "entry 4"),
    "checkpoint signature": ("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
                             "UPDATE checkpoints SET note = ? WHERE size = (SELECT MAX(size) FROM checkpoints)",
                             _flip_last_base64_char, "checkpoint"),
}


@pytest.mark.parametrize("what", sorted(TAMPERINGS))
def test_audit_detects_a_row_edited_behind_the_applications_back(tmp_path, what):
    import sqlite3

    read, write, change, named = TAMPERINGS[what]
    data = _ledger_with_five_anchors(tmp_path)
    db = sqlite3.connect(data / "ledger.db")
    triggers = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall()]
    assert triggers, "append-only triggers are missing"
    # The attacker drops the triggers and rewrites one value in place.
    for name in triggers:
        db.execute(f'DROP TRIGGER "{name}"')
    (old,) = db.execute(read).fetchone()
    new = change(bytes(old))
    assert new != bytes(old)
    db.execute(write, (new,))
    db.commit()
    db.close()
    result = audit(data)
    assert result.returncode == 1, result.stdout
    assert named in result.stderr, result.stderr
