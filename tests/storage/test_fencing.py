"""Fencing on PostgreSQL (SqlStore.fence, ledger/network/leader.py): a leader paused while its lock session
was ended — by an operator's pg_terminate_backend, or a dropped connection — can never commit again, and
the process that holds the lock now writes as usual."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ledger.errors import ConflictError
from ledger.network.leader import PostgresLeadership, lock_key
from ledger.storage import open_store
from ledger.storage.sql import normalize_url

pytestmark = pytest.mark.postgres
NET = "fence.example/net"


def _end_lock_session(url: str) -> int:
    """What an operator does to a hung leader: terminate the backend that holds the writer lock."""
    engine = sa.create_engine(normalize_url(url), poolclass=sa.pool.NullPool)
    key = lock_key(NET)
    with engine.connect() as c:
        pid = c.execute(
            sa.text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                " AND ((classid::bigint << 32) | objid::bigint) = :key"
            ),
            {"key": key},
        ).scalar_one()
        assert c.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar()
        c.commit()
    engine.dispose()
    return pid


def test_a_leader_whose_lock_session_was_ended_never_writes_again(pg_store_url):
    old = open_store(pg_store_url)
    old_lock = PostgresLeadership(pg_store_url, NET, fence=old.fence)
    new = open_store(pg_store_url)
    new_lock = PostgresLeadership(pg_store_url, NET, fence=new.fence)
    try:
        assert old_lock.try_acquire() and not new_lock.try_acquire()
        old.set_meta("written-by", "old leader")
        old.add_checkpoint(1, b"checkpoint one\n")
        _end_lock_session(pg_store_url)  # the old leader is paused meanwhile and notices nothing
        assert new_lock.try_acquire()  # the standby takes over
        for write in (lambda: old.set_meta("written-by", "old leader again"), lambda: old.add_checkpoint(2, b"checkpoint two\n")):
            with pytest.raises(ConflictError, match="no longer holds the writer role"):
                write()
        assert new.get_meta("written-by") == "old leader" and new.checkpoint(2) is None  # nothing of it committed
        new.set_meta("written-by", "new leader")
        new.add_checkpoint(2, b"checkpoint two\n")
        assert old.get_meta("written-by") == "new leader"  # the old one still reads
        assert not old_lock.still_held()
    finally:
        for lock in (old_lock, new_lock):
            lock.release()
        old.close()
        new.close()


def test_an_unfenced_store_and_sqlite_write_as_before(pg_store_url, tmp_path):
    for url in (pg_store_url, f"sqlite:///{tmp_path / 'ledger.db'}"):
        store = open_store(url)
        try:
            store.set_meta("k", "v")
            assert store.get_meta("k") == "v"
        finally:
            store.close()
