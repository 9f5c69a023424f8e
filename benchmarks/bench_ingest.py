"""Durable ingest of institution-signed entries, beside a plain SQLAlchemy bulk insert of the same rows.

    .venv/bin/python benchmarks/bench_ingest.py [--entries 100000] [--batch 256] [--postgres URL | --start-postgres]

What is timed for the project: the node's own write path, from the submission
bytes (as they arrive in a POST) to committed blocks: JSON parsing and
validation of every entry, per-batch signature check (one Ed25519 verify per
batch plus every entry's batch proof), registry checks, canonical leaf bytes,
leaf hashing, the block transaction, and a signed checkpoint per block.
The reference: the same (index, leaf hash, data) rows inserted with one
SQLAlchemy Core executemany per block into a plain table of the same engine,
with no checks and no hashing. Institutions sign before submitting, so
signing is not timed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from ledger.model.entries import Statement, sign_batch  # noqa: E402
from ledger.model.receipts import Receipt  # noqa: E402
from ledger.node import Node, NodeOptions  # noqa: E402
from ledger.node.datadir import InstitutionSpec, init_network, load_keys  # noqa: E402
from ledger.node.log import Log  # noqa: E402
from ledger.storage import open_store  # noqa: E402
from ledger.tlog.timefmt import format_time  # noqa: E402
from verifier import gcpolicy  # noqa: E402

PASS = b"bench"
KDF = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}


def make_entries(n: int, batch: int, network: str, signer) -> list[list]:
    t = format_time(int(time.time()) - 10)
    out = []
    for start in range(0, n, batch):
        statements = [
            Statement(network, "credential.anchor", "school-1", {"digest": f"{i:064x}", "type": "olympiad-diploma", "issued_at": t})
            for i in range(start, min(n, start + batch))
        ]
        out.append(sign_batch(statements, signer))
    return out


def workload(n: int, batch: int, network: str, signer, form: str) -> tuple[list[bytes], list[tuple[bytes, bytes]]]:
    """Request bodies as an institution would POST them (one signed batch each, in the
    compact ``batches`` form or as whole ``entries``), and the (leaf hash, data) rows
    they become, for the reference. Only bytes are kept: the Entry objects are dropped
    before anything is timed, so neither side pays for the harness's garbage."""
    import json

    from ledger.model.submission import to_submission

    bodies, rows = [], []
    for entries in make_entries(n, batch, network, signer):
        doc = to_submission(entries) if form == "batches" else {"entries": [e.to_json() for e in entries]}
        bodies.append(json.dumps(doc).encode())
        rows.extend((e.leaf_hash(), e.to_bytes()) for e in entries)
    return bodies, rows


def run_project(url: str, data: Path, genesis, bodies: list[bytes], total: int, *, batch_max: int, group_max: int, in_flight: int) -> tuple[float, list[int]]:
    """Submit every batch through the node's own path with ``in_flight`` submissions outstanding.

    Each submission is parsed and signature-checked as the HTTP route does
    (``Node.parse_submission``), then queued on the node's Sequencer, which closes
    blocks, commits them (grouping a backlog into one transaction), signs and
    cosigns the checkpoint, and only then acknowledges. Returns the elapsed time
    and the number of entries in each transaction, for the reference to repeat."""
    import asyncio
    import json

    node = Node(open_store(url), genesis, load_keys(data, PASS), options=NodeOptions(batch_max=batch_max, batch_ms=5, group_max=group_max, queue_max=10**7))
    log: Log = node.log
    log.open()
    commits: list[int] = []
    original = log.prepare_blocks  # every prepared append is one transaction

    def recording(groups):
        commits.append(sum(map(len, groups)))
        return original(groups)

    log.prepare_blocks = recording  # type: ignore[method-assign]
    gcpolicy.tune_process()  # as eduledger run does once the log is loaded
    os.sync()  # start with nothing of earlier runs waiting to be written back (it would slow every fsync)

    async def go() -> float:
        await node.sequencer.start()
        slots = asyncio.Semaphore(in_flight)

        async def one(body: bytes) -> None:
            async with slots:
                # As in the HTTP route, reading the request body yields to the event loop
                # (and so to the sequencer) before the submission is parsed.
                await asyncio.sleep(0)
                entries = node.parse_submission(json.loads(body))  # parse, validate, check batch signatures
                results = await node.sequencer.submit(entries)
                assert all(isinstance(r, Receipt) and not r.duplicate for r in results), results[:3]

        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        elapsed = time.perf_counter() - started
        await node.sequencer.stop()
        return elapsed

    try:
        elapsed = asyncio.run(go())
    finally:
        gcpolicy.reset()
    assert log.size == total + len(genesis.founders), log.size
    node.store.close()
    return elapsed, commits


def run_reference(url: str, rows: list[tuple[bytes, bytes]], commits: list[int]) -> float:
    """The same rows, inserted by one SQLAlchemy Core executemany per transaction of the project's run."""
    engine = sa.create_engine(url)
    if url.startswith("sqlite"):
        with engine.connect() as c:
            c.exec_driver_sql("PRAGMA journal_mode=WAL")
        sa.event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA synchronous=FULL"))
    md = sa.MetaData()
    t = sa.Table(
        "plain_rows",
        md,
        sa.Column("idx", sa.BigInteger, primary_key=True),
        sa.Column("leaf_hash", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    md.drop_all(engine)
    md.create_all(engine)
    dicts = [{"idx": i, "leaf_hash": lh, "data": d} for i, (lh, d) in enumerate(rows)]
    chunks, start = [], 0
    for n in commits:
        chunks.append(dicts[start : start + n])
        start += n
    assert start == len(dicts)
    gc.collect()
    os.sync()  # as for the project: no earlier run's data waiting to be written back
    started = time.perf_counter()
    for chunk in chunks:
        with engine.begin() as c:
            c.execute(t.insert(), chunk)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def start_postgres(tmp: Path) -> tuple[str, callable]:
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    pgdata = tmp / "pg"
    pgdata.mkdir()
    shutil.chown(tmp, "postgres")
    shutil.chown(pgdata, "postgres")
    run = ["runuser", "-u", "postgres", "--"]
    subprocess.run(run + [str(bindir / "initdb"), "-D", str(pgdata), "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # -l: the server's output goes to a file; a captured pipe would be held open by
    # the server and never reach EOF.
    subprocess.run(
        run + [str(bindir / "pg_ctl"), "-D", str(pgdata), "-w", "-l", str(tmp / "pg.log"), "-o", f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=on", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop():
        subprocess.run(run + [str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"], capture_output=True)

    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", stop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--batch", type=int, nargs="+", default=[256, 1024], help="entries per institution-signed submission (one row per value)")
    ap.add_argument("--form", nargs="+", choices=["batches", "entries"], default=["batches"], help="submission form (docs/formats.md, Submissions)")
    ap.add_argument("--group-max", type=int, default=16, help="most blocks the sequencer commits in one transaction")
    ap.add_argument("--in-flight", type=int, nargs="+", default=[8, 32], help="submissions outstanding at once (one row per value)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per row; the medians are printed")
    ap.add_argument("--postgres", help="PostgreSQL URL (an empty database)")
    ap.add_argument("--start-postgres", action="store_true", help="start a private PostgreSQL server (needs root)")
    ap.add_argument("--run", help=argparse.SUPPRESS)  # internal: one run in this process, JSON in and out
    args = ap.parse_args()
    if args.run:
        one_run(json.loads(args.run))
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    data = tmp / "node"
    genesis = init_network(
        data,
        network="bench.example/net",
        institutions=[InstitutionSpec("seq-inst", "Sequencer", "olympiad-organiser"), InstitutionSpec("school-1", "School", "school")],
        sequencer="seq-inst",
        quorum=1,
        passphrase=PASS,
        created=int(time.time()) - 100,
        kdf_params=KDF,
    )
    signer = load_keys(data, PASS).signing["school-1"]
    stop = None
    pg = args.postgres
    rows = []
    workloads: dict[tuple[str, int], Path] = {}
    for form, batch in [(f, b) for f in args.form for b in args.batch]:
        workloads[form, batch] = saved = tmp / f"workload-{form}-{batch}.pickle"
        saved.write_bytes(pickle.dumps(workload(args.entries, batch, genesis.network, signer, form)))
    engines = [("SQLite", 50_000)] + ([("PostgreSQL", 20_000)] if pg or args.start_postgres else [])
    try:
        # Engine by engine: the PostgreSQL server is started only after the SQLite rows,
        # so its start-up writes do not share the disk with them.
        for (name, target), form, batch, in_flight in [(e, f, b, n) for e in engines for (f, b) in workloads for n in args.in_flight]:
            saved = workloads[form, batch]
            if name == "PostgreSQL" and not pg:
                pg, stop = start_postgres(tmp)
            runs = []
            for k in range(args.repeat):
                if name == "PostgreSQL":
                    reset_postgres(pg)
                    url = ref_url = pg
                else:
                    url = f"sqlite:///{tmp / f'project-{form}-{batch}-{in_flight}-{k}.db'}"
                    ref_url = f"sqlite:///{tmp / f'reference-{form}-{batch}-{in_flight}-{k}.db'}"
                # Each run in a fresh process: nothing of an earlier run (heap, caches,
                # collector state) is left to slow or speed it.
                job = {"url": url, "ref_url": ref_url, "data": str(data), "workload": str(saved), "batch_max": max(256, batch),
                       "group_max": args.group_max, "in_flight": in_flight}
                out = subprocess.run([sys.executable, __file__, "--run", json.dumps(job)], check=True, capture_output=True, text=True).stdout
                ours, ref, ncommits = json.loads(out.strip().splitlines()[-1])
                runs.append((ours, ref, ncommits))
                print(f"  {name} {form} batch {batch}, {in_flight} in flight, run {k + 1}: {ours:.2f} s, reference {ref:.2f} s", file=sys.stderr)
            ours, ref = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            ratio = statistics.median(r[0] / r[1] for r in runs)
            rows.append((name, form, batch, in_flight, runs[len(runs) // 2][2], args.entries, ours, ref, ratio, target))
    finally:
        if stop:
            stop()
    print(f"\ndurable ingest of {args.entries:,} institution-signed entries through the node's sequencer "
          f"(group commit up to {args.group_max} blocks; medians of {args.repeat} run(s))")
    print(f"{'engine':<11} {'form':<8} {'batch':>6} {'in flight':>9} {'commits':>8} {'project s':>10} {'entries/s':>10} {'reference s':>12} {'ratio':>6}  target")
    for name, form, batch, in_flight, ncommits, n, ours, ref, ratio, target in rows:
        print(f"{name:<11} {form:<8} {batch:>6} {in_flight:>9} {ncommits:>8} {ours:>10.2f} {n / ours:>10,.0f} {ref:>12.2f} {ratio:>6.2f}  >= {target:,}/s and ratio <= 1.5")
    shutil.rmtree(tmp, ignore_errors=True)


def one_run(job: dict) -> None:
    """The project's run and the reference's, in this (fresh) process; prints [project s, reference s, commits]."""
    from ledger.node.datadir import load_genesis

    bodies, entry_rows = pickle.loads(Path(job["workload"]).read_bytes())
    data = Path(job["data"])
    genesis = load_genesis(data)
    ours, commits = run_project(job["url"], data, genesis, bodies, len(entry_rows), batch_max=job["batch_max"], group_max=job["group_max"], in_flight=job["in_flight"])
    ref = run_reference(job["ref_url"], entry_rows, commits)
    print(json.dumps([ours, ref, len(commits)]))


def reset_postgres(url: str) -> None:
    """Drop every table, so each run starts from an empty database."""
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("DROP SCHEMA public CASCADE")
        c.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


if __name__ == "__main__":
    main()
