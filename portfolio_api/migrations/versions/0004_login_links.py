"""One-time links sent by e-mail: sign-in links and pending registrations (issue 16).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

``pf_login_links`` holds only the SHA-256 of each link's token (like
``pf_sessions``): a copy of the database signs nobody in. ``purpose`` is
``login`` (bound to ``user_id``) or ``register`` (``email_index`` of the
address being registered; ``payload`` is the pending account, encrypted under a
key derived from the token itself, so it is unreadable without the e-mailed
link). A row is deleted when it is used, and expired rows are deleted whenever a
new link is issued.

Written out by hand and frozen, like 0001 to 0003.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pf_login_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("email_index", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["pf_users.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(op.f("ix_pf_login_links_user_id"), "pf_login_links", ["user_id"], unique=False)
    op.create_index(op.f("ix_pf_login_links_expires_at"), "pf_login_links", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pf_login_links_expires_at"), table_name="pf_login_links")
    op.drop_index(op.f("ix_pf_login_links_user_id"), table_name="pf_login_links")
    op.drop_table("pf_login_links")
