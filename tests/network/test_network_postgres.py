"""Several node processes of one institution on one PostgreSQL: exactly one writes.

The writer role is a PostgreSQL advisory lock (ledger/network/leader.py). The leader is
killed with SIGKILL under a write load; the standby takes over, signs what was
committed, and the log continues with no acknowledged entry lost; the other
institutions' replicas agree with it.
"""

from __future__ import annotations

import random

import httpx
import pytest

from tests.netutil import SEQ, Load, Network, all_leaf_hashes, audit, wait_until
from tests.nodeproc import NodeProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _durable_commits(url: str) -> None:
    """This test's database commits durably (the private server runs with synchronous_commit off for speed;
    fsync is a server-wide setting it leaves off: the server itself is never killed here)."""
    import sqlalchemy as sa

    from ledger.storage.sql import normalize_url

    engine = sa.create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        name = c.execute(sa.text("SELECT current_database()")).scalar_one()
        c.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = on'))
    engine.dispose()


def test_standby_takes_over_when_the_postgresql_leader_is_killed_and_no_acknowledged_entry_is_lost(tmp_path, pg_store_url):
    # Quorum 2 of the institutions besides the sequencer (its own witness never counts): ipk and uni.
    net = Network(tmp_path, quorum=2)
    _durable_commits(pg_store_url)
    env = {"EDULEDGER_BATCH_MS": "50", "EDULEDGER_BATCH_MAX": "64"}
    # The first process listens at the institution's URL in peers.json, so the
    # replicas mirror from it, and from it again when it returns as a standby.
    first = NodeProcess(net.dirs[SEQ], database_url=pg_store_url, env=env, port=net.ports[SEQ]).start()
    second = NodeProcess(net.dirs[SEQ], database_url=pg_store_url, env=env).start()
    net.start("ipk", "uni")
    procs = [first, second]
    try:
        status = lambda p: httpx.get(p.url + "/api/v1/network/status", timeout=10).json()  # noqa: E731
        wait_until("exactly one leader", lambda: [status(p)["is_leader"] for p in procs] == [True, False])
        # A standby pushes writes back with 503 + Retry-After.
        r = httpx.post(second.url + "/api/v1/ledger/entries", json=net.batch("ipk", 10**6, 1), timeout=10)
        assert r.status_code == 503 and r.headers["retry-after"]
        alive = lambda: random.choice([p for p in procs if p.proc and p.proc.poll() is None]).url  # noqa: E731
        with Load(net, alive, "ipk", 0) as load:
            wait_until("some acknowledged entries", lambda: len(load.acked) >= 100)
            first.kill()
            before = len(load.acked)
            wait_until("the standby to take over", lambda: status(second)["is_leader"], timeout=60)
            wait_until("the load to continue on the new leader", lambda: len(load.acked) >= before + 100)
        size = httpx.get(second.url + "/api/v1/ledger/status", timeout=5).json()["size"]
        wait_until("a final checkpoint of everything", lambda: status(second)["final_size"] == size)
        assert load.acked <= set(all_leaf_hashes(second.url))
        # The old leader comes back as a standby and serves the same log from the shared database.
        first.start()
        assert status(first)["is_leader"] is False
        wait_until("the returning process to see the same log", lambda: status(first)["size"] == size)
        assert all_leaf_hashes(first.url) == all_leaf_hashes(second.url)
        assert httpx.get(first.url + "/checkpoint").content == httpx.get(second.url + "/checkpoint").content
        # The replicas agree: they mirrored the whole final log, served by the standby at the
        # institution's URL from the shared database, and hold what the new leader holds.
        wait_until("the replicas to mirror the final log", lambda: all(net.final_size(i) == size for i in ("ipk", "uni")), timeout=90)
        leaves = all_leaf_hashes(second.url)
        for inst in ("ipk", "uni"):
            assert all_leaf_hashes(net.url(inst))[:size] == leaves[:size], inst
            assert net.verified_final(inst).checkpoint.size == size
        assert load.acked <= set(all_leaf_hashes(net.url("uni")))
    finally:
        for p in procs:
            p.stop()
        net.stop_all()
    result = audit(net.dirs[SEQ], pg_store_url)
    assert result.returncode == 0, result.stdout + result.stderr
