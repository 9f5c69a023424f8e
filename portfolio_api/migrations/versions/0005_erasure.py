"""Share-link viewers as opaque ids with consent, no viewer IP addresses; a reason for refused anchors.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20

Issue 16 ("erasure that really erases"):

* ``pf_share_access.viewer`` held the full name of a signed-in viewer, shown to
  the link's owner and kept after the viewer erased her account. It now holds
  ``u:<user id>`` (an opaque id; the name is looked up only when the viewer
  consented, ``pf_share_consents``). The names already stored cannot be mapped
  back to an account (names are stored encrypted), so they become ``u:``:
  "a signed-in user", never named.
* ``pf_share_access.ip`` is dropped: the owner of a link is not shown where a
  viewer was, and abuse limits work on live requests, not on this log.
  SQLite rebuilds the table (``secure_delete`` zeroes the old pages);
  PostgreSQL keeps the old tuples until the next ``VACUUM`` (docs/security.md).
* ``pf_share_consents`` (share, viewer): the viewer agreed to be named to the
  owner of that link.
* ``pf_credentials.anchor_error``: the ledger refused a credential left
  unanchored by a crash when start-up re-submitted it; its holder sees why.

Written out by hand and frozen, like 0001 to 0003.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE pf_share_access SET viewer = 'u:' WHERE viewer NOT IN ('', 'bulk verification')")
    with op.batch_alter_table("pf_share_access") as b:
        b.drop_column("ip")
    op.create_table(
        "pf_share_consents",
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("viewer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["share_id"], ["pf_shares.id"]),
        sa.ForeignKeyConstraint(["viewer_id"], ["pf_users.id"]),
        sa.PrimaryKeyConstraint("share_id", "viewer_id"),
    )
    op.create_index("ix_pf_share_consents_viewer_id", "pf_share_consents", ["viewer_id"], unique=False)
    op.add_column("pf_credentials", sa.Column("anchor_error", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pf_credentials") as b:
        b.drop_column("anchor_error")
    op.drop_index("ix_pf_share_consents_viewer_id", table_name="pf_share_consents")
    op.drop_table("pf_share_consents")
    with op.batch_alter_table("pf_share_access") as b:
        b.add_column(sa.Column("ip", sa.String(length=64), nullable=False, server_default=""))
