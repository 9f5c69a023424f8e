"""The SQLAlchemy backend of :class:`~ledger.storage.base.LedgerStore`: SQLite and PostgreSQL, same code.

Opening a store runs the Alembic migrations to head (``migrate``), inside one
transaction, so a database is either fully at the new schema or untouched.

Durability: every write method has committed its change, in one transaction,
when it returns. On SQLite the database runs in WAL mode with ``synchronous=FULL``
(each commit fsyncs the WAL, so a power loss after ``COMMIT`` returns loses
nothing); on PostgreSQL the server's defaults (``fsync``, synchronous commit)
give the same. A crash before ``COMMIT`` returns leaves nothing of the
transaction: SQLite and PostgreSQL roll an unfinished transaction back on
recovery.

Transactions: a write that takes several statements (``append_block`` checks
its preconditions, then inserts the block and its entries; ``set_final``) runs
in one transaction. Reads and single-statement writes (``INSERT ... ON
CONFLICT DO NOTHING``, the compare-and-swap ``UPDATE ... WHERE size = old``)
run in autocommit mode: one statement is atomic and durable by itself, and
skipping BEGIN/COMMIT saves round trips.

SQLite: Python 3.11's ``sqlite3`` starts transactions implicitly and late (only
before DML), so a write's precondition SELECTs would run outside it. The
driver's own handling is switched off and we issue ``BEGIN IMMEDIATE``
ourselves, which takes the write lock before the precondition reads, so they
cannot go stale and ``busy_timeout`` applies instead of an immediate
"database is locked".

Append-only: this module issues UPDATE only on ``witness_state`` and upserts
only on ``meta``, and never DELETE; the triggers installed by the migrations
reject both on ledger tables anyway. On SQLite they also refuse any INSERT onto
a stored key (migration 0002), ON CONFLICT DO NOTHING included, so the
idempotent re-adds of checkpoints, cosignatures and final checkpoints insert
only when the key is absent (``INSERT ... SELECT ... WHERE NOT EXISTS``: one
statement, and SQLite has one writer, so nothing can slip in between).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql, sqlite

from ledger.errors import ConflictError, EduledgerError, MalformedError, NotFoundError, StorageError
from ledger.storage import schema as t
from ledger.storage.base import (
    CompareAndSwapError,
    StoredBlock,
    check_block_entries,
    check_bytes,
    check_range,
    check_size,
    check_str,
    check_witness_move,
    describe_size,
)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Arbitrary constant: the key of the PostgreSQL advisory lock that serialises migrations.
_MIGRATION_LOCK_KEY = 0x6564756C6564  # "eduled"
_WRITE = "eduledger_write"  # execution option: a multi-statement write transaction
_AUTOCOMMIT = "eduledger_autocommit"  # execution option (SQLite): each statement commits by itself
_IN_CHUNK = 500  # bound parameters per IN (...) lookup


def normalize_url(url: str) -> sa.URL:
    """Parse a database URL; ``postgresql://`` and ``postgres://`` mean psycopg 3.

    Raises MalformedError for anything that is not a file SQLite database or
    a PostgreSQL server: an in-memory SQLite database would vanish with its
    connection (use ``memory://``).
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as e:
        raise MalformedError(f"not a database URL: {url!r} ({e})") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "postgresql":
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif driver != "psycopg":
            raise MalformedError(f"unsupported PostgreSQL driver {driver!r}: use postgresql+psycopg://")
    elif backend == "sqlite":
        if driver != "pysqlite":
            raise MalformedError(f"unsupported SQLite driver {driver!r}: use sqlite:///path/to/ledger.db")
        if parsed.database in (None, "", ":memory:") or "memory" in str(parsed.query.get("mode", "")):
            raise MalformedError("an in-memory SQLite database does not outlive its connection: use memory://")
    else:
        raise MalformedError(f"unsupported database {backend!r}: use sqlite:///path or postgresql+psycopg://")
    return parsed


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Take transaction control away from the driver (see the module docstring).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")  # first: WAL switch may wait for a lock
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        # INSERT OR REPLACE deletes rows without firing DELETE triggers unless this is on
        # (migration 0002's INSERT triggers refuse it first, for every connection; this stays a second line).
        cur.execute("PRAGMA recursive_triggers = ON")
    finally:
        cur.close()


def _on_sqlite_begin(conn: sa.Connection) -> None:
    options = conn.get_execution_options()
    if options.get(_AUTOCOMMIT):
        return  # no BEGIN: the statement is its own transaction; SQLAlchemy's COMMIT is then a no-op
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE) else "BEGIN")


def create_engine(url: str | sa.URL) -> sa.Engine:
    """An Engine configured for the ledger (SQLite pragmas and BEGIN handling)."""
    parsed = normalize_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        sa.event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return sa.create_engine(parsed)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic Config built in code: no alembic.ini is needed at runtime."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))  # ConfigParser interpolates %
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: sa.Engine) -> None:
    """Upgrade the database to the newest schema in one transaction (a no-op when current)."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # Two processes opening one fresh database must not both create tables.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            command.upgrade(alembic_config(conn), "head")


# --- prepared statements ------------------------------------------------------------------

_Q_SIZE = sa.select(sa.func.coalesce(sa.func.max(t.entries.c.idx) + 1, 0))
_Q_BLOCK_COUNT = sa.select(sa.func.coalesce(sa.func.max(t.blocks.c.height) + 1, 0))
_Q_SIZES = sa.select(_Q_SIZE.scalar_subquery(), _Q_BLOCK_COUNT.scalar_subquery())
_START, _END = sa.bindparam("start"), sa.bindparam("end")
_Q_LEAVES = (
    sa.select(t.entries.c.leaf_hash)
    .where(t.entries.c.idx >= _START, t.entries.c.idx < _END)
    .order_by(t.entries.c.idx)
)
_Q_DATAS = sa.select(t.entries.c.data).where(t.entries.c.idx >= _START, t.entries.c.idx < _END).order_by(t.entries.c.idx)
_Q_ENTRY = sa.select(t.entries.c.data).where(t.entries.c.idx == sa.bindparam("idx"))
_Q_INDEX_OF = sa.select(t.entries.c.idx).where(t.entries.c.leaf_hash == sa.bindparam("leaf_hash"))
_Q_STORED_LEAVES = sa.select(t.entries.c.idx, t.entries.c.leaf_hash).where(
    t.entries.c.leaf_hash.in_(sa.bindparam("leaf_hashes", expanding=True))
)
_BLOCK_COLS = (t.blocks.c.height, t.blocks.c.first_index, t.blocks.c.count, t.blocks.c.header, t.blocks.c.hash)
_Q_BLOCK = sa.select(*_BLOCK_COLS).where(t.blocks.c.height == sa.bindparam("height"))
_Q_BLOCKS = sa.select(*_BLOCK_COLS).where(t.blocks.c.height >= _START, t.blocks.c.height < _END).order_by(t.blocks.c.height)
_Q_BLOCK_FOR_INDEX = (
    sa.select(*_BLOCK_COLS)
    .where(t.blocks.c.first_index <= sa.bindparam("idx"))
    .order_by(t.blocks.c.first_index.desc())
    .limit(1)
)
_Q_CHECKPOINT = sa.select(t.checkpoints.c.note).where(t.checkpoints.c.size == sa.bindparam("size"))
_Q_LATEST_CHECKPOINT = sa.select(t.checkpoints.c.size, t.checkpoints.c.note).order_by(t.checkpoints.c.size.desc()).limit(1)
_Q_COSIGNATURE = sa.select(t.cosignatures.c.line).where(
    t.cosignatures.c.size == sa.bindparam("size"), t.cosignatures.c.witness == sa.bindparam("witness")
)
_Q_COSIGNATURES = (
    sa.select(t.cosignatures.c.witness, t.cosignatures.c.line)
    .where(t.cosignatures.c.size == sa.bindparam("size"))
    .order_by(t.cosignatures.c.witness)
)
_Q_LATEST_FINAL = (
    sa.select(t.final_checkpoints.c.size, t.final_checkpoints.c.note).order_by(t.final_checkpoints.c.size.desc()).limit(1)
)
_Q_WITNESS_STATE = sa.select(t.witness_state.c.size, t.witness_state.c.note).where(
    t.witness_state.c.origin == sa.bindparam("origin")
)
_Q_META = sa.select(t.meta.c.value).where(t.meta.c.key == sa.bindparam("key"))
_Q_WITNESS_STATES = sa.select(t.witness_state.c.origin, t.witness_state.c.size, t.witness_state.c.note).order_by(
    t.witness_state.c.origin
)
_Q_CHECKPOINT_SIZES = (
    sa.select(t.checkpoints.c.size).where(t.checkpoints.c.size >= sa.bindparam("start")).order_by(t.checkpoints.c.size)
)
_Q_LATEST_COSIGNED = sa.select(sa.func.max(t.cosignatures.c.size))
_U_WITNESS_STATE = (
    sa.update(t.witness_state)
    .where(t.witness_state.c.origin == sa.bindparam("w_origin"), t.witness_state.c.size == sa.bindparam("old_size"))
    .values(size=sa.bindparam("new_size"), note=sa.bindparam("w_note"))
)


#: Most entry bytes bound to one bulk INSERT (SQLite refuses values over 1e9 bytes by default).
_BULK_BYTES = 64 * 1024 * 1024

# The entries of a group of blocks go in as ONE statement per engine, not one
# executemany row at a time: the database expands the rows itself. Besides
# saving the per-row driver round, the statement runs inside a single
# sqlite3_step, during which Python's sqlite3 releases the GIL, so the B-tree
# and WAL work of a commit overlaps with the event loop parsing the next
# submissions on the other core (an executemany hands the GIL back and forth
# for every row and serialises with it). On PostgreSQL the rows travel as three
# arrays in one round trip and the server process does the inserting.
_SQLITE_BULK_INSERT = (
    "INSERT INTO entries (idx, leaf_hash, data) "
    "SELECT ?1 + k, substr(?2, k * 32 + 1, 32), coalesce(substr(?3, e - n + 1, n), x'') "
    "FROM (SELECT key AS k, value AS n, sum(value) OVER (ORDER BY key ROWS UNBOUNDED PRECEDING) AS e FROM json_each(?4))"
)
# %b: psycopg sends the arrays in binary; as text (%s) every bytea would travel as hex
# and be parsed by the server, four times slower (measured).
_POSTGRESQL_BULK_INSERT = (
    "INSERT INTO entries (idx, leaf_hash, data) "
    "SELECT * FROM unnest(%b::bigint[], %b::bytea[], %b::bytea[])"
)


def _bulk_chunks(rows: Sequence[tuple[bytes, bytes]]) -> Iterator[tuple[int, Sequence[tuple[bytes, bytes]]]]:
    """(offset, rows) runs of at most _BULK_BYTES entry bytes (at least one row each)."""
    start, size = 0, 0
    for i, (_, data) in enumerate(rows):
        if size and size + len(data) > _BULK_BYTES:
            yield start, rows[start:i]
            start, size = i, 0
        size += len(data)
    if start < len(rows):
        yield start, rows[start:]


def _insert_entries_sqlite(c: sa.Connection, first_index: int, rows: Sequence[tuple[bytes, bytes]]) -> None:
    """Insert (leaf_hash, data) rows at first_index, first_index + 1, ...: one statement per chunk.

    The leaf hashes are one blob (32 bytes each) and the datas another, cut by
    substr() at the running sum of the lengths a JSON array gives (substr() on a
    blob counts bytes; of zero bytes it is NULL, hence the coalesce)."""
    for offset, chunk in _bulk_chunks(rows):
        datas = [d for _, d in chunk]
        c.exec_driver_sql(
            _SQLITE_BULK_INSERT,
            (first_index + offset, b"".join([lh for lh, _ in chunk]), b"".join(datas), "[" + ",".join(map(str, map(len, datas))) + "]"),
        )


def _insert_entries_postgresql(c: sa.Connection, first_index: int, rows: Sequence[tuple[bytes, bytes]]) -> None:
    """Insert (leaf_hash, data) rows at first_index, first_index + 1, ...: one statement per chunk."""
    for offset, chunk in _bulk_chunks(rows):
        start = first_index + offset
        c.exec_driver_sql(
            _POSTGRESQL_BULK_INSERT,
            (list(range(start, start + len(chunk))), [lh for lh, _ in chunk], [d for _, d in chunk]),
        )


def _insert_if_absent(table: sa.Table, key: Sequence[str]) -> sa.Insert:
    """``INSERT INTO table SELECT :cols WHERE NOT EXISTS (row with this key)``: rowcount 1 if it went in.

    SQLite's append-only INSERT triggers refuse ON CONFLICT DO NOTHING onto a
    stored key; this form never offers them a stored key."""
    params = {c.name: sa.bindparam(c.name, type_=c.type) for c in table.columns}
    absent = ~sa.exists().where(*(table.c[k] == params[k] for k in key))
    return (
        sa.insert(table)
        .from_select(list(params), sa.select(*params.values()).where(absent))
        .execution_options(preserve_rowcount=True)
    )


def _block_from_row(row: Sequence[Any]) -> StoredBlock:
    try:
        return StoredBlock(int(row[0]), int(row[1]), int(row[2]), bytes(row[3]), bytes(row[4]))
    except (TypeError, ValueError) as e:  # a row edited behind our back: report, don't crash as a bug
        raise StorageError(f"block {row[0]} in the database is malformed: {e}") from None


# Does backend :pid hold the session advisory lock :key? pg_try_advisory_lock(bigint) shows in pg_locks
# as classid = the key's high 32 bits, objid = its low 32 bits, objsubid = 1.
_FENCE_CHECK = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = :pid AND objsubid = 1"
    " AND ((classid::bigint << 32) | objid::bigint) = :key)"
)
# Marks a fenced write transaction as a writer's (a shared transaction-level advisory lock: held
# until COMMIT or ROLLBACK). A process that takes the writer role over ends every transaction so
# marked before it writes itself (ledger.network.leader.PostgresLeadership.try_acquire).
_FENCE_MARK = sa.text("SELECT pg_advisory_xact_lock_shared(:mark)")


def fenced_transaction_key(lock_key: int) -> int:
    """The advisory lock key that marks the write transactions of the writer role ``lock_key``
    (another key: a shared lock on the role's own key would wait for the lock session)."""
    return lock_key ^ 1


class SqlStore:
    """LedgerStore over SQLAlchemy Core; one class for SQLite and PostgreSQL."""

    def __init__(self, url: str) -> None:
        self._url = normalize_url(url)
        self._closed = False
        self._engine = create_engine(self._url)
        dialect = sqlite if self._url.get_backend_name() == "sqlite" else postgresql
        # ON CONFLICT DO NOTHING / DO UPDATE: the same SQL on both databases, spelled per dialect.
        # rowcount says whether the row went in; SQLAlchemy keeps it for INSERT only when asked.
        self._insert_or_ignore = {
            table: dialect.insert(table).on_conflict_do_nothing().execution_options(preserve_rowcount=True)
            for table in (t.checkpoints, t.cosignatures, t.final_checkpoints, t.witness_state)
        }
        if dialect is sqlite:  # ledger tables: the INSERT triggers refuse DO NOTHING onto a stored key
            self._insert_or_ignore[t.checkpoints] = _insert_if_absent(t.checkpoints, ["size"])
            self._insert_or_ignore[t.cosignatures] = _insert_if_absent(t.cosignatures, ["size", "witness"])
            self._insert_or_ignore[t.final_checkpoints] = _insert_if_absent(t.final_checkpoints, ["size"])
        if dialect is sqlite:
            self._autocommit_engine = self._engine.execution_options(**{_AUTOCOMMIT: True})
        else:
            self._autocommit_engine = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._tx_engine = self._engine.execution_options(**{_WRITE: True})
        self._fence: tuple[int, int] | None = None  # (backend pid holding the writer lock, lock key); see fence()
        self._insert_entries = _insert_entries_sqlite if dialect is sqlite else _insert_entries_postgresql
        upsert = dialect.insert(t.meta)
        self._upsert_meta = upsert.on_conflict_do_update(index_elements=[t.meta.c.key], set_={"value": upsert.excluded.value})
        try:
            migrate(self._engine)
        except (sa.exc.SQLAlchemyError, CommandError) as e:
            # CommandError: e.g. the database is at a revision this code does not know (newer code wrote it).
            self._engine.dispose()
            raise StorageError(f"cannot open {self!r}: {e}") from e

    def __repr__(self) -> str:
        return f"SqlStore({self._url.render_as_string(hide_password=True)!r})"

    @property
    def engine(self) -> sa.Engine:
        """The underlying Engine (tests and tools; the ledger itself goes through the methods)."""
        return self._engine

    # --- transactions -------------------------------------------------------------------

    @contextmanager
    def _connection(self, what: str, engine: sa.Engine) -> Iterator[sa.Connection]:
        """A connection in a transaction committed on normal exit, rolled back on any exception.

        Database errors become domain errors: a violated constraint is a
        ConflictError, anything else a StorageError.
        """
        if self._closed:
            raise ValueError(f"{self!r} is closed")
        try:
            with engine.connect() as conn, conn.begin():
                yield conn
        except EduledgerError:
            raise
        except sa.exc.IntegrityError as e:
            raise ConflictError(f"{what}: {e.orig}") from e
        except sa.exc.SQLAlchemyError as e:
            raise StorageError(f"{what} failed: {e}") from e

    def _transaction(self, what: str) -> AbstractContextManager[sa.Connection]:
        """For writes that take several statements: all of them commit, or none."""
        return self._fenced(what) if self._fence is not None else self._connection(what, self._tx_engine)

    def _write(self, what: str) -> AbstractContextManager[sa.Connection]:
        """For single-statement writes: autocommit, unless fenced (then a transaction checked before COMMIT)."""
        return self._fenced(what) if self._fence is not None else self._statement(what)

    # --- fencing (several processes of one institution on PostgreSQL) -------------------------

    def fence(self, lock_pid: int | None, lock_key: int = 0) -> None:
        """Make every write of this store check, last thing before its COMMIT, that the PostgreSQL backend
        ``lock_pid`` still holds the session advisory lock ``lock_key`` (ledger/network/leader.py).

        A leader that was paused (SIGSTOP, a long GC, a VM freeze) while an operator or the standby
        terminated its lock session wakes up with writes in flight: each of them now fails with a
        ConflictError and rolls back, so the old leader never commits or signs again. ``None`` lifts it."""
        self._fence = None if lock_pid is None else (int(lock_pid), int(lock_key))

    @contextmanager
    def _fenced(self, what: str) -> Iterator[sa.Connection]:
        assert self._fence is not None
        pid, key = self._fence
        with self._connection(what, self._tx_engine) as conn:
            # First, mark the transaction as a writer's. The check below alone leaves a window: a
            # leader paused after it and before COMMIT would commit on waking, and meanwhile its
            # uncommitted rows would hold up the new leader's inserts at the same keys. A takeover
            # terminates the backend of every marked transaction before the new leader writes, so
            # a transaction either committed before the takeover or never commits.
            conn.execute(_FENCE_MARK, {"mark": fenced_transaction_key(key)})
            yield conn
            held = conn.execute(_FENCE_CHECK, {"pid": pid, "key": key}).scalar()
            if not held:
                raise ConflictError(f"{what}: this process no longer holds the writer role (its lock session ended); nothing was written")

    def _statement(self, what: str) -> AbstractContextManager[sa.Connection]:
        """For reads and single-statement writes: each statement commits by itself.

        One statement is atomic on its own, and a committed one is durable, so
        this is as safe as a transaction and saves the BEGIN/COMMIT round
        trips (on PostgreSQL that is most of the cost of storing a checkpoint).
        """
        return self._connection(what, self._autocommit_engine)

    # --- entries and blocks ---------------------------------------------------------------

    def size(self) -> int:
        with self._statement("size") as c:
            return int(c.execute(_Q_SIZE).scalar_one())

    def append_block(self, block: StoredBlock, entries: Sequence[tuple[bytes, bytes]]) -> None:
        self.append_blocks([(block, entries)])

    def append_blocks(self, blocks: Sequence[tuple[StoredBlock, Sequence[tuple[bytes, bytes]]]]) -> None:
        checked = [(block, check_block_entries(block, entries)) for block, entries in blocks]
        if not checked:
            return
        first_block = checked[0][0]
        try:
            with self._transaction(f"append block {first_block.height}") as c:
                # Preconditions inside the write transaction (BEGIN IMMEDIATE on
                # SQLite; on PostgreSQL the primary keys catch a racing writer).
                size, count = c.execute(_Q_SIZES).one()
                for block, rows in checked:
                    if block.first_index != size:
                        raise ConflictError(f"block {block.height} starts at index {block.first_index}, the log has {size} entries")
                    if block.height != count:
                        raise ConflictError(f"block height {block.height} is not next, the chain has {count} blocks")
                    size, count = size + block.count, count + 1
                c.execute(
                    t.blocks.insert(),
                    [
                        {"height": b.height, "first_index": b.first_index, "count": b.count, "header": b.header, "hash": b.hash}
                        for b, _ in checked
                    ],
                )
                # The entries of every block are contiguous from the first block's first index.
                self._insert_entries(c, first_block.first_index, [row for _, rows in checked for row in rows])
        except ConflictError as e:
            if not isinstance(e.__cause__, sa.exc.IntegrityError):
                raise
            # The transaction was rolled back; now say which constraint it was.
            all_rows = [lh for _, rows in checked for lh, _ in rows]
            stored = self._stored_leaves(all_rows)
            if stored:
                index, lh = stored[0]
                raise ConflictError(f"block {first_block.height}: leaf hash {lh.hex()} is already stored at index {index}") from None
            if len(set(all_rows)) != len(all_rows):
                raise ConflictError(f"blocks from {first_block.height} repeat a leaf hash") from None
            raise ConflictError(f"block {first_block.height} lost a race with a concurrent append: {e}") from None

    def _stored_leaves(self, leaf_hashes: list[bytes]) -> list[tuple[int, bytes]]:
        found: list[tuple[int, bytes]] = []
        with self._statement("look up leaf hashes") as c:
            for i in range(0, len(leaf_hashes), _IN_CHUNK):
                chunk = leaf_hashes[i : i + _IN_CHUNK]
                found.extend((int(idx), bytes(lh)) for idx, lh in c.execute(_Q_STORED_LEAVES, {"leaf_hashes": chunk}))
        return sorted(found)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        check_range(start, end)
        with self._statement("read leaf hashes") as c:
            return [bytes(v) for v in c.execute(_Q_LEAVES, {"start": start, "end": end}).scalars()]

    def entries(self, start: int, end: int) -> list[bytes]:
        check_range(start, end)
        with self._statement("read entries") as c:
            return [bytes(v) for v in c.execute(_Q_DATAS, {"start": start, "end": end}).scalars()]

    def entry(self, index: int) -> bytes:
        with self._statement("read entry") as c:
            data = c.execute(_Q_ENTRY, {"idx": index}).scalar_one_or_none()
        if data is None:
            raise NotFoundError(f"no entry {index}")
        return bytes(data)

    def index_of(self, leaf_hash: bytes) -> int | None:
        with self._statement("look up leaf hash") as c:
            idx = c.execute(_Q_INDEX_OF, {"leaf_hash": leaf_hash}).scalar_one_or_none()
        return None if idx is None else int(idx)

    def block_count(self) -> int:
        with self._statement("count blocks") as c:
            return int(c.execute(_Q_BLOCK_COUNT).scalar_one())

    def block(self, height: int) -> StoredBlock:
        with self._statement("read block") as c:
            row = c.execute(_Q_BLOCK, {"height": height}).one_or_none()
        if row is None:
            raise NotFoundError(f"no block {height}")
        return _block_from_row(row)

    def block_for_index(self, index: int) -> StoredBlock:
        with self._statement("find block") as c:
            row = c.execute(_Q_BLOCK_FOR_INDEX, {"idx": index}).one_or_none()
        if row is None or not row[1] <= index < row[1] + row[2]:
            raise NotFoundError(f"no block contains entry {index}")
        return _block_from_row(row)

    def blocks(self, start: int, end: int) -> list[StoredBlock]:
        check_range(start, end)
        with self._statement("read blocks") as c:
            return [_block_from_row(r) for r in c.execute(_Q_BLOCKS, {"start": start, "end": end})]

    # --- checkpoints and cosignatures -----------------------------------------------------

    def add_checkpoint(self, size: int, note: bytes) -> None:
        check_size(size)
        check_bytes(note, "note")
        with self._write(f"store checkpoint {size}") as c:
            if c.execute(self._insert_or_ignore[t.checkpoints], {"size": size, "note": note}).rowcount == 1:
                return
            existing = bytes(c.execute(_Q_CHECKPOINT, {"size": size}).scalar_one())
        if existing != note:
            raise ConflictError(f"a different checkpoint for size {size} is already stored")

    def checkpoint(self, size: int) -> bytes | None:
        with self._statement("read checkpoint") as c:
            note = c.execute(_Q_CHECKPOINT, {"size": size}).scalar_one_or_none()
        return None if note is None else bytes(note)

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        with self._statement("read latest checkpoint") as c:
            row = c.execute(_Q_LATEST_CHECKPOINT).one_or_none()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def add_cosignature(self, size: int, witness: str, line: bytes) -> None:
        check_size(size)
        check_str(witness, "witness")
        check_bytes(line, "line")
        with self._write(f"store cosignature {size}/{witness}") as c:
            params = {"size": size, "witness": witness, "line": line}
            if c.execute(self._insert_or_ignore[t.cosignatures], params).rowcount == 1:
                return
            existing = bytes(c.execute(_Q_COSIGNATURE, {"size": size, "witness": witness}).scalar_one())
        if existing != line:
            raise ConflictError(f"witness {witness!r} already has a different cosignature for size {size}")

    def cosignatures(self, size: int) -> list[tuple[str, bytes]]:
        with self._statement("read cosignatures") as c:
            return [(str(w), bytes(line)) for w, line in c.execute(_Q_COSIGNATURES, {"size": size})]

    def checkpoint_sizes(self, start: int = 0) -> list[int]:
        check_size(start)
        with self._statement("list checkpoints") as c:
            return [int(v) for v in c.execute(_Q_CHECKPOINT_SIZES, {"start": start}).scalars()]

    def latest_cosigned_size(self) -> int | None:
        with self._statement("read latest cosignature") as c:
            size = c.execute(_Q_LATEST_COSIGNED).scalar_one()
        return None if size is None else int(size)

    def set_final(self, size: int, note: bytes) -> None:
        check_size(size)
        check_bytes(note, "note")
        with self._transaction(f"store final checkpoint {size}") as c:
            latest = c.execute(_Q_LATEST_FINAL).one_or_none()
            if latest is not None:
                latest_size, latest_note = int(latest[0]), bytes(latest[1])
                if size < latest_size:
                    raise ConflictError(f"final checkpoint {size} is older than the stored final {latest_size}")
                if size == latest_size:
                    if note != latest_note:
                        raise ConflictError(f"a different final checkpoint for size {size} is already stored")
                    return
            if c.execute(self._insert_or_ignore[t.final_checkpoints], {"size": size, "note": note}).rowcount != 1:
                raise ConflictError(f"final checkpoint {size} was stored concurrently")

    def latest_final(self) -> tuple[int, bytes] | None:
        with self._statement("read final checkpoint") as c:
            row = c.execute(_Q_LATEST_FINAL).one_or_none()
        return None if row is None else (int(row[0]), bytes(row[1]))

    # --- mutable state --------------------------------------------------------------------

    def cas_witness_state(self, origin: str, old_size: int | None, new_size: int, note: bytes) -> None:
        check_str(origin, "origin")
        check_witness_move(old_size, new_size)
        check_bytes(note, "note")
        with self._write(f"move witness state for {origin!r}") as c:
            if old_size is None:
                params = {"origin": origin, "size": new_size, "note": note}
                swapped = c.execute(self._insert_or_ignore[t.witness_state], params).rowcount == 1
            else:
                params = {"w_origin": origin, "old_size": old_size, "new_size": new_size, "w_note": note}
                swapped = c.execute(_U_WITNESS_STATE, params).rowcount == 1
            if not swapped:
                current = c.execute(_Q_WITNESS_STATE, {"origin": origin}).one_or_none()
                current_size = None if current is None else int(current[0])
                raise CompareAndSwapError(
                    f"witness state for {origin!r} is at {describe_size(current_size)}, expected {describe_size(old_size)}",
                    current_size=current_size,
                )

    def witness_state(self, origin: str) -> tuple[int, bytes] | None:
        with self._statement("read witness state") as c:
            row = c.execute(_Q_WITNESS_STATE, {"origin": origin}).one_or_none()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def witness_states(self) -> list[tuple[str, int, bytes]]:
        with self._statement("read witness states") as c:
            return [(str(key), int(size), bytes(note)) for key, size, note in c.execute(_Q_WITNESS_STATES)]

    def get_meta(self, key: str) -> str | None:
        with self._statement("read meta") as c:
            value = c.execute(_Q_META, {"key": key}).scalar_one_or_none()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        check_str(key, "key")
        check_str(value, "value")
        with self._write(f"set meta {key!r}") as c:
            c.execute(self._upsert_meta, {"key": key, "value": value})

    def close(self) -> None:
        self._closed = True
        self._engine.dispose()

