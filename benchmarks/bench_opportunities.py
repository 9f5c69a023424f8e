"""Opportunities at scale: fan-out of one announcement to N matching subscribers, and discovery
search latency over N discoverable profiles, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_opportunities.py [--n 100000] [--queries 300] [--postgres URL | --start-postgres]

Fan-out: the time of ``Opportunities.publish`` (announcement row + the one INSERT ... SELECT that
records and queues a notice per matching person, committed). Delivery over SMTP is not in it.
Search: ``Discovery.search_ids`` (the full-text query joined on the opt-in flag, 20 results),
for prefix queries of one or two words; the card rendering (decrypting 20 names) is not in it.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portfolio_api.db import create_engine, migrate  # noqa: E402
from portfolio_api.db import tables as t
from portfolio_api.services.accounts import User  # noqa: E402
from portfolio_api.services.context import Ctx  # noqa: E402
from portfolio_api.services.discovery import Discovery  # noqa: E402
from portfolio_api.services.opportunities import AnnouncementDraft, Opportunities  # noqa: E402
from portfolio_api.vault import Vault  # noqa: E402

SUBJECTS = ["физика", "математика", "химия", "биология", "информатика", "история", "литература", "астрономия"]
RESULTS = ["победитель", "призёр", "участник"]
LEVELS = ["школьный", "муниципальный", "региональный", "всероссийский", "международный"]
REGIONS = ["москва", "казань", "новосибирск", "екатеринбург", "томск", "пермь"]
CHUNK = 5000


def fill(engine: sa.Engine, n: int) -> None:
    rng = random.Random(7)
    now = int(time.time())
    with engine.begin() as conn:
        for lo in range(0, n, CHUNK):
            ids = range(lo + 1, min(n, lo + CHUNK) + 1)
            conn.execute(t.users.insert(), [{"id": i, "role": "student", "created_at": now} for i in ids])
            conn.execute(t.subscriptions.insert(), [{"user_id": i, "subject": "физика", "level": "", "region": "", "audience": "pupils",
                                                      "email": True, "unsub_salt": secrets.token_hex(16), "created_at": now} for i in ids])
            profiles = []
            for i in ids:
                items = [f"olympiad · {rng.choice(RESULTS)} {rng.choice(LEVELS)} олимпиады по предмету {rng.choice(SUBJECTS)} · {rng.randint(2019, 2026)}"
                         for _ in range(rng.randint(1, 4))]
                if rng.random() < 0.3:
                    items.append(f"professional-development · программа {rng.choice(SUBJECTS)} {rng.choice([36, 72, 144])} часов")
                profiles.append({"user_id": i, "discoverable": rng.random() < 0.9 or i <= 100_000, "region": rng.choice(REGIONS),
                                 "headline": "", "evidence": "\n".join(items), "self_reported": "", "verified_count": len(items), "indexed_at": now})
            conn.execute(t.profiles.insert(), profiles)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")


def run(url: str, n: int, queries: int) -> dict:
    engine = create_engine(url)
    migrate(engine)
    started = time.perf_counter()
    fill(engine, n)
    fill_s = time.perf_counter() - started
    ctx = Ctx(engine=engine, vault=Vault(secrets.token_bytes(32)), node=None)
    opp, disc = Opportunities(ctx, None, None), Discovery(ctx, None, None)
    staff = User(n + 1, "staff", "olymp", "bench", "bench@example.org")
    today = time.strftime("%Y-%m-%d")
    d = AnnouncementDraft("olympiad", "Олимпиада по физике", "Отборочный тур.", "физика", "regional", "москва", "pupils", today, today,
                          "https://olymp.example.org/reg")
    started = time.perf_counter()
    _, notices = opp.publish(staff, d)
    fan_s = time.perf_counter() - started
    assert notices == n, (notices, n)
    rng = random.Random(11)
    qs = []
    for _ in range(queries):
        k = rng.random()
        if k < 0.4:
            qs.append((rng.choice(SUBJECTS)[:5], ""))
        elif k < 0.8:
            qs.append((f"{rng.choice(RESULTS)} {rng.choice(SUBJECTS)}", ""))
        else:
            qs.append((f"{rng.choice(SUBJECTS)} {rng.choice(['72', '144'])} часов", rng.choice(REGIONS)))
    disc.search_ids("физика")  # warm
    lat = []
    for q, region in qs:
        s = time.perf_counter()
        disc.search_ids(q, region=region, limit=20)
        lat.append(time.perf_counter() - s)
    lat.sort()
    engine.dispose()
    return {"fill_s": fill_s, "fanout_s": fan_s, "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--postgres", help="PostgreSQL URL (an empty database)")
    ap.add_argument("--start-postgres", action="store_true", help="start a private PostgreSQL server (needs root)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-opp-"))
    rows = [("SQLite", run(f"sqlite:///{tmp / 'opp.db'}", args.n, args.queries))]
    pg, stop = args.postgres, None
    if args.start_postgres and not pg:
        from bench_ingest import start_postgres

        pg, stop = start_postgres(tmp)
    try:
        if pg:
            rows.append(("PostgreSQL", run(pg, args.n, args.queries)))
    finally:
        if stop:
            stop()
    print(f"{'engine':<11} {'subscribers':>11} {'fan-out s':>9} {'notices/s':>10} {'profiles':>9} {'search p50 ms':>13} {'p99 ms':>7}")
    for name, r in rows:
        print(f"{name:<11} {args.n:>11,} {r['fanout_s']:>9.2f} {args.n / r['fanout_s']:>10,.0f} {args.n:>9,} {r['p50_ms']:>13.2f} {r['p99_ms']:>7.2f}")


if __name__ == "__main__":
    main()
