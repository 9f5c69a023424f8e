"""The full-text index holds ledger-verified evidence only; idempotency keys for announcements and uploads.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

* Discovery (issue 7: "only ledger-verified items count as evidence"): 0002
  indexed ``evidence || region || headline``, so a profile without a single
  credential matched words of its self-written headline. The index now covers
  ``evidence`` alone (public, ledger-verified credentials, see
  services/discovery.py); the headline is shown on the card, labelled as the
  holder's own words, and the region is a filter column. SQLite: the FTS5 table
  and its triggers are recreated and rebuilt from ``pf_profiles``; PostgreSQL:
  the generated ``tsv`` column and its GIN index are recreated.
* Forms submitted twice (issue 4): ``pf_announcements.idem_key`` unique per
  institution and ``pf_uploads.idem_key`` unique per owner (NULL for rows made
  before: NULLs never collide), so a repeated POST finds the first row.

Written out by hand and frozen, like 0001 and 0002.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _sqlite_fts(columns: tuple[str, ...]) -> None:
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    for trig in ("fts_profiles_ai", "fts_profiles_ad", "fts_profiles_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trig}")
    op.execute("DROP TABLE IF EXISTS fts_profiles")
    op.execute(
        f"CREATE VIRTUAL TABLE fts_profiles USING fts5({cols}, content='pf_profiles', "
        "content_rowid='user_id', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(f"CREATE TRIGGER fts_profiles_ai AFTER INSERT ON pf_profiles BEGIN "
               f"INSERT INTO fts_profiles(rowid, {cols}) VALUES (new.user_id, {new}); END")
    op.execute(f"CREATE TRIGGER fts_profiles_ad AFTER DELETE ON pf_profiles BEGIN "
               f"INSERT INTO fts_profiles(fts_profiles, rowid, {cols}) VALUES ('delete', old.user_id, {old}); END")
    op.execute(f"CREATE TRIGGER fts_profiles_au AFTER UPDATE ON pf_profiles BEGIN "
               f"INSERT INTO fts_profiles(fts_profiles, rowid, {cols}) VALUES ('delete', old.user_id, {old}); "
               f"INSERT INTO fts_profiles(rowid, {cols}) VALUES (new.user_id, {new}); END")
    op.execute("INSERT INTO fts_profiles(fts_profiles) VALUES ('rebuild')")


def _postgres_tsv(expression: str) -> None:
    op.execute("ALTER TABLE pf_profiles DROP COLUMN IF EXISTS tsv")  # drops ix_pf_profiles_tsv with it
    op.execute(f"ALTER TABLE pf_profiles ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', {expression})) STORED")
    op.execute("CREATE INDEX ix_pf_profiles_tsv ON pf_profiles USING GIN (tsv)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_tsv("evidence")
    else:
        _sqlite_fts(("evidence",))
    op.add_column("pf_announcements", sa.Column("idem_key", sa.String(length=64), nullable=True))
    op.create_index("uq_pf_announcements_idem", "pf_announcements", ["institution_id", "idem_key"], unique=True)
    op.add_column("pf_uploads", sa.Column("idem_key", sa.String(length=64), nullable=True))
    op.create_index("uq_pf_uploads_idem", "pf_uploads", ["owner_id", "idem_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_pf_uploads_idem", table_name="pf_uploads")
    with op.batch_alter_table("pf_uploads") as b:
        b.drop_column("idem_key")
    op.drop_index("uq_pf_announcements_idem", table_name="pf_announcements")
    with op.batch_alter_table("pf_announcements") as b:
        b.drop_column("idem_key")
    if op.get_bind().dialect.name == "postgresql":
        _postgres_tsv("evidence || ' ' || region || ' ' || headline")
    else:
        _sqlite_fts(("evidence", "region", "headline"))
