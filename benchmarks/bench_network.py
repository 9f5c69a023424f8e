"""The three-node network on loopback: finality latency, sustained throughput, mirroring.

    .venv/bin/python benchmarks/bench_network.py [--seconds 20] [--rate 20] [--clients 4] [--mirror-entries 100000]

Three institutions (quorum 2), each a separate ``eduledger run`` process with its
own SQLite and keys, built with tests/netutil.py exactly as the fault tests do.

1. Latency: one client submits a batch of 10 entries every 1/rate seconds for
   ``--seconds``; for each batch, the time from sending it to the moment the
   sequencer's final (quorum-cosigned) checkpoint covers its last entry.
   p50 and p99 over all batches.
2. Throughput: ``--clients`` concurrent clients submit 256-entry batches through
   all three nodes (replicas forward) for ``--seconds``; acknowledged entries/s.
3. Mirroring: the log is grown to ``--mirror-entries`` entries, then a new node
   (fresh database) mirrors it from the sequencer over tiles and entry bundles,
   re-deriving every block, until its final checkpoint equals the sequencer's.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from tests.netutil import Network, wait_until  # noqa: E402
from tests.nodeproc import NodeProcess  # noqa: E402


def latency(net: Network, seconds: float, rate: float) -> list[float]:
    seq = net.url("olymp")
    pending: list[tuple[int, float]] = []  # (last index, sent at)
    done: list[float] = []
    stop = threading.Event()
    lock = threading.Lock()

    def watch() -> None:
        with httpx.Client(timeout=5) as c:
            while not stop.is_set() or pending:
                final = c.get(seq + "/api/v1/ledger/status").json()["final_size"] or 0
                now = time.monotonic()
                with lock:
                    for item in [p for p in pending if p[0] < final]:
                        pending.remove(item)
                        done.append(now - item[1])
                time.sleep(0.005)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    counter = 10**9
    end = time.monotonic() + seconds
    with httpx.Client(timeout=30) as c:
        while time.monotonic() < end:
            t0 = time.monotonic()
            r = c.post(seq + "/api/v1/ledger/entries", json=net.batch("ipk", counter, 10))
            counter += 10
            last = max(x["index"] for x in r.json()["results"])
            with lock:
                pending.append((last, t0))
            time.sleep(max(0.0, 1 / rate - (time.monotonic() - t0)))
    stop.set()
    w.join(60)
    return done


def throughput(net: Network, seconds: float, clients: int) -> float:
    counts = [0] * clients
    end = time.monotonic() + seconds

    def client(k: int) -> None:
        counter = 2 * 10**9 + k * 10**8
        with httpx.Client(timeout=60) as c:
            while time.monotonic() < end:
                via = random.choice(["olymp", "ipk", "uni"])
                r = c.post(net.url(via) + "/api/v1/ledger/entries", json=net.batch("uni", counter, 256))
                counter += 256
                if r.status_code == 200:
                    counts[k] += sum(1 for x in r.json()["results"] if x["accepted"])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


GROW_BATCH = 2048  # entries per submission while growing the log for the mirror figure (a block each)


def grow(net: Network, entries: int) -> None:
    seq = net.url("olymp")
    size = httpx.get(seq + "/api/v1/ledger/status").json()["size"]
    counter = 3 * 10**9

    def client(k: int, n: int) -> None:
        nonlocal counter
        with httpx.Client(timeout=120) as c:
            for i in range(n):
                c.post(seq + "/api/v1/ledger/entries", json=net.batch("olymp", 3 * 10**9 + (k * 10**7) + i * GROW_BATCH, GROW_BATCH))

    todo = max(0, entries - size) // GROW_BATCH + 1
    threads = [threading.Thread(target=client, args=(k, todo // 4 + 1)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rate", type=float, default=20, help="latency probe: batches of 10 per second")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--mirror-entries", type=int, default=100_000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-network-"))
    net = Network(root, env={"EDULEDGER_BATCH_MS": "50", "EDULEDGER_BATCH_MAX": "256"})
    extra = None
    try:
        net.start()
        wait_until("genesis final", lambda: net.final_size("olymp") > 0)
        lat = sorted(latency(net, args.seconds, args.rate))
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"submission -> final checkpoint ({len(lat)} batches of 10 at {args.rate}/s): p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
        tput = throughput(net, args.seconds, args.clients)
        print(f"sustained throughput ({args.clients} clients, 256-entry batches via all nodes): {tput:,.0f} entries/s")
        grow(net, args.mirror_entries)
        target = wait_until("final", lambda: net.final_size("olymp") >= args.mirror_entries and net.final_size("olymp"), timeout=600)
        # A new node: the university's keys, an empty database, the same peers.
        new_dir = root / "newcomer"
        shutil.copytree(net.dirs["uni"], new_dir, ignore=shutil.ignore_patterns("ledger.db*"))
        extra = NodeProcess(new_dir, env={"EDULEDGER_BATCH_MS": "50"})
        t0 = time.monotonic()
        extra.start()
        wait_until(
            "the new node to mirror",
            lambda: (httpx.get(extra.url + "/api/v1/ledger/status", timeout=10).json()["final_size"] or 0) >= target,
            timeout=3600,
            interval=0.5,
        )
        dt = time.monotonic() - t0
        print(f"new node mirrors and re-derives {target:,} entries: {dt:.1f} s ({target / dt:,.0f} entries/s)")
    finally:
        if extra is not None:
            extra.stop()
        net.stop_all()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
