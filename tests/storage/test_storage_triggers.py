"""The database itself refuses to rewrite history: triggers on every ledger table.

Raw SQL, as a buggy code path or a hand-typed statement would send it, against
SQLite and PostgreSQL: UPDATE and DELETE (and TRUNCATE on PostgreSQL) on each
ledger table fail and leave the row as it was; the mutable tables still change.
An INSERT that collides with a stored row on any unique key cannot replace it:
INSERT OR REPLACE and upserts on SQLite, from the store's connections and from
a plain sqlite3 connection without ``recursive_triggers`` (the sqlite3 shell);
ON CONFLICT DO UPDATE, MERGE and a ``session_replication_role = replica``
session on PostgreSQL. Appending still works.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from ledger.errors import ConflictError
from ledger.storage import LEDGER_TABLES, MUTABLE_TABLES, StoredBlock, open_store
from ledger.storage import schema as t
from ledger.storage.sql import SqlStore

# Per table: a column to overwrite with a new value, and a WHERE clause matching one stored row.
EDITS = {
    "entries": ("data", "idx = 0"),
    "blocks": ("header", "height = 0"),
    "checkpoints": ("note", "size = 2"),
    "cosignatures": ("line", "size = 2"),
    "final_checkpoints": ("note", "size = 2"),
    "witness_state": ("note", "origin = 'log.example/a'"),
    "meta": ("value", "key = 'k'"),
}


def _populated(url: str) -> SqlStore:
    """A database store with one row in every table."""
    s = open_store(url)
    assert isinstance(s, SqlStore)
    header = b'{"height":0}'
    s.append_block(
        StoredBlock(0, 0, 2, header, hashlib.sha256(header).digest()),
        [(hashlib.sha256(b"a").digest(), b"entry a"), (hashlib.sha256(b"b").digest(), b"entry b")],
    )
    s.add_checkpoint(2, b"cp2")
    s.add_cosignature(2, "w/a", b"cosig")
    s.set_final(2, b"final2")
    s.cas_witness_state("log.example/a", None, 2, b"wnote")
    s.set_meta("k", "v")
    return s


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = str(request.getfixturevalue("pg_store_url"))
    s = _populated(url)
    yield s
    s.close()


@pytest.fixture
def pg_store(pg_store_url: str) -> Iterator[SqlStore]:
    s = _populated(pg_store_url)
    yield s
    s.close()


def _rows(store: SqlStore, table: str) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1")]


def _new_value(store: SqlStore, table: str, column: str) -> sa.TextClause:
    binary = table != "meta"
    return sa.text(f"UPDATE {table} SET {column} = :v WHERE {EDITS[table][1]}").bindparams(
        v=b"rewritten" if binary else "rewritten"
    )


def _refused(store: SqlStore, statement: sa.Executable | str) -> str:
    """Run one raw statement in its own transaction; return the database's refusal message."""
    with pytest.raises(sa.exc.DBAPIError) as e:
        with store.engine.begin() as conn:
            if isinstance(statement, str):
                conn.exec_driver_sql(statement)
            else:
                conn.execute(statement)
    return str(e.value.orig)


def _triggers(store: SqlStore) -> list[tuple[str, str, str]]:
    """(table, CREATE TRIGGER statement, enabled state) of every trigger in the database."""
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'").all()
            return [(table, sql, "always") for table, sql in rows]
        rows = conn.exec_driver_sql(
            "SELECT c.relname, pg_get_triggerdef(t.oid), t.tgenabled FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
        ).all()
        # tgenabled: 'O' fires in ordinary sessions only, 'A' in every session (ENABLE ALWAYS).
        return [(table, sql, {"A": "always", "O": "origin"}.get(enabled, enabled)) for table, sql, enabled in rows]


def test_every_ledger_table_and_only_those_have_the_append_only_triggers_schema_py_describes(store):
    triggers = _triggers(store)
    events = t.APPEND_ONLY_EVENTS[store.engine.dialect.name]
    covered = {(table, op) for table, sql, _ in triggers for op in events if f"BEFORE {op}" in sql or f" OR {op}" in sql}
    assert covered == {(table, op) for table in LEDGER_TABLES for op in events}
    assert not set(MUTABLE_TABLES) & {table for table, _, _ in triggers}
    # On PostgreSQL a session with session_replication_role = replica skips triggers not enabled ALWAYS.
    assert {state for _, _, state in triggers} == {"always"}


@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_update_of_a_ledger_row_is_refused_and_the_row_is_unchanged(store, table):
    before = _rows(store, table)
    message = _refused(store, _new_value(store, table, EDITS[table][0]))
    assert "append-only" in message
    assert _rows(store, table) == before


@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_delete_of_a_ledger_row_is_refused_and_the_row_is_unchanged(store, table):
    before = _rows(store, table)
    message = _refused(store, f"DELETE FROM {table} WHERE {EDITS[table][1]}")
    assert "append-only" in message
    message = _refused(store, f"DELETE FROM {table}")
    assert "append-only" in message
    assert _rows(store, table) == before


@pytest.mark.postgres
@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_truncate_of_a_ledger_table_is_refused_on_postgres(pg_store, table):
    before = _rows(pg_store, table)
    assert "append-only" in _refused(pg_store, f"TRUNCATE {table}")
    assert "append-only" in _refused(pg_store, f"TRUNCATE {table} CASCADE")
    assert _rows(pg_store, table) == before


# --- an INSERT onto a stored key -------------------------------------------------------------


def _unique_keys(table: str) -> list[tuple[str, ...]]:
    """Every unique key schema.py declares for ``table``: the primary key, then each UNIQUE constraint."""
    tab = t.metadata.tables[table]
    keys = [tuple(c.name for c in tab.primary_key.columns)]
    keys += [tuple(c.name for c in con.columns) for con in tab.constraints if isinstance(con, sa.UniqueConstraint)]
    return keys


KEYS = [(table, key) for table in LEDGER_TABLES for key in _unique_keys(table)]


def _colliding_row(store: SqlStore, table: str, key: tuple[str, ...]) -> dict[str, object]:
    """A row equal to the stored one on ``key`` and new in every other column (so it collides on ``key`` only)."""
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(t.metadata.tables[table]).limit(1)).mappings().one()
    row: dict[str, object] = {}
    for column in t.metadata.tables[table].columns:
        value = stored[column.name]
        if column.name in key:
            row[column.name] = value
        elif isinstance(value, int):
            row[column.name] = value + 1000
        elif isinstance(value, str):
            row[column.name] = value + "/forged"
        else:
            row[column.name] = bytes(value) + b"/forged"
    return row


def _insert_sql(table: str, row: dict[str, object], verb: str = "INSERT", tail: str = "") -> tuple[str, dict[str, object]]:
    columns = ", ".join(row)
    return f"{verb} INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in row)}){tail}", row


def _update_tail(table: str, key: tuple[str, ...]) -> str:
    others = [c.name for c in t.metadata.tables[table].columns if c.name not in key]
    return f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others)


def _raw_sqlite(store: SqlStore) -> sqlite3.Connection:
    """A connection as the sqlite3 shell opens one: no pragmas (recursive_triggers is off)."""
    conn = sqlite3.connect(store.engine.url.database, isolation_level=None)
    assert conn.execute("PRAGMA recursive_triggers").fetchone() == (0,)
    return conn


def _refused_raw(conn: sqlite3.Connection, sql: str, params: dict[str, object]) -> str:
    with pytest.raises(sqlite3.DatabaseError) as e:
        conn.execute(sql, params)
    return str(e.value)


@pytest.mark.parametrize(("table", "key"), KEYS, ids=[f"{table}-{'+'.join(key)}" for table, key in KEYS])
def test_an_insert_colliding_on_a_unique_key_cannot_replace_the_row(store, table, key):
    """INSERT OR REPLACE and upserts (SQLite), ON CONFLICT DO UPDATE (PostgreSQL) are rewrites too."""
    before = _rows(store, table)
    row = _colliding_row(store, table, key)
    if store.engine.dialect.name == "sqlite":
        statements = [_insert_sql(table, row, verb) for verb in ("INSERT OR REPLACE", "REPLACE", "INSERT OR IGNORE", "INSERT")]
        statements.append(_insert_sql(table, row, tail=_update_tail(table, key)))
        for sql, params in statements:
            # The store's own connections (recursive_triggers on) ...
            assert "append-only" in _refused(store, sa.text(sql).bindparams(**params)), sql
            assert _rows(store, table) == before, sql
        # ... and a plain sqlite3 connection, where REPLACE's delete fires no DELETE trigger.
        conn = _raw_sqlite(store)
        try:
            for sql, params in statements:
                assert "append-only" in _refused_raw(conn, sql, params), sql
                assert _rows(store, table) == before, sql
        finally:
            conn.close()
    else:
        sql, params = _insert_sql(table, row, tail=_update_tail(table, key))
        assert "append-only" in _refused(store, sa.text(sql).bindparams(**params))
        assert _rows(store, table) == before
        sql, params = _insert_sql(table, row, tail=f" ON CONFLICT ({', '.join(key)}) DO NOTHING")
        with store.engine.begin() as conn:
            assert conn.execute(sa.text(sql).bindparams(**params)).rowcount == 0
        assert _rows(store, table) == before


@pytest.mark.postgres
@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_merge_cannot_rewrite_a_ledger_row_on_postgres(pg_store, table):
    before = _rows(pg_store, table)
    column, where = EDITS[table]
    on = " AND ".join(f"{table}.{c} = s.{c}" for c in _unique_keys(table)[0])
    key = ", ".join(_unique_keys(table)[0])
    source = f"(SELECT {key} FROM {table} WHERE {where})"
    assert "append-only" in _refused(pg_store, f"MERGE INTO {table} USING {source} s ON {on} WHEN MATCHED THEN DELETE")
    update = sa.text(
        f"MERGE INTO {table} USING {source} s ON {on} WHEN MATCHED THEN UPDATE SET {column} = :v"
    ).bindparams(v=b"rewritten")
    assert "append-only" in _refused(pg_store, update)
    assert _rows(pg_store, table) == before


@pytest.mark.postgres
@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_a_replication_role_session_cannot_rewrite_a_ledger_row_on_postgres(pg_store, table):
    """session_replication_role = replica switches ordinary triggers off (the test server's user is a superuser)."""
    before = _rows(pg_store, table)
    column, where = EDITS[table]
    for statement in (f"UPDATE {table} SET {column} = {column} || '\\x00'::bytea WHERE {where}", f"DELETE FROM {table}", f"TRUNCATE {table}"):
        with pytest.raises(sa.exc.DBAPIError) as e:
            with pg_store.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                conn.exec_driver_sql(statement)
        assert "append-only" in str(e.value.orig), statement
    assert _rows(pg_store, table) == before


@pytest.mark.parametrize("table", MUTABLE_TABLES)
def test_mutable_tables_still_take_updates_and_deletes(store, table):
    column, where = EDITS[table]
    with store.engine.begin() as conn:
        assert conn.execute(_new_value(store, table, column)).rowcount == 1
    assert any("rewritten" in str(v) or v == b"rewritten" for row in _rows(store, table) for v in row)
    with store.engine.begin() as conn:
        assert conn.exec_driver_sql(f"DELETE FROM {table} WHERE {where}").rowcount == 1
    assert _rows(store, table) == []


def test_appending_still_works_with_the_triggers_in_place(store):
    header = b'{"height":1}'
    block = StoredBlock(1, 2, 1, header, hashlib.sha256(header).digest())
    store.append_block(block, [(hashlib.sha256(b"c").digest(), b"entry c")])
    # A group commit: several blocks, one multi-row INSERT of their entries.
    group = []
    for height, first in ((2, 3), (3, 5)):
        header = b'{"height":%d}' % height
        rows = [(hashlib.sha256(b"g%d" % i).digest(), b"entry g%d" % i) for i in range(first, first + 2)]
        group.append((StoredBlock(height, first, 2, header, hashlib.sha256(header).digest()), rows))
    store.append_blocks(group)
    store.add_checkpoint(7, b"cp7")
    store.add_cosignature(7, "w/a", b"cosig7")
    store.set_final(7, b"final7")
    assert store.size() == 7 and store.block_count() == 4 and store.latest_final() == (7, b"final7")
    assert store.entries(0, 7)[2:] == [b"entry c", b"entry g3", b"entry g4", b"entry g5", b"entry g6"]
    # The idempotent re-adds are still no-ops, and a different value is still a ConflictError (not a trigger error).
    store.add_checkpoint(7, b"cp7")
    store.add_cosignature(7, "w/a", b"cosig7")
    store.set_final(7, b"final7")
    with pytest.raises(ConflictError, match="different checkpoint"):
        store.add_checkpoint(7, b"other")
    with pytest.raises(ConflictError, match="different cosignature"):
        store.add_cosignature(7, "w/a", b"other")
    with pytest.raises(ConflictError, match="different final"):
        store.set_final(7, b"other")
    # A repeated leaf hash is still reported as one.
    header = b'{"height":4}'
    with pytest.raises(ConflictError, match="already stored at index 2"):
        store.append_block(StoredBlock(4, 7, 1, header, hashlib.sha256(header).digest()), [(hashlib.sha256(b"c").digest(), b"again")])
    assert store.size() == 7 and store.checkpoint(7) == b"cp7" and store.cosignatures(7) == [("w/a", b"cosig7")]


def test_a_plain_sqlite_connection_can_still_append_new_rows(tmp_path):
    """The INSERT triggers fire on stored keys only: a new key goes in from any connection."""
    store = _populated(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        conn = _raw_sqlite(store)
        try:
            conn.execute("INSERT INTO checkpoints (size, note) VALUES (3, x'00')")
            conn.execute("INSERT INTO cosignatures (size, witness, line) VALUES (2, 'w/b', x'00')")
        finally:
            conn.close()
        assert store.checkpoint(3) == b"\x00" and [w for w, _ in store.cosignatures(2)] == ["w/a", "w/b"]
    finally:
        store.close()
