"""No INSERT may rewrite a ledger row: SQLite refuses an INSERT onto a stored key, PostgreSQL's triggers always fire.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-03

0001's triggers refuse UPDATE and DELETE. Two ways around them remained:

* **SQLite, INSERT OR REPLACE** (or ``REPLACE INTO``) onto a stored key deletes the
  old row and inserts the new one. The DELETE trigger fires for that deletion
  only while ``PRAGMA recursive_triggers`` is on: the SQL backend turns it on for
  its own connections, the sqlite3 shell or any other program does not. REPLACE
  resolves a conflict on *any* unique column, not only the primary key, so
  ``entries.leaf_hash`` and ``blocks.first_index`` are ways in too. A BEFORE
  INSERT trigger runs before conflict resolution, whatever the pragmas and the
  conflict clause: it refuses every INSERT (plain, OR REPLACE, OR IGNORE, upsert)
  whose key, or any of whose unique values, is already stored. That costs one
  indexed lookup per key and row, in the B-trees the INSERT descends anyway.
  Because it also refuses INSERT OR IGNORE and ON CONFLICT DO NOTHING, the
  store's idempotent re-adds (``add_checkpoint`` and friends) insert only when
  the key is absent (``INSERT ... SELECT ... WHERE NOT EXISTS``, see sql.py).
  An upsert (ON CONFLICT DO UPDATE) already fired the UPDATE trigger; it is now
  refused one step earlier.
* **PostgreSQL** has no REPLACE; ON CONFLICT DO UPDATE and MERGE run 0001's
  row triggers for the UPDATE or DELETE they would do (refused), and ON CONFLICT
  DO NOTHING leaves the stored row alone, so no INSERT trigger is needed (it
  would also refuse the store's DO NOTHING). What got past the triggers is a
  session with ``session_replication_role = replica`` (a superuser, or a role
  granted SET on it): ordinary triggers do not fire there. ``ENABLE ALWAYS``
  makes them fire in every session.

Someone who owns the tables can still drop the triggers (or the file): the
audit and ``ledger.node.rollback`` are for that.

The tables and their unique columns are written out, not imported from
``ledger.storage.schema``: a migration describes the database as it was at
this revision. ``tests/storage/test_storage_triggers.py`` tries a colliding
INSERT on every unique key that ``schema.py`` declares.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Per ledger table, each of its unique keys (the primary key first).
UNIQUE_KEYS = {
    "entries": (("idx",), ("leaf_hash",)),
    "blocks": (("height",), ("first_index",)),
    "checkpoints": (("size",),),
    "cosignatures": (("size", "witness"),),
    "final_checkpoints": (("size",),),
}
MESSAGE = "ledger tables are append-only: a row with this key is already stored"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table, keys in UNIQUE_KEYS.items():
            stored = " OR ".join(
                f"EXISTS (SELECT 1 FROM {table} WHERE " + " AND ".join(f"{c} = NEW.{c}" for c in key) + ")" for key in keys
            )
            op.execute(
                f"CREATE TRIGGER {table}_append_only_insert BEFORE INSERT ON {table} "
                f"WHEN {stored} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
    elif dialect == "postgresql":
        for table in UNIQUE_KEYS:
            for trigger in (f"{table}_append_only", f"{table}_append_only_truncate"):
                op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")
    else:  # 0001 refused any other database already
        raise RuntimeError(f"no append-only triggers for database {dialect!r}")


def downgrade() -> None:
    # Dropping an append-only guarantee would defeat the point of an append-only log.
    raise RuntimeError("the ledger schema cannot be downgraded")
