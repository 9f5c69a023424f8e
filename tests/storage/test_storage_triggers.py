"""The database itself refuses to rewrite history: triggers on every ledger table.

Raw SQL, as a buggy code path or a hand-typed statement would send it, against
SQLite and PostgreSQL: UPDATE and DELETE (and TRUNCATE on PostgreSQL) on each
ledger table fail and leave the row as it was; the mutable tables still change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from ledger.storage import LEDGER_TABLES, MUTABLE_TABLES, StoredBlock, open_store
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


def test_every_ledger_table_and_only_those_have_append_only_triggers(store):
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'").all()
            covered = {(table, op) for table, sql in rows for op in ("UPDATE", "DELETE") if f"BEFORE {op} ON" in sql}
            assert covered == {(t, op) for t in LEDGER_TABLES for op in ("UPDATE", "DELETE")}
        else:
            rows = conn.exec_driver_sql(
                "SELECT event_object_table, event_manipulation FROM information_schema.triggers"
            ).all()  # lists row triggers for UPDATE and DELETE (TRUNCATE is tested below)
            assert set(rows) == {(t, op) for t in LEDGER_TABLES for op in ("UPDATE", "DELETE")}
    assert not set(MUTABLE_TABLES) & {r[0] for r in rows}


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


def test_an_upsert_cannot_replace_an_entry(store):
    """INSERT OR REPLACE (SQLite) and ON CONFLICT DO UPDATE (PostgreSQL) are rewrites too."""
    before = _rows(store, "entries")
    if store.engine.dialect.name == "sqlite":
        # REPLACE deletes the old row; the DELETE trigger fires because the
        # store turns recursive_triggers on for its connections.
        statement = sa.text("INSERT OR REPLACE INTO entries (idx, leaf_hash, data) VALUES (0, :h, :d)")
    else:
        statement = sa.text(
            "INSERT INTO entries (idx, leaf_hash, data) VALUES (0, :h, :d) "
            "ON CONFLICT (idx) DO UPDATE SET data = excluded.data"
        )
    message = _refused(store, statement.bindparams(h=hashlib.sha256(b"z").digest(), d=b"forged"))
    assert "append-only" in message
    assert _rows(store, "entries") == before


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
    store.add_checkpoint(3, b"cp3")
    store.set_final(3, b"final3")
    assert store.size() == 3 and store.latest_final() == (3, b"final3")
