"""Opportunities: announcements, subscriptions, the notification outbox, discoverable profiles
with the database's own full-text index, follows of applicants, announcement results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Written out by hand (frozen, like 0001). The full-text index is per dialect and
lives outside tables.py: SQLite gets an external-content FTS5 table
``fts_profiles`` kept in step with ``pf_profiles`` by triggers (its name does not
start with ``pf_`` so that the FTS5 shadow tables stay out of the schema
comparison); PostgreSQL gets a generated ``tsvector`` column with a GIN index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pf_announcements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("institution_id", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("subject", sa.String(length=60), nullable=False),
        sa.Column("level", sa.String(length=30), nullable=False),
        sa.Column("region", sa.String(length=80), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("grade_min", sa.Integer(), nullable=True),
        sa.Column("grade_max", sa.Integer(), nullable=True),
        sa.Column("starts_on", sa.String(length=10), nullable=False),
        sa.Column("ends_on", sa.String(length=10), nullable=False),
        sa.Column("registration_url", sa.String(length=500), nullable=False),
        sa.Column("notified", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pf_announcements_institution_id", "pf_announcements", ["institution_id"])
    op.create_table(
        "pf_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=60), server_default="", nullable=False),
        sa.Column("level", sa.String(length=30), server_default="", nullable=False),
        sa.Column("region", sa.String(length=80), server_default="", nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("email", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("unsub_salt", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("cancelled_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["pf_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pf_subscriptions_user_id", "pf_subscriptions", ["user_id"])
    op.create_index("ix_pf_subscriptions_match", "pf_subscriptions", ["audience", "subject"])
    op.create_table(
        "pf_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("read_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["announcement_id"], ["pf_announcements.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["pf_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("announcement_id", "user_id", name="uq_pf_outbox_once"),
    )
    op.create_index("ix_pf_outbox_user_id", "pf_outbox", ["user_id"])
    op.create_index("ix_pf_outbox_due", "pf_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "pf_profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("discoverable", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("region", sa.String(length=80), server_default="", nullable=False),
        sa.Column("headline", sa.String(length=300), server_default="", nullable=False),
        sa.Column("evidence", sa.Text(), server_default="", nullable=False),
        sa.Column("self_reported", sa.Text(), server_default="", nullable=False),
        sa.Column("verified_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("indexed_at", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["pf_users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "pf_follows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("institution_id", sa.String(length=64), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("share_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["student_id"], ["pf_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pf_follows_institution_id", "pf_follows", ["institution_id"])
    op.create_index("ix_pf_follows_student_id", "pf_follows", ["student_id"])
    op.create_table(
        "pf_announcement_results",
        sa.Column("credential_id", sa.String(length=36), nullable=False),
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["announcement_id"], ["pf_announcements.id"]),
        sa.PrimaryKeyConstraint("credential_id"),
    )
    op.create_index("ix_pf_announcement_results_announcement_id", "pf_announcement_results", ["announcement_id"])

    if op.get_bind().dialect.name == "postgresql":
        # 'simple': no stemming, so Russian and English words match as written (prefix queries do the rest).
        op.execute(
            "ALTER TABLE pf_profiles ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
            "(to_tsvector('simple', evidence || ' ' || region || ' ' || headline)) STORED"
        )
        op.execute("CREATE INDEX ix_pf_profiles_tsv ON pf_profiles USING GIN (tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE fts_profiles USING fts5(evidence, region, headline, content='pf_profiles', "
            "content_rowid='user_id', tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER fts_profiles_ai AFTER INSERT ON pf_profiles BEGIN "
            "INSERT INTO fts_profiles(rowid, evidence, region, headline) VALUES (new.user_id, new.evidence, new.region, new.headline); END"
        )
        op.execute(
            "CREATE TRIGGER fts_profiles_ad AFTER DELETE ON pf_profiles BEGIN "
            "INSERT INTO fts_profiles(fts_profiles, rowid, evidence, region, headline) "
            "VALUES ('delete', old.user_id, old.evidence, old.region, old.headline); END"
        )
        op.execute(
            "CREATE TRIGGER fts_profiles_au AFTER UPDATE ON pf_profiles BEGIN "
            "INSERT INTO fts_profiles(fts_profiles, rowid, evidence, region, headline) "
            "VALUES ('delete', old.user_id, old.evidence, old.region, old.headline); "
            "INSERT INTO fts_profiles(rowid, evidence, region, headline) VALUES (new.user_id, new.evidence, new.region, new.headline); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trig in ("fts_profiles_ai", "fts_profiles_ad", "fts_profiles_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trig}")
        op.execute("DROP TABLE IF EXISTS fts_profiles")
    for name in ("pf_announcement_results", "pf_follows", "pf_profiles", "pf_outbox", "pf_subscriptions", "pf_announcements"):
        op.drop_table(name)
