"""POST /api/v1/verify under load, beside the same server's trivial health endpoint.

    .venv/bin/python benchmarks/bench_http_verify.py [--seconds 10] [--concurrency 16]

One real node (``eduledger run`` on a fresh three-institution network, SQLite) and
one load generator process on loopback (asyncio + httpx, keep-alive connections):

1. closed loop, ``--concurrency`` requests outstanding: the highest rate the
   server sustains for ``GET /api/v1/health`` (the reference: routing, JSON and
   HTTP, no work) and for ``POST /api/v1/verify`` with one credential bundle
   (strict JSON, all nine verification steps against the node's trust policy);
2. open loop at half the health rate: verify requests sent on a fixed schedule
   whatever the answers' speed, so a slow server shows as latency, not as a
   lower offered rate (no coordinated omission); p50/p99 of those latencies.

The bundle is a real one: an olympiad diploma issued with ``eduledger credential
issue`` and exported with ``eduledger credential export``. Every answer is
checked (200 and, for verify, status "verified"). The load generator shares the
two cores with the server, as a real deployment's proxy would; the ratio is the
figure to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from ledger.cli import main as cli  # noqa: E402
from ledger.datadir import init_network  # noqa: E402
from tests.nodeproc import FAST_KDF, PASSPHRASE, NodeProcess  # noqa: E402
from verifier.sample_network import FIELDS, INSTITUTIONS, NETWORK  # noqa: E402


def make_bundle(tmp: Path) -> tuple[Path, bytes]:
    """A network data directory and one exported diploma bundle of it."""
    os.environ["EDULEDGER_KEY_PASSPHRASE"] = PASSPHRASE
    data = tmp / "net"
    init_network(data, network=NETWORK, institutions=INSTITUTIONS, sequencer="olymp-1", quorum=2,
                 passphrase=PASSPHRASE.encode(), created=int(time.time()) - 60, kdf_params=FAST_KDF)
    fields = [a for k, v in FIELDS["olympiad-diploma"].items() for a in ("--field", f"{k}={v}")]
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "ledger.cli", "credential", "issue", "--data-dir", str(data), "--institution", "olymp-1",
             "--kind", "olympiad-diploma", "--holder", "Иванова Мария Петровна", "--title", "Диплом победителя", *fields],
            capture_output=True, text=True, check=True, env=os.environ,
        ).stdout
        digest = out.split("issued ", 1)[1].split()[0]
        if cli(["credential", "export", digest, "--out", str(tmp / "b.json"), "--data-dir", str(data)]) != 0:
            raise SystemExit("export failed")
    finally:
        os.chdir(cwd)
    return data, (tmp / "b.json").read_bytes()


async def closed_loop(url: str, method: str, body: bytes | None, concurrency: int, seconds: float, check) -> tuple[float, list[float]]:
    """Requests per second with ``concurrency`` outstanding, and every latency (s)."""
    lat: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as c:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await c.request(method, url, content=body, headers={"content-type": "application/json"} if body else None)
                lat.append(time.perf_counter() - t)
                check(r)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(lat) / (time.perf_counter() - started), lat


async def open_loop(url: str, body: bytes, rate: float, seconds: float, check) -> tuple[float, list[float]]:
    """Send at ``rate``/s on a fixed schedule; latency counts from the scheduled send time."""
    lat: list[float] = []
    n = int(rate * seconds)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=30) as c:
        start = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            r = await c.post(url, content=body, headers={"content-type": "application/json"})
            lat.append(time.perf_counter() - due)
            check(r)

        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - start), lat


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
    data, bundle = make_bundle(tmp)
    node = NodeProcess(data, env={"EDULEDGER_LOG_LEVEL": "warning"}).start()
    try:
        def ok(r: httpx.Response) -> None:
            if r.status_code != 200:
                raise SystemExit(f"{r.request.url} answered {r.status_code}: {r.text[:300]}")

        def verified(r: httpx.Response) -> None:
            ok(r)
            if r.json()["status"] != "verified":
                raise SystemExit(f"the bundle did not verify: {json.dumps(r.json())[:500]}")

        verified(httpx.post(node.url + "/api/v1/verify", content=bundle, headers={"content-type": "application/json"}))
        warm = min(2.0, args.seconds / 4)
        asyncio.run(closed_loop(node.url + "/api/v1/health", "GET", None, args.concurrency, warm, ok))
        health_rate, health_lat = asyncio.run(closed_loop(node.url + "/api/v1/health", "GET", None, args.concurrency, args.seconds, ok))
        verify_rate, verify_lat = asyncio.run(closed_loop(node.url + "/api/v1/verify", "POST", bundle, args.concurrency, args.seconds, verified))
        target = health_rate / 2
        sent_rate, open_lat = asyncio.run(open_loop(node.url + "/api/v1/verify", bundle, target, args.seconds, verified))
    finally:
        node.kill()
    print(f"\none node (eduledger run, SQLite) and one load generator on loopback, {os.cpu_count()} CPUs, {args.seconds:.0f} s per row")
    print(f"{'endpoint':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'GET /api/v1/health, closed loop':<34} {health_rate:>8,.0f} {pct(health_lat, 50) * 1e3:>8.1f} {pct(health_lat, 99) * 1e3:>8.1f}")
    print(f"{'POST /api/v1/verify, closed loop':<34} {verify_rate:>8,.0f} {pct(verify_lat, 50) * 1e3:>8.1f} {pct(verify_lat, 99) * 1e3:>8.1f}")
    print(f"{'POST /api/v1/verify at health/2':<34} {sent_rate:>8,.0f} {pct(open_lat, 50) * 1e3:>8.1f} {pct(open_lat, 99) * 1e3:>8.1f}")
    print(f"ratio verify/health (closed loop): {verify_rate / health_rate:.2f}   target >= 0.50, p99 < 50 ms at half the health rate")


if __name__ == "__main__":
    main()
