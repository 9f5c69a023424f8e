"""The ledger schema: append-only ledger tables with triggers, two mutable tables.

Revision ID: 0001
Revises:
Create Date: 2024-11-22

The column definitions are written out here rather than imported from
``ledger.storage.schema``: a migration describes the database as it was at
this revision, and must not change when the Python module does.
``tests/storage/test_storage.py`` compares the migrated database with ``schema.py``.

Append-only is enforced by the database too, so that even a bug (or a
hand-typed UPDATE) in a process holding ordinary write access cannot rewrite
history: every ledger table gets triggers that abort UPDATE and DELETE, and on
PostgreSQL TRUNCATE. On SQLite ``INSERT OR REPLACE`` deletes the old row
without firing DELETE triggers unless ``PRAGMA recursive_triggers`` is on; the
SQL backend turns it on for every connection. Someone with direct access to the
file can still drop the triggers: that is what the audit is for.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LEDGER_TABLES = ("entries", "blocks", "checkpoints", "cosignatures", "final_checkpoints")
MESSAGE = "ledger tables are append-only"

Index64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("idx", Index64, primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("leaf_hash", name="uq_entries_leaf_hash"),
    )
    op.create_table(
        "blocks",
        sa.Column("height", Index64, primary_key=True, autoincrement=False),
        sa.Column("first_index", sa.BigInteger, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("header", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("first_index", name="uq_blocks_first_index"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", Index64, primary_key=True, autoincrement=False),
        sa.Column("note", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "cosignatures",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String, primary_key=True),
        sa.Column("line", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "final_checkpoints",
        sa.Column("size", Index64, primary_key=True, autoincrement=False),
        sa.Column("note", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "witness_state",
        sa.Column("origin", sa.String, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("note", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in LEDGER_TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_append_only_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION eduledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION USING MESSAGE = '{MESSAGE}', "
            "DETAIL = TG_OP || ' on ' || TG_TABLE_NAME || ' refused', ERRCODE = 'restrict_violation'; "
            "END $$"
        )
        for table in LEDGER_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION eduledger_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_append_only_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION eduledger_append_only()"
            )
    else:  # the guarantee is part of the schema: refuse a database that cannot give it
        raise RuntimeError(f"no append-only triggers for database {dialect!r}")


def downgrade() -> None:
    # Dropping the ledger would defeat the point of an append-only log.
    raise RuntimeError("the ledger schema cannot be downgraded")
