"""A witness's own state store: the last checkpoint each witness key cosigned, per log, apart from the log.

The witness state used to live in the log's database, so a copy of a node's data
directory carried a working witness (its key beside it) and restoring an older
backup of the database rolled the witness back. Here it has a database of its
own, ``<witness-dir>/witness.db`` (SQLite), or, for two processes of one
institution sharing a PostgreSQL log (leader and standby), a PostgreSQL
database other than the log's (``--witness-db``). The witness directory holds
it with the witness keys (``ledger/node/witnessdir.py``).

Durability contract (the same as :meth:`ledger.storage.base.LedgerStore.cas_witness_state`):
when ``cas_witness_state`` returns, the new state is committed and on disk
(SQLite ``synchronous=FULL`` with a rollback journal, so the one file
``witness.db`` is the whole state; PostgreSQL's commit), so a cosignature made
after it can never be contradicted after a crash. The check of the old size
and the move are one statement in one transaction (``UPDATE ... WHERE size =
old`` or an ``INSERT`` that fails on an existing row), so two requests, or two
processes sharing one PostgreSQL witness database, never both move from one
size. A crash before the commit leaves the old state; the witness then has not
answered yet.

It implements ``witness_state``, ``cas_witness_state`` and ``witness_states`` of
:class:`ledger.network.witness.WitnessStateStore`, with the LedgerStore's
argument checks and errors (:class:`CompareAndSwapError`, StorageError).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ledger.errors import StorageError
from ledger.storage.base import CompareAndSwapError, check_bytes, check_str, check_witness_move, describe_size

_metadata = sa.MetaData()
_state = sa.Table(
    "witness_state",
    _metadata,
    sa.Column("origin", sa.String, primary_key=True),  # "<witness name> <log origin>" (Witness.state_key)
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("note", sa.LargeBinary, nullable=False),
)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # A rollback journal, not WAL: the state is the one file witness.db (what an operator backs up).
        cur.execute("PRAGMA journal_mode = DELETE")
        cur.execute("PRAGMA synchronous = FULL")
    finally:
        cur.close()


class SqlWitnessStateStore:
    """The witness state in its own SQLite file or PostgreSQL database (module docstring)."""

    def __init__(self, url: str) -> None:
        from ledger.storage.sql import normalize_url

        parsed = normalize_url(url)  # MalformedError for anything but a file SQLite database or PostgreSQL
        self.url = url
        self._engine = sa.create_engine(parsed, pool_pre_ping=parsed.get_backend_name() == "postgresql")
        if parsed.get_backend_name() == "sqlite":
            sa.event.listen(self._engine, "connect", _on_sqlite_connect)
        try:
            _metadata.create_all(self._engine, checkfirst=True)
        except sa.exc.SQLAlchemyError as e:
            self._engine.dispose()
            raise StorageError(f"cannot open the witness state database {parsed.render_as_string(hide_password=True)}: {e}") from None
        dialect = postgresql if parsed.get_backend_name() == "postgresql" else sqlite
        # preserve_rowcount: SQLAlchemy's psycopg dialect reports -1 otherwise, and the rowcount is the CAS's answer.
        self._insert_if_absent = dialect.insert(_state).on_conflict_do_nothing(index_elements=["origin"]).execution_options(preserve_rowcount=True)
        self._closed = False

    @contextmanager
    def _conn(self, what: str, *, write: bool) -> Iterator[sa.Connection]:
        if self._closed:
            raise ValueError("the witness state store is closed")
        try:
            with self._engine.begin() if write else self._engine.connect() as c:
                yield c
        except (CompareAndSwapError, ValueError, TypeError):
            raise
        except sa.exc.SQLAlchemyError as e:
            raise StorageError(f"witness state: cannot {what}: {e}") from None

    def witness_state(self, origin: str) -> tuple[int, bytes] | None:
        """``(size, note)`` last cosigned under the key ``origin``, or None."""
        with self._conn("read the witness state", write=False) as c:
            row = c.execute(sa.select(_state.c.size, _state.c.note).where(_state.c.origin == origin)).one_or_none()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def witness_states(self) -> list[tuple[str, int, bytes]]:
        """Every state as ``(key, size, note)``, sorted by key."""
        with self._conn("read the witness states", write=False) as c:
            rows = c.execute(sa.select(_state.c.origin, _state.c.size, _state.c.note).order_by(_state.c.origin)).all()
        return [(str(k), int(s), bytes(n)) for k, s, n in rows]

    def cas_witness_state(self, origin: str, old_size: int | None, new_size: int, note: bytes) -> None:
        """Move the state of ``origin`` from ``old_size`` (None: no state yet) to ``new_size`` by
        compare-and-swap; CompareAndSwapError with the current size if it is elsewhere."""
        check_str(origin, "origin")
        check_witness_move(old_size, new_size)
        check_bytes(note, "note")
        with self._conn(f"move the witness state for {origin!r}", write=True) as c:
            if old_size is None:
                # One statement that inserts only when no row exists (atomic on both backends).
                values = {"origin": origin, "size": new_size, "note": note}
                swapped = c.execute(self._insert_if_absent.values(**values)).rowcount == 1
            else:
                update = (
                    _state.update()
                    .where(_state.c.origin == origin, _state.c.size == old_size)
                    .values(size=new_size, note=note)
                )
                swapped = c.execute(update.execution_options(preserve_rowcount=True)).rowcount == 1
            if not swapped:
                current = c.execute(sa.select(_state.c.size).where(_state.c.origin == origin)).scalar_one_or_none()
                current_size = None if current is None else int(current)
                raise CompareAndSwapError(
                    f"witness state for {origin!r} is at {describe_size(current_size)}, expected {describe_size(old_size)}",
                    current_size=current_size,
                )

    def close(self) -> None:
        self._closed = True
        self._engine.dispose()


__all__ = ["SqlWitnessStateStore", "sqlite_url"]
