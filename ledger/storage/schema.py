"""The ledger's tables as SQLAlchemy Core objects (used by ``sql.py`` for queries).

The database itself is created by the Alembic migrations in ``migrations/``;
``tests/storage/test_storage.py`` checks that a migrated database matches this
metadata exactly, so the two cannot drift apart silently.

Indices are BIGINT on PostgreSQL and INTEGER on SQLite, where an
``INTEGER PRIMARY KEY`` is the table's rowid: entries are then stored in index
order without a second B-tree.
"""

from __future__ import annotations

import sqlalchemy as sa

#: 64-bit index that is the rowid on SQLite.
Index64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

#: Per database, the statements the append-only triggers refuse on every ledger table.
APPEND_ONLY_EVENTS = {
    "sqlite": ("INSERT", "UPDATE", "DELETE"),
    "postgresql": ("UPDATE", "DELETE", "TRUNCATE"),
}

# --- ledger tables: append-only -----------------------------------------------------------
#
# The migrations install triggers (0001, 0002) that reject, on every ledger table:
# UPDATE and DELETE; on PostgreSQL TRUNCATE too, in every session (ENABLE ALWAYS, so
# session_replication_role = replica does not switch them off); on SQLite any INSERT
# whose primary key or unique value is already stored (INSERT OR REPLACE would delete
# the old row). APPEND_ONLY_EVENTS lists them; tests/storage/test_storage_triggers.py
# checks a migrated database has exactly these, and tries a colliding INSERT on every
# unique key declared below.

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("idx", Index64, primary_key=True, autoincrement=False),
    sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("leaf_hash", name="uq_entries_leaf_hash"),
)

blocks = sa.Table(
    "blocks",
    metadata,
    sa.Column("height", Index64, primary_key=True, autoincrement=False),
    sa.Column("first_index", sa.BigInteger, nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("header", sa.LargeBinary, nullable=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("first_index", name="uq_blocks_first_index"),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("size", Index64, primary_key=True, autoincrement=False),
    sa.Column("note", sa.LargeBinary, nullable=False),
)

cosignatures = sa.Table(
    "cosignatures",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("witness", sa.String, primary_key=True),
    sa.Column("line", sa.LargeBinary, nullable=False),
)

final_checkpoints = sa.Table(
    "final_checkpoints",
    metadata,
    sa.Column("size", Index64, primary_key=True, autoincrement=False),
    sa.Column("note", sa.LargeBinary, nullable=False),
)

# --- mutable tables -----------------------------------------------------------------------

witness_state = sa.Table(
    "witness_state",
    metadata,
    sa.Column("origin", sa.String, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("note", sa.LargeBinary, nullable=False),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
