"""The full-text index holds the lemmas of the verified evidence, not its word forms.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-27

Issue 18 ("Russian morphology in search"): "физика" did not find "…ВсОШ по физике…", because
both engines matched the words as written (FTS5 ``unicode61``, PostgreSQL ``simple``: neither
knows Russian). ``pf_profiles.evidence_lemmas`` now holds the evidence lemmatised in Python
(services/morphology.py) and is what both indexes cover; ``evidence`` keeps the text shown on the
card. SQLite: the FTS5 table and its triggers are recreated on ``evidence_lemmas`` with
``remove_diacritics 0`` (the text arrives already folded; folding again would let SQLite match what
PostgreSQL does not); PostgreSQL: the generated ``tsv`` column and its GIN index are recreated.

Existing rows get NULL, which marks them stale: ``Discovery.refresh_stale`` (run by the idle
sender) re-indexes discoverable profiles with NULL lemmas first, and a profile saved by its holder
is re-indexed at once. Until then such a profile is not found (the lemmatiser is Python code, so
this migration, frozen like 0001 to 0005, does not call it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _drop_sqlite_fts() -> None:
    for trig in ("fts_profiles_ai", "fts_profiles_ad", "fts_profiles_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trig}")
    op.execute("DROP TABLE IF EXISTS fts_profiles")


def _sqlite_fts(column: str, tokenize: str) -> None:
    _drop_sqlite_fts()
    op.execute(f"CREATE VIRTUAL TABLE fts_profiles USING fts5({column}, content='pf_profiles', content_rowid='user_id', tokenize='{tokenize}')")
    op.execute(f"CREATE TRIGGER fts_profiles_ai AFTER INSERT ON pf_profiles BEGIN "
               f"INSERT INTO fts_profiles(rowid, {column}) VALUES (new.user_id, new.{column}); END")
    op.execute(f"CREATE TRIGGER fts_profiles_ad AFTER DELETE ON pf_profiles BEGIN "
               f"INSERT INTO fts_profiles(fts_profiles, rowid, {column}) VALUES ('delete', old.user_id, old.{column}); END")
    op.execute(f"CREATE TRIGGER fts_profiles_au AFTER UPDATE ON pf_profiles BEGIN "
               f"INSERT INTO fts_profiles(fts_profiles, rowid, {column}) VALUES ('delete', old.user_id, old.{column}); "
               f"INSERT INTO fts_profiles(rowid, {column}) VALUES (new.user_id, new.{column}); END")
    op.execute("INSERT INTO fts_profiles(fts_profiles) VALUES ('rebuild')")


def _postgres_tsv(column: str) -> None:
    op.execute("ALTER TABLE pf_profiles DROP COLUMN IF EXISTS tsv")  # drops ix_pf_profiles_tsv with it
    op.execute(f"ALTER TABLE pf_profiles ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', {column})) STORED")
    op.execute("CREATE INDEX ix_pf_profiles_tsv ON pf_profiles USING GIN (tsv)")


def upgrade() -> None:
    op.add_column("pf_profiles", sa.Column("evidence_lemmas", sa.Text(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _postgres_tsv("evidence_lemmas")
    else:
        _sqlite_fts("evidence_lemmas", "unicode61 remove_diacritics 0")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_tsv("evidence")
        op.drop_column("pf_profiles", "evidence_lemmas")
    else:
        _drop_sqlite_fts()  # its triggers name the column
        with op.batch_alter_table("pf_profiles") as b:
            b.drop_column("evidence_lemmas")
        _sqlite_fts("evidence", "unicode61 remove_diacritics 2")
