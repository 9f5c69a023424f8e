"""The LedgerStore contract, run against every backend (sqlite, postgres, memory).

Each test names the property it proves. Backend-specific behaviour (SQLite
pragmas, migrations, reopening a database, memory faults) is at the end.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from ledger.errors import ConflictError, MalformedError, NotFoundError, StorageError
from ledger.storage import LEDGER_TABLES, CompareAndSwapError, LedgerStore, StoredBlock, open_store
from ledger.storage.memory import (
    FAIL_BUT_PERSISTED,
    FAIL_NOT_PERSISTED,
    WRITE_OPS,
    AppendOnlyList,
    AppendOnlyMap,
    MemoryStore,
)

# --- helpers -------------------------------------------------------------------------------


def leaf(i: int) -> bytes:
    return hashlib.sha256(b"\x00entry %d" % i).digest()


def data(i: int) -> bytes:
    return b'{"entry":%d}' % i


def make_block(height: int, first: int, count: int) -> tuple[StoredBlock, list[tuple[bytes, bytes]]]:
    header = b'{"height":%d,"first":%d,"count":%d}' % (height, first, count)
    block = StoredBlock(height, first, count, header, hashlib.sha256(header).digest())
    return block, [(leaf(i), data(i)) for i in range(first, first + count)]


def fill(store: LedgerStore, counts: list[int]) -> list[StoredBlock]:
    """Append blocks of the given entry counts; return them."""
    out = []
    first = store.size()
    for count in counts:
        block, rows = make_block(store.block_count(), first, count)
        store.append_block(block, rows)
        out.append(block)
        first += count
    return out


SIZES = range(0, 12)


def snapshot(store: LedgerStore) -> tuple:
    """Everything observable through the protocol (checkpoint sizes limited to SIZES)."""
    size, n = store.size(), store.block_count()
    return (
        size,
        store.leaf_hashes(0, size),
        store.entries(0, size),
        n,
        store.blocks(0, n),
        [store.checkpoint(s) for s in SIZES],
        store.latest_checkpoint(),
        [store.cosignatures(s) for s in SIZES],
        store.latest_final(),
        store.witness_state("log.example/a"),
        store.get_meta("k"),
    )


@pytest.fixture
def store(store_url: str) -> Iterator[LedgerStore]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh URL for each database backend (for properties a memory store cannot have)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_store_url"))


# --- the value type --------------------------------------------------------------------------


def test_stored_block_refuses_impossible_shapes():
    h = bytes(32)
    with pytest.raises(ValueError):
        StoredBlock(0, 0, 0, b"{}", h)  # a block has at least one entry
    with pytest.raises(ValueError):
        StoredBlock(-1, 0, 1, b"{}", h)
    with pytest.raises(ValueError):
        StoredBlock(0, -1, 1, b"{}", h)
    with pytest.raises(ValueError):
        StoredBlock(0, 0, 1, b"{}", bytes(31))
    with pytest.raises(TypeError):
        StoredBlock(0, 0, 1, "{}", h)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StoredBlock(0, 0, True, b"{}", h)
    assert StoredBlock(3, 10, 5, b"{}", h).end_index == 15


# --- every backend: entries and blocks ------------------------------------------------------------


def test_every_backend_implements_the_protocol(store):
    assert isinstance(store, LedgerStore)


def test_a_new_store_is_empty(store):
    assert store.size() == 0
    assert store.block_count() == 0
    assert store.leaf_hashes(0, 10) == []
    assert store.entries(0, 10) == []
    assert store.blocks(0, 10) == []
    assert store.latest_checkpoint() is None
    assert store.latest_final() is None
    assert store.checkpoint(0) is None
    assert store.cosignatures(0) == []
    assert store.witness_state("log.example/a") is None
    assert store.get_meta("k") is None
    with pytest.raises(NotFoundError):
        store.entry(0)
    with pytest.raises(NotFoundError):
        store.block(0)
    with pytest.raises(NotFoundError):
        store.block_for_index(0)


def test_appended_blocks_are_read_back_exactly(store):
    b0, b1 = fill(store, [3, 2])
    assert store.size() == 5
    assert store.block_count() == 2
    assert store.leaf_hashes(0, 5) == [leaf(i) for i in range(5)]
    assert store.entries(0, 5) == [data(i) for i in range(5)]
    assert store.leaf_hashes(1, 4) == [leaf(i) for i in range(1, 4)]
    assert store.entries(2, 2) == []
    for i in range(5):
        assert store.entry(i) == data(i)
        assert isinstance(store.entry(i), bytes)
        assert store.index_of(leaf(i)) == i
    assert store.index_of(leaf(99)) is None
    assert store.block(0) == b0
    assert store.block(1) == b1
    assert store.blocks(0, 2) == [b0, b1]
    assert store.blocks(1, 2) == [b1]
    assert isinstance(store.block(1).header, bytes) and isinstance(store.block(1).hash, bytes)


def test_block_for_index_finds_the_containing_block_at_every_boundary(store):
    blocks = fill(store, [1, 3, 2, 1])
    expected = [0, 1, 1, 1, 2, 2, 3]
    for index, height in enumerate(expected):
        assert store.block_for_index(index) == blocks[height], index
    for index in (len(expected), len(expected) + 10, -1):
        with pytest.raises(NotFoundError):
            store.block_for_index(index)


def test_reads_past_the_end_return_what_is_stored_and_missing_objects_are_not_found(store):
    fill(store, [2])
    assert store.entries(1, 10) == [data(1)]
    assert store.leaf_hashes(0, 10) == [leaf(0), leaf(1)]
    assert store.blocks(0, 10) == [store.block(0)]
    assert store.entries(5, 10) == []
    for index in (2, -1):
        with pytest.raises(NotFoundError):
            store.entry(index)
    for height in (1, -1):
        with pytest.raises(NotFoundError):
            store.block(height)


@pytest.mark.parametrize("method", ["entries", "leaf_hashes", "blocks"])
def test_a_malformed_range_is_a_programmer_error(store, method):
    fill(store, [2])
    with pytest.raises(ValueError):
        getattr(store, method)(2, 1)
    with pytest.raises(ValueError):
        getattr(store, method)(-1, 1)


# --- every backend: append preconditions ---------------------------------------------------------


def _violations():
    # (name, height, first_index, count, number of rows given)
    return [
        ("gap in indices", 2, 6, 2, 2),
        ("overlapping indices", 2, 4, 2, 2),
        ("index from the start", 2, 0, 2, 2),
        ("height skipped", 3, 5, 2, 2),
        ("height repeated", 1, 5, 2, 2),
        ("fewer rows than count", 2, 5, 3, 2),
        ("more rows than count", 2, 5, 1, 2),
    ]


@pytest.mark.parametrize(("name", "height", "first", "count", "given"), _violations(), ids=[v[0] for v in _violations()])
def test_a_violated_append_precondition_is_a_conflict_and_writes_nothing(store, name, height, first, count, given):
    fill(store, [3, 2])
    before = snapshot(store)
    header = b'{"bad":1}'
    block = StoredBlock(height, first, count, header, hashlib.sha256(header).digest())
    rows = [(leaf(1000 + k), data(1000 + k)) for k in range(given)]
    with pytest.raises(ConflictError):
        store.append_block(block, rows)
    assert snapshot(store) == before
    assert all(store.index_of(lh) is None for lh, _ in rows)
    # The store still takes the correct next block.
    fill(store, [1])
    assert store.size() == 6


def test_an_empty_block_is_refused(store):
    with pytest.raises(ConflictError):
        store.append_block(StoredBlock(0, 0, 1, b"{}", bytes(32)), [])
    assert store.size() == 0 and store.block_count() == 0


def test_a_leaf_hash_repeated_within_one_block_is_refused_atomically(store):
    fill(store, [2])
    before = snapshot(store)
    block, rows = make_block(1, 2, 3)
    rows[2] = (rows[0][0], b"other data")
    with pytest.raises(ConflictError):
        store.append_block(block, rows)
    assert snapshot(store) == before


@pytest.mark.parametrize("position", [0, 1, 3], ids=["first", "middle", "last"])
def test_a_leaf_hash_already_stored_is_refused_atomically(store, position):
    fill(store, [3])
    before = snapshot(store)
    block, rows = make_block(1, 3, 4)
    rows[position] = (leaf(1), data(1))  # entry 1 is already in block 0
    with pytest.raises(ConflictError, match="already stored at index 1"):
        store.append_block(block, rows)
    assert snapshot(store) == before
    assert store.index_of(leaf(3 + (position + 1) % 4)) is None
    fill(store, [4])
    assert store.size() == 7


def test_several_blocks_commit_in_one_group(store):
    fill(store, [2])
    group = [make_block(1, 2, 3), make_block(2, 5, 1), make_block(3, 6, 4)]
    store.append_blocks(group)
    assert store.size() == 10 and store.block_count() == 4
    assert [store.block(h) for h in (1, 2, 3)] == [b for b, _ in group]
    assert store.entries(2, 10) == [data(i) for i in range(2, 10)]
    assert store.index_of(leaf(9)) == 9
    store.append_blocks([])
    assert store.size() == 10


@pytest.mark.parametrize(
    "spoil",
    [
        lambda g: g.__setitem__(1, make_block(2, 6, 1)),  # the second block does not start where the first ends
        lambda g: g.__setitem__(1, make_block(3, 5, 1)),  # a height skipped
        lambda g: g[2][1].__setitem__(0, (leaf(3), b"again")),  # a leaf hash of the first block repeated in the third
        lambda g: g[2][1].__setitem__(0, (leaf(0), b"old")),  # a leaf hash already stored
    ],
    ids=["gap", "height", "repeat-across-blocks", "already-stored"],
)
def test_a_group_with_one_bad_block_stores_none_of_its_blocks(store, spoil):
    fill(store, [2])
    before = snapshot(store)
    group = [make_block(1, 2, 3), make_block(2, 5, 1), make_block(3, 6, 4)]
    spoil(group)
    with pytest.raises(ConflictError):
        store.append_blocks(group)
    assert snapshot(store) == before
    fill(store, [3])
    assert store.size() == 5


def test_a_faulted_group_commit_stores_nothing_or_everything():
    for fault, stored in ((FAIL_NOT_PERSISTED, 2), (FAIL_BUT_PERSISTED, 6)):
        store = _prepared_memory_store()
        store.inject_fault("append_block", fault)
        with pytest.raises(StorageError):
            store.append_blocks([make_block(1, 2, 3), make_block(2, 5, 1)])
        assert store.size() == stored


def test_wrong_argument_shapes_are_programmer_errors(store):
    block, rows = make_block(0, 0, 1)
    with pytest.raises(ValueError):
        store.append_block(block, [(bytes(31), b"x")])
    with pytest.raises(TypeError):
        store.append_block(block, [(leaf(0), "text")])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        store.add_checkpoint(1, "note")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.add_checkpoint(-1, b"note")
    assert store.size() == 0


def test_concurrent_appends_of_the_same_height_commit_exactly_one(store):
    fill(store, [2])
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def append(tag: int) -> None:
        header = b'{"racer":%d}' % tag
        block = StoredBlock(1, 2, 2, header, hashlib.sha256(header).digest())
        rows = [(leaf(100 * tag + k), data(100 * tag + k)) for k in range(2)]
        barrier.wait()
        try:
            store.append_block(block, rows)
            outcomes.append(tag)
        except ConflictError as e:
            outcomes.append(e)

    threads = [threading.Thread(target=append, args=(tag,)) for tag in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    winners = [o for o in outcomes if isinstance(o, int)]
    assert len(winners) == 1, outcomes
    assert store.size() == 4 and store.block_count() == 2
    won = winners[0]
    assert store.leaf_hashes(2, 4) == [leaf(100 * won), leaf(100 * won + 1)]
    lost = 3 - won
    assert store.index_of(leaf(100 * lost)) is None


# --- every backend: checkpoints, cosignatures, final ----------------------------------------------


def test_checkpoints_are_append_only_and_idempotent(store):
    store.add_checkpoint(5, b"cp5")
    store.add_checkpoint(10, b"cp10")
    store.add_checkpoint(7, b"cp7")  # out of order is allowed; latest is the largest size
    assert store.checkpoint(5) == b"cp5"
    assert store.checkpoint(6) is None
    assert store.latest_checkpoint() == (10, b"cp10")
    store.add_checkpoint(5, b"cp5")  # a retry after a lost acknowledgement
    with pytest.raises(ConflictError):
        store.add_checkpoint(5, b"another cp5")
    assert store.checkpoint(5) == b"cp5"
    assert store.latest_checkpoint() == (10, b"cp10")


def test_cosignatures_are_append_only_per_size_and_witness(store):
    store.add_checkpoint(4, b"cp4")
    store.add_cosignature(4, "w/zeta", b"line z")
    store.add_cosignature(4, "w/alpha", b"line a")
    store.add_cosignature(5, "w/alpha", b"line a5")
    assert store.cosignatures(4) == [("w/alpha", b"line a"), ("w/zeta", b"line z")]
    assert store.cosignatures(5) == [("w/alpha", b"line a5")]
    assert store.cosignatures(6) == []
    store.add_cosignature(4, "w/alpha", b"line a")  # identical again: no-op
    with pytest.raises(ConflictError):
        store.add_cosignature(4, "w/alpha", b"a different line")
    assert store.cosignatures(4) == [("w/alpha", b"line a"), ("w/zeta", b"line z")]


def test_final_checkpoint_only_moves_forward(store):
    assert store.latest_final() is None
    store.set_final(3, b"final3")
    assert store.latest_final() == (3, b"final3")
    store.set_final(3, b"final3")  # identical again: no-op
    with pytest.raises(ConflictError):
        store.set_final(3, b"other final3")
    store.set_final(8, b"final8")
    with pytest.raises(ConflictError):
        store.set_final(5, b"final5")
    assert store.latest_final() == (8, b"final8")


# --- every backend: mutable state ----------------------------------------------------------------


def test_witness_state_moves_only_by_compare_and_swap(store):
    origin = "log.example/a"
    store.cas_witness_state(origin, None, 5, b"note5")
    assert store.witness_state(origin) == (5, b"note5")
    with pytest.raises(CompareAndSwapError) as lost_create:
        store.cas_witness_state(origin, None, 6, b"note6")
    assert lost_create.value.current_size == 5
    store.cas_witness_state(origin, 5, 8, b"note8")
    with pytest.raises(CompareAndSwapError) as stale:
        store.cas_witness_state(origin, 5, 9, b"note9")
    assert isinstance(stale.value, ConflictError)
    assert stale.value.current_size == 8
    assert store.witness_state(origin) == (8, b"note8")
    store.cas_witness_state(origin, 8, 8, b"note8 again")  # same size, newer note
    assert store.witness_state(origin) == (8, b"note8 again")
    with pytest.raises(ValueError):
        store.cas_witness_state(origin, 8, 7, b"backwards")


def test_compare_and_swap_against_missing_state_reports_none(store):
    with pytest.raises(CompareAndSwapError) as e:
        store.cas_witness_state("log.example/b", 3, 4, b"n")
    assert e.value.current_size is None
    assert store.witness_state("log.example/b") is None


def test_witness_state_is_kept_per_origin(store):
    store.cas_witness_state("log.example/a", None, 1, b"a1")
    store.cas_witness_state("log.example/b", None, 7, b"b7")
    store.cas_witness_state("log.example/a", 1, 2, b"a2")
    assert store.witness_state("log.example/a") == (2, b"a2")
    assert store.witness_state("log.example/b") == (7, b"b7")


def test_meta_is_a_mutable_key_value_table(store):
    assert store.get_meta("k") is None
    store.set_meta("k", "one")
    store.set_meta("other", "x")
    store.set_meta("k", "two")
    assert store.get_meta("k") == "two"
    assert store.get_meta("other") == "x"


def test_a_closed_store_refuses_to_be_used(store):
    fill(store, [1])
    store.close()
    with pytest.raises(ValueError):
        store.size()
    with pytest.raises(ValueError):
        store.add_checkpoint(1, b"cp")


# --- database backends ---------------------------------------------------------------------------


def test_a_reopened_database_holds_exactly_what_was_committed(sql_url):
    store = open_store(sql_url)
    fill(store, [3, 1, 2])
    store.add_checkpoint(6, b"cp6")
    store.add_cosignature(6, "w/a", b"cosig")
    store.set_final(6, b"final6")
    store.cas_witness_state("log.example/a", None, 6, b"wnote")
    store.set_meta("k", "v")
    before = snapshot(store)
    store.close()
    reopened = open_store(sql_url)
    try:
        assert snapshot(reopened) == before
        assert reopened.cosignatures(6) == [("w/a", b"cosig")]
        fill(reopened, [1])  # and it continues where it stopped
        assert reopened.size() == 7
    finally:
        reopened.close()


def test_opening_twice_is_idempotent_and_the_schema_matches_schema_py(sql_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from ledger.storage import schema
    from ledger.storage.sql import alembic_config

    first = open_store(sql_url)
    fill(first, [2])
    first.close()
    second = open_store(sql_url)  # migrations run again: a no-op
    third = open_store(sql_url)  # two stores open on one database at once
    try:
        assert second.size() == 2 and third.size() == 2
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        with second.engine.connect() as conn:
            ctx = MigrationContext.configure(conn)
            assert ctx.get_current_revision() == head
            assert compare_metadata(ctx, schema.metadata) == []
    finally:
        second.close()
        third.close()


def test_a_database_from_newer_code_is_refused_not_downgraded(sql_url):
    store = open_store(sql_url)
    fill(store, [1])
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    store.close()
    with pytest.raises(StorageError, match="9999_from_the_future"):
        open_store(sql_url)


def test_no_code_path_updates_or_deletes_a_ledger_table(sql_url):
    store = open_store(sql_url)
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda conn, cur, statement, *rest: statements.append(statement))
    try:
        fill(store, [2, 2])
        block, rows = make_block(2, 4, 1)
        rows[0] = (leaf(0), data(0))
        with pytest.raises(ConflictError):
            store.append_block(block, rows)
        for note in (b"cp", b"cp"):
            store.add_checkpoint(4, note)
            store.add_cosignature(4, "w/a", note)
            store.set_final(4, note)
        with pytest.raises(ConflictError):
            store.add_checkpoint(4, b"other")
        store.cas_witness_state("log.example/a", None, 4, b"n")
        store.cas_witness_state("log.example/a", 4, 4, b"n2")
        store.set_meta("k", "v")
        store.set_meta("k", "w")
    finally:
        store.close()
    assert statements
    for statement in statements:
        words = statement.upper()
        for table in LEDGER_TABLES:
            t = table.upper()
            assert not words.lstrip().startswith((f"UPDATE {t} ", f"DELETE FROM {t}")), statement
            assert not (f"INTO {t} " in words and ("DO UPDATE" in words or "OR REPLACE" in words)), statement
        assert not words.lstrip().startswith(("DELETE", "TRUNCATE", "DROP")), statement


def test_a_database_failure_mid_block_is_a_storage_error_and_writes_nothing(sql_url):
    store = open_store(sql_url)
    try:
        fill(store, [2])
        before = snapshot(store)
        dbapi = store.engine.dialect.dbapi

        def fail_entries_insert(cursor, statement, parameters, context):
            if statement.startswith("INSERT INTO entries"):
                cursor.execute(statement, parameters)  # the rows went into the transaction...
                raise dbapi.OperationalError("simulated disk failure")  # ...then the disk failed
            return False

        sa.event.listen(store.engine, "do_execute", fail_entries_insert)
        block, rows = make_block(1, 2, 3)
        with pytest.raises(StorageError, match="simulated disk failure"):
            store.append_block(block, rows)
        sa.event.remove(store.engine, "do_execute", fail_entries_insert)
        assert snapshot(store) == before
        store.append_block(block, rows)
        assert store.size() == 5
    finally:
        store.close()


def test_sqlite_connections_are_durable_and_wait_for_locks(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        with store.engine.connect() as conn:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 2  # FULL
            assert pragma("foreign_keys") == 1
            assert pragma("recursive_triggers") == 1
            assert pragma("busy_timeout") >= 1000
    finally:
        store.close()


def test_open_store_chooses_the_backend_from_the_url(tmp_path):
    from ledger.storage.sql import SqlStore, normalize_url

    one, two = open_store("memory://"), open_store("memory://")
    assert isinstance(one, MemoryStore)
    fill(one, [1])
    assert two.size() == 0  # each memory:// is a fresh store
    sqlite_store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert isinstance(sqlite_store, SqlStore)
    sqlite_store.close()
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    "url",
    ["mysql://u@h/db", "sqlite://", "sqlite:///:memory:", "postgresql+psycopg2://u@h/db", "not a url"],
)
def test_an_unsupported_url_is_malformed(url):
    with pytest.raises(MalformedError):
        open_store(url)


def test_an_unreachable_database_is_a_storage_error(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    with pytest.raises(StorageError):
        open_store(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=5")
    with pytest.raises(StorageError):
        open_store(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'ledger.db'}")


# --- memory backend: append-only by construction, and faults ----------------------------------------


def test_memory_containers_cannot_replace_or_remove():
    items: AppendOnlyList[int] = AppendOnlyList()
    items.append(1)
    with pytest.raises(TypeError):
        items[0] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        del items[0]  # type: ignore[attr-defined]
    assert not hasattr(items, "pop") and not hasattr(items, "clear")
    mapping: AppendOnlyMap[str, int] = AppendOnlyMap()
    mapping.add("a", 1)
    with pytest.raises(ConflictError):
        mapping.add("a", 2)
    with pytest.raises(TypeError):
        mapping["a"] = 3  # type: ignore[index]
    assert mapping.get("a") == 1


def _prepared_memory_store() -> MemoryStore:
    s = MemoryStore()
    fill(s, [2])
    s.add_checkpoint(2, b"cp2")
    s.cas_witness_state("log.example/a", None, 2, b"w2")
    return s


# One valid call per write method, on a store from _prepared_memory_store().
WRITES = {
    "append_block": lambda s: s.append_block(*make_block(1, 2, 3)),
    "add_checkpoint": lambda s: s.add_checkpoint(5, b"cp5"),
    "add_cosignature": lambda s: s.add_cosignature(2, "w/a", b"cosig"),
    "set_final": lambda s: s.set_final(2, b"final2"),
    "cas_witness_state": lambda s: s.cas_witness_state("log.example/a", 2, 5, b"w5"),
    "set_meta": lambda s: s.set_meta("k", "v"),
}


def test_every_write_method_can_be_faulted():
    assert set(WRITES) == set(WRITE_OPS)


@pytest.mark.parametrize("op", WRITE_OPS)
def test_fail_not_persisted_raises_and_leaves_the_store_untouched(op):
    store = _prepared_memory_store()
    before = snapshot(store)
    store.inject_fault(op, FAIL_NOT_PERSISTED)
    with pytest.raises(StorageError, match="nothing was persisted"):
        WRITES[op](store)
    assert snapshot(store) == before
    WRITES[op](store)  # the fault fired once; the retry succeeds
    assert snapshot(store) != before


@pytest.mark.parametrize("op", WRITE_OPS)
def test_fail_but_persisted_raises_after_storing_exactly_the_write(op):
    store, reference = _prepared_memory_store(), _prepared_memory_store()
    store.inject_fault(op, FAIL_BUT_PERSISTED)
    with pytest.raises(StorageError, match="after it was persisted"):
        WRITES[op](store)
    WRITES[op](reference)
    assert snapshot(store) == snapshot(reference)
    assert store.pending_faults() == {}


def test_a_retry_after_a_persisted_failure_is_idempotent_or_a_conflict():
    store = _prepared_memory_store()
    store.inject_fault("add_checkpoint", FAIL_BUT_PERSISTED)
    with pytest.raises(StorageError):
        store.add_checkpoint(5, b"cp5")
    store.add_checkpoint(5, b"cp5")  # the retry finds the same bytes: no-op
    store.inject_fault("append_block", FAIL_BUT_PERSISTED)
    block, rows = make_block(1, 2, 3)
    with pytest.raises(StorageError):
        store.append_block(block, rows)
    with pytest.raises(ConflictError):  # the block is there: the caller must read back
        store.append_block(block, rows)
    assert store.size() == 5


def test_a_conflict_fires_before_the_fault_and_leaves_it_armed():
    store = _prepared_memory_store()
    store.inject_fault("append_block", FAIL_NOT_PERSISTED)
    with pytest.raises(ConflictError):
        store.append_block(*make_block(7, 2, 1))
    assert store.pending_faults() == {"append_block": [FAIL_NOT_PERSISTED]}
    with pytest.raises(StorageError):
        store.append_block(*make_block(1, 2, 1))
    assert store.size() == 2


def test_faults_armed_at_construction_fire_in_order():
    store = MemoryStore(faults={"set_meta": FAIL_BUT_PERSISTED})
    store.inject_fault("set_meta", FAIL_NOT_PERSISTED)
    with pytest.raises(StorageError):
        store.set_meta("k", "first")
    assert store.get_meta("k") == "first"
    with pytest.raises(StorageError):
        store.set_meta("k", "second")
    assert store.get_meta("k") == "first"
    store.set_meta("k", "third")
    assert store.get_meta("k") == "third"


def test_an_unknown_fault_is_a_programmer_error():
    store = MemoryStore()
    with pytest.raises(ValueError):
        store.inject_fault("size", FAIL_NOT_PERSISTED)
    with pytest.raises(ValueError):
        store.inject_fault("append_block", "explode")
