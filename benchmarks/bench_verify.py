"""Offline verification of credential bundles, beside the cost of merely reading them as JSON.

    .venv/bin/python benchmarks/bench_verify.py [--bundles 10000] [--batch 256] [--single 2000]

What is timed for the project:

1. ``verify(bundle_bytes, trust, now=...)`` on one bundle, CPU time per call
   (mean over ``--single`` calls) with a shared ``CheckpointCache``, as the CLI
   runs it for a cohort: the checkpoint's signatures are verified once, every
   other step (strict JSON, credential digest, inclusion proof, entry
   signature, issuer key history, status, dates) runs per bundle. Also the
   first call alone (cold: checkpoint signature and quorum included).
2. ``eduledger verify DIR --trust TRUST`` over ``--bundles`` files in a
   temporary directory, wall time of the real command (a subprocess, process
   start-up and output included).

The reference for both: reading the same files and ``json.loads`` on each, the
floor any verifier that looks at the data at all must pay. Bundles are issued
by an in-memory network built from the ledger's own parts
(tests/fixtures_network.py LedgerFixture): institution-signed batches of
``--batch`` anchors, one checkpoint signed by the log key and cosigned by the
3 institutions (quorum 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger.tlog.timefmt import format_time  # noqa: E402
from tests.fixtures_network import LedgerFixture  # noqa: E402
from verifier import CheckpointCache, verify  # noqa: E402


def issue_cohort(net: LedgerFixture, n: int, batch: int) -> list[bytes]:
    """``n`` olympiad diplomas anchored in institution-signed batches, then one bundle each under one cosigned checkpoint."""
    creds = [net.credential(holder_name=f"Участник {i:05d}") for i in range(n)]
    indices = net.issue_many(creds, batch=batch)
    note = net.checkpoint()
    return [net.bundle(c, i, note=note) for c, i in zip(creds, indices)]


def bench_single(bundles: list[bytes], trust, count: int, now: int) -> tuple[float, float, float]:
    """(cold seconds for the first bundle, warm CPU seconds per bundle, json.loads CPU seconds per bundle)."""
    cache = CheckpointCache(trust)
    started = time.process_time()
    first = verify(bundles[0], trust, now=now, seen=cache)
    cold = time.process_time() - started
    assert first.ok, str(first)
    sample = [bundles[i % len(bundles)] for i in range(count)]
    started = time.process_time()
    for b in sample:
        verify(b, trust, now=now, seen=cache)
    warm = (time.process_time() - started) / count
    started = time.process_time()
    for b in sample:
        json.loads(b)
    floor = (time.process_time() - started) / count
    return cold, warm, floor


def bench_cli(bundles: list[bytes], trust_bytes: bytes, now: int) -> tuple[float, float, str]:
    """(CLI wall seconds, read + json.loads wall seconds, last line of the CLI output)."""
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        d = Path(tmp) / "cohort"
        d.mkdir()
        for i, b in enumerate(bundles):
            (d / f"{i:05d}.json").write_bytes(b)
        trust_path = Path(tmp) / "trust.json"
        trust_path.write_bytes(trust_bytes)
        exe = Path(sys.executable).with_name("eduledger")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ledger.cli.main"]
        started = time.perf_counter()
        proc = subprocess.run([*cmd, "verify", str(d), "--trust", str(trust_path), "--at", format_time(now)], capture_output=True, text=True)
        cli = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"eduledger verify exited {proc.returncode}: {(proc.stderr or proc.stdout)[-2000:]}")
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        started = time.perf_counter()
        for p in sorted(d.iterdir()):
            json.loads(p.read_bytes())
        floor = time.perf_counter() - started
    return cli, floor, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundles", type=int, default=10_000, help="bundles in the CLI run")
    ap.add_argument("--batch", type=int, default=256, help="anchors per institution-signed batch")
    ap.add_argument("--single", type=int, default=2_000, help="verify() calls for the per-bundle figure")
    args = ap.parse_args()

    started = time.perf_counter()
    net = LedgerFixture()
    bundles = issue_cohort(net, args.bundles, args.batch)
    trust = net.trust()
    print(f"setup: {len(bundles)} bundles issued in batches of {args.batch} ({time.perf_counter() - started:.1f}s), "
          f"mean bundle {sum(map(len, bundles)) // len(bundles)} bytes, CPUs {os.cpu_count()}")

    cold, warm, floor = bench_single(bundles, trust, args.single, net.now)
    print("\none bundle, offline, after loading trust (CPU time, mean over {} calls):".format(args.single))
    print(f"  project   verify()          {warm * 1e6:8.1f} µs/bundle   (first bundle, checkpoint not cached: {cold * 1e3:.2f} ms)")
    print(f"  reference json.loads        {floor * 1e6:8.1f} µs/bundle")
    print(f"  ratio                       {warm / floor:8.1f}x")

    cli, read_floor, last = bench_cli(bundles, trust.to_bytes(), net.now)
    print(f"\n{len(bundles)} bundle files, `eduledger verify DIR --trust TRUST` (wall time, process start-up included):")
    print(f"  project   eduledger verify  {cli:8.2f} s   ({cli / len(bundles) * 1e6:.0f} µs/file; {last})")
    print(f"  reference read + json.loads {read_floor:8.2f} s")
    print(f"  ratio                       {cli / read_floor:8.1f}x")


if __name__ == "__main__":
    main()
