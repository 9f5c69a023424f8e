"""POST /api/v1/verify under load, beside the same server's trivial health endpoint.

    .venv/bin/python benchmarks/bench_http_verify.py [--seconds 10] [--concurrency 16]

One real node (``eduledger run`` on a fresh three-institution network, SQLite, with
its verifier process: docs/architecture.md, "Verification at scale") and one load
generator process on loopback (benchmarks/loadgen.py):

1. closed loop, ``--concurrency`` keep-alive connections each sending its next
   request as soon as the previous answer is in: the highest rate the server
   sustains for ``GET /api/v1/health`` (the reference: routing, JSON and HTTP,
   no work) and for ``POST /api/v1/verify`` with one credential bundle (strict
   JSON, all nine verification steps against the node's trust policy);
2. open loop at half the health rate: verify request ``i`` is due ``i / rate``
   after the start whatever the answers' speed; the scheduler hands it to an
   idle connection of a pool of ``--connections`` (64) keep-alive connections,
   all opened before the clock starts, as a reverse proxy's upstream pool or
   wrk2's ``-c`` (when all are busy the request waits for one), and its latency
   counts from the due time, so a slow server shows as latency, not as a lower
   offered rate (no coordinated omission); p50/p99 of those latencies, and the
   rate achieved beside the target.

The generator is one asyncio event loop with a minimal HTTP/1.1 client: each
request is encoded to bytes once, an answer is read by its status line and
Content-Length, one request is in flight per connection. It costs some 30 µs of
CPU per request where httpx cost about 1.4 ms, which made the earlier runs of
this benchmark measure httpx (health capped near 700 req/s, the open loop
seconds behind its schedule). It still shares the two cores with the server,
as a real deployment's proxy would, so every row shows its CPU use ("gen CPU",
process time over wall time): near 100 % the row measures the generator. Its
cyclic garbage collector is off while a row runs: a collection's pause would
show as the server's latency.

The bundle is a real one: an olympiad diploma issued with ``eduledger credential
issue`` and exported with ``eduledger credential export``. Every answer is
checked: status 200 and, for verify, a body beginning with the report's
``{"ok":true,"status":"verified",``; the first answer is also parsed in full.
The run stops at the first wrong answer. The ratio is the figure to read.
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

from benchmarks.loadgen import BadResponse, LoadError, Response, Run, closed_loop, encode_request, fetch, open_loop  # noqa: E402
from ledger.cli.main import main as cli  # noqa: E402
from ledger.cli.sample_network import FIELDS, INSTITUTIONS, NETWORK  # noqa: E402
from ledger.node.datadir import init_network  # noqa: E402
from tests.nodeproc import FAST_KDF, PASSPHRASE, NodeProcess  # noqa: E402


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
            [sys.executable, "-m", "ledger.cli.main", "credential", "issue", "--data-dir", str(data), "--institution", "olymp-1",
             "--kind", "olympiad-diploma", "--holder", "Иванова Мария Петровна", "--title", "Диплом победителя", *fields],
            capture_output=True, text=True, check=True, env=os.environ,
        ).stdout
        digest = out.split("issued ", 1)[1].split()[0]
        if cli(["credential", "export", digest, "--out", str(tmp / "b.json"), "--data-dir", str(data)]) != 0:
            raise SystemExit("export failed")
    finally:
        os.chdir(cwd)
    return data, (tmp / "b.json").read_bytes()


VERIFIED = b'{"ok":true,"status":"verified",'
"""How every verify answer must begin: the report's first two fields, so only its top-level verdict can match
(a step's status is passed, failed, skipped or warning). The first answer is also parsed in full (main)."""


def verified(response: Response) -> None:
    if not response.body.startswith(VERIFIED):
        raise BadResponse("the bundle did not verify", response)


def row(name: str, run: Run) -> str:
    return (f"{name:<34} {run.rate:>8,.0f} {run.percentile(50) * 1e3:>8.1f} {run.percentile(99) * 1e3:>8.1f}"
            f" {run.cpu_share:>8.0%}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=16, help="connections of the closed loops")
    ap.add_argument("--connections", type=int, default=64, help="the open loop's pool of keep-alive connections")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
    data, bundle = make_bundle(tmp)
    node = NodeProcess(data, env={"EDULEDGER_LOG_LEVEL": "warning"}).start()
    host, port = "127.0.0.1", node.port
    health = encode_request("GET", "/api/v1/health", host=f"{host}:{port}")
    verify = encode_request("POST", "/api/v1/verify", host=f"{host}:{port}", body=bundle, content_type="application/json")
    try:
        first = asyncio.run(fetch(host, port, verify))
        report = json.loads(first.body) if first.status == 200 else {}
        if report.get("status") != "verified" or report.get("ok") is not True:
            raise SystemExit(f"bench: the bundle did not verify ({first.status}): {first.body[:500].decode(errors='replace')}")
        verified(first)  # the cheap per-answer check agrees with the full parse
        warm = min(2.0, args.seconds / 4)
        try:
            asyncio.run(closed_loop(host, port, health, concurrency=args.concurrency, seconds=warm))
            health_run = asyncio.run(closed_loop(host, port, health, concurrency=args.concurrency, seconds=args.seconds))
            verify_run = asyncio.run(closed_loop(host, port, verify, concurrency=args.concurrency, seconds=args.seconds, check=verified))
            open_run = asyncio.run(open_loop(host, port, verify, rate=health_run.rate / 2, seconds=args.seconds, check=verified,
                                             max_connections=args.connections, warm_connections=args.connections))
        except LoadError as e:
            raise SystemExit(f"bench: {e}") from None
    finally:
        node.kill()
    print(f"\none node (eduledger run, SQLite) and one load generator on loopback, {os.cpu_count()} CPUs, {args.seconds:.0f} s per row")
    print(f"{'endpoint':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'gen CPU':>8}")
    print(row("GET /api/v1/health, closed loop", health_run))
    print(row("POST /api/v1/verify, closed loop", verify_run))
    print(row("POST /api/v1/verify at health/2", open_run))
    print(f"open loop: target {open_run.target_rate:,.0f} req/s, achieved {open_run.rate:,.0f} req/s "
          f"({open_run.requests:,} answers), {open_run.connections} connections, scheduler at most {open_run.worst_lag * 1e3:.1f} ms late")
    print(f"ratio verify/health (closed loop): {verify_run.rate / health_run.rate:.2f}   target >= 0.50, p99 < 50 ms at half the health rate")


if __name__ == "__main__":
    main()
