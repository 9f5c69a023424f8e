"""Which of an institution's node processes writes: one leader per database.

An institution may run several node processes against one PostgreSQL
database. Exactly one of them — the *leader* — writes the log: it runs the
sequencer (on the sequencing institution) or the mirroring follower (on every
other institution). The others answer reads from the shared database and push
writes back with 503 + Retry-After (ledger.node.node).

The role is a PostgreSQL *session* advisory lock, ``pg_try_advisory_lock(k)``
with ``k`` derived from the network name, held on a dedicated connection that
does nothing else. PostgreSQL releases a session lock when its connection
ends: a leader killed with SIGKILL loses it as soon as the kernel closes its
socket, and a standby polling ``try_acquire`` takes over within one poll
interval. Nothing here is a consensus protocol: the database is the single
arbiter, and the ledger's own preconditions (a block must extend the stored
chain, ``store.append_block``) refuse a write from a process that lost the
role but has not noticed yet, so two writers can never fork the log.

Fencing makes that strict: the store checks, last thing in every write
transaction, that the lock session is still this process's (``SqlStore.fence``),
and marks the transaction with a shared transaction lock. On acquiring the role,
a process terminates the backend of every transaction still so marked (a leader
paused between its check and its COMMIT, or holding row locks the new leader
would wait on) and waits until each is gone, before it writes anything. So an
old leader's write either committed before the takeover or never commits. This
needs PostgreSQL 14 or newer (``pg_terminate_backend(pid, timeout)``), and the
node's database role may terminate its own sessions (as any role may).

SQLite and the in-memory store have one process by construction:
``SoleWriter`` is always the leader.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("eduledger.leader")


def lock_key(network: str) -> int:
    """The advisory lock key of a network: 64 bits of SHA-256, as PostgreSQL's signed bigint."""
    digest = hashlib.sha256(b"eduledger leader\n" + network.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership(Protocol):
    def try_acquire(self) -> bool:
        """Take the role if nobody holds it; True if this process holds it now."""
        ...

    def still_held(self) -> bool:
        """False once the role is lost (the lock connection broke)."""
        ...

    def release(self) -> None: ...


class SoleWriter:
    """The only process on its database (SQLite, memory): always the leader."""

    def try_acquire(self) -> bool:
        return True

    def still_held(self) -> bool:
        return True

    def release(self) -> None:
        pass


class PostgresLeadership:
    """The role held as a PostgreSQL session advisory lock on a dedicated connection."""

    def __init__(self, url: str, network: str, *, fence: Callable[[int | None, int], None] | None = None) -> None:
        import sqlalchemy as sa

        from ledger.storage.sql import normalize_url

        self.key = lock_key(network)
        # Told the lock session's backend pid on acquisition: the store then fences its writes on it
        # (SqlStore.fence), so a paused leader whose lock session was ended can never commit again.
        self._fence = fence
        self._engine = sa.create_engine(normalize_url(url), poolclass=sa.pool.NullPool)
        self._conn = None
        self._held = False

    def _connection(self):
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # the connection is already broken
                pass
        self._conn = None
        self._held = False

    def try_acquire(self) -> bool:
        import sqlalchemy as sa

        if self._held:
            return self.still_held()
        try:
            got = self._connection().execute(sa.select(sa.func.pg_try_advisory_lock(self.key))).scalar()
        except sa.exc.SQLAlchemyError as e:
            log.warning("cannot ask for the leader lock: %s", e)
            self._drop()
            return False
        self._held = bool(got)
        if self._held:
            if not self._end_old_writes():
                self._drop()
                return False
            if self._fence is not None:
                try:
                    self._fence(self._connection().execute(sa.select(sa.func.pg_backend_pid())).scalar(), self.key)
                except sa.exc.SQLAlchemyError as e:
                    log.warning("cannot read the leader lock session: %s", e)
                    self._drop()
                    return False
            log.warning("this process is now the leader (advisory lock %d)", self.key)
        return self._held

    # Backends in a write transaction of the writer role on this database (SqlStore._fenced marks them), other than us.
    _OLD_WRITES = (
        "SELECT pid, pg_terminate_backend(pid, :wait_ms) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND ((classid::bigint << 32) | objid::bigint) = :mark AND pid <> pg_backend_pid()"
    )
    OLD_WRITES_WAIT_MS = 10_000

    def _end_old_writes(self) -> bool:
        """End the write transactions a previous leader left in flight; True when none is left.

        Called with the lock just acquired: a transaction marked from now on belongs to a process
        that no longer holds the lock, and its own check refuses it before COMMIT."""
        import sqlalchemy as sa

        from ledger.storage.sql import fenced_transaction_key

        try:
            ended = self._connection().execute(
                sa.text(self._OLD_WRITES), {"mark": fenced_transaction_key(self.key), "wait_ms": self.OLD_WRITES_WAIT_MS}
            ).all()
        except sa.exc.SQLAlchemyError as e:
            log.warning("cannot end the previous leader's writes: %s", e)
            return False
        for pid, gone in ended:
            log.warning("terminated backend %d: a write transaction of the previous leader", pid)
            if not gone:
                log.warning("backend %d did not exit in time; not taking the writer role yet", pid)
                return False
        return True

    def still_held(self) -> bool:
        import sqlalchemy as sa

        if not self._held:
            return False
        try:
            # A session advisory lock lasts as long as its session: if the
            # connection still answers, this process still holds the role.
            self._connection().execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as e:
            log.error("lost the leader lock connection: %s", e)
            self._drop()
            return False
        return True

    def release(self) -> None:
        import sqlalchemy as sa

        if self._held and self._conn is not None:
            try:
                self._conn.execute(sa.select(sa.func.pg_advisory_unlock(self.key)))
            except sa.exc.SQLAlchemyError:
                pass
        self._drop()
        self._engine.dispose()


def leadership_for(database_url: str, network: str, *, fence: Callable[[int | None, int], None] | None = None) -> Leadership:
    if database_url.startswith("postgresql"):
        return PostgresLeadership(database_url, network, fence=fence)
    return SoleWriter()


__all__ = ["Leadership", "PostgresLeadership", "SoleWriter", "leadership_for", "lock_key"]
