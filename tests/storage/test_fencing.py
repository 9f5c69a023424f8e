"""Fencing on PostgreSQL (SqlStore.fence, ledger/network/leader.py): a leader paused while its lock session
was ended — by an operator's pg_terminate_backend, or a dropped connection — can never commit again, and
the process that holds the lock now writes as usual. A write transaction the old leader had in flight when
it was paused (past its own lock check, or holding row locks) is ended by the takeover, not committed later.
The same at the level of node processes: tests/network/test_network_postgres.py."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ledger.errors import ConflictError, StorageError
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
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
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


def test_a_takeover_ends_the_write_transaction_the_paused_leader_had_in_flight(pg_store_url):
    old = open_store(pg_store_url)
    old_lock = PostgresLeadership(pg_store_url, NET, fence=old.fence)
    new = open_store(pg_store_url)
    new_lock = PostgresLeadership(pg_store_url, NET, fence=new.fence)
    try:
        assert old_lock.try_acquire()
        old.add_checkpoint(1, b"checkpoint one\n")
        # The old leader is inside a write: its rows are inserted, its own lock check has passed, and
        # then it is paused before COMMIT (here: the transaction is simply left open).
        with pytest.raises(StorageError):
            with old._transaction("append in flight") as c:
                c.execute(sa.text("INSERT INTO checkpoints (size, note) VALUES (2, 'old leader two')"))
                c.execute(sa.text("INSERT INTO meta (key, value) VALUES ('written-by', 'old leader')"))
                _end_lock_session(pg_store_url)
                # Without the takeover ending it, this transaction would commit on waking, and the new
                # leader's inserts at the same keys would wait for it meanwhile.
                assert new_lock.try_acquire()
                new.add_checkpoint(2, b"checkpoint two\n")
                new.set_meta("written-by", "new leader")
        assert new.checkpoint(2) == b"checkpoint two\n" and new.get_meta("written-by") == "new leader"
        with pytest.raises(ConflictError, match="no longer holds the writer role"):
            old.add_checkpoint(3, b"checkpoint three\n")
        assert new.checkpoint(3) is None
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
