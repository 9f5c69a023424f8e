"""The portfolio's own tables (SQLAlchemy Core), separate from the ledger's.

Personal fields (names, e-mail addresses, uploaded documents, credential JSON)
are stored encrypted with the person's data key (see ``portfolio_api.vault``);
the e-mail is found by a keyed hash (``email_index``), never by its plaintext.
Deleting a person destroys the row in ``data_keys``: everything encrypted under
it becomes unreadable (crypto-shredding) while digests and statuses remain.

The migration ``migrations/versions/0001_portfolio.py`` writes the same tables
out by hand; ``tests/portfolio/test_portfolio_db.py`` compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "pf_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email_index", sa.String(64), unique=True, nullable=True),
    sa.Column("email_enc", sa.LargeBinary, nullable=True),
    sa.Column("name_enc", sa.LargeBinary, nullable=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("institution_id", sa.String(64), nullable=True),
    sa.Column("password_hash", sa.String(200), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("deleted_at", sa.BigInteger, nullable=True),
)

data_keys = sa.Table(
    "pf_data_keys",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("pf_users.id"), primary_key=True),
    sa.Column("wrapped", sa.LargeBinary, nullable=False),
)

sessions = sa.Table(
    "pf_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("pf_users.id"), nullable=False, index=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
)

# One-time e-mailed links (migration 0004): sign-in links bound to an account, pending registrations.
login_links = sa.Table(
    "pf_login_links",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(16), nullable=False),  # "login" | "register"
    sa.Column("user_id", sa.Integer, sa.ForeignKey("pf_users.id"), nullable=True, index=True),
    sa.Column("email_index", sa.String(64), nullable=True),
    sa.Column("payload", sa.LargeBinary, nullable=True),  # register: encrypted under a key derived from the token
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)

institutions = sa.Table(
    "pf_institutions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("suspended_at", sa.BigInteger, nullable=True),
    sa.Column("suspended_reason", sa.String(500), nullable=True),
)

templates = sa.Table(
    "pf_templates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("institution_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("description", sa.String(2000), nullable=False, server_default=""),
)

credentials = sa.Table(
    "pf_credentials",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("institution_id", sa.String(64), nullable=False, index=True),
    sa.Column("holder_id", sa.Integer, sa.ForeignKey("pf_users.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("issued_at", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("credential_enc", sa.LargeBinary, nullable=True),
    sa.Column("bundle_enc", sa.LargeBinary, nullable=True),
    sa.Column("anchor_index", sa.BigInteger, nullable=True),
    sa.Column("public", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("idem_key", sa.String(64), nullable=False),
    sa.Column("issued_by", sa.Integer, nullable=True),
    sa.Column("upload_id", sa.Integer, nullable=True),
    sa.Column("anchor_error", sa.String(300), nullable=True),  # the ledger refused it at start-up (migration 0005)
    sa.UniqueConstraint("institution_id", "idem_key", name="uq_pf_credentials_idem"),
)

uploads = sa.Table(
    "pf_uploads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("pf_users.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("title_enc", sa.LargeBinary, nullable=True),
    sa.Column("filename_enc", sa.LargeBinary, nullable=True),
    sa.Column("content_enc", sa.LargeBinary, nullable=True),
    sa.Column("mime", sa.String(40), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("issuer_id", sa.String(64), nullable=True),
    sa.Column("issued_on", sa.String(10), nullable=False),
    sa.Column("public", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("idem_key", sa.String(64), nullable=True),  # the upload form's hidden key (migration 0003)
    sa.Index("uq_pf_uploads_idem", "owner_id", "idem_key", unique=True),
)

requests = sa.Table(
    "pf_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("upload_id", sa.Integer, sa.ForeignKey("pf_uploads.id"), nullable=False, unique=True),
    sa.Column("owner_id", sa.Integer, nullable=False, index=True),
    sa.Column("institution_id", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(1000), nullable=True),
    sa.Column("credential_id", sa.String(36), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("decided_at", sa.BigInteger, nullable=True),
    sa.Column("decided_by", sa.Integer, nullable=True),
)

shares = sa.Table(
    "pf_shares",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("pf_users.id"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("token_enc", sa.LargeBinary, nullable=True),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("items", sa.Text, nullable=True),  # JSON list of "c:<id>"/"u:<id>"; NULL = whole public portfolio
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

share_access = sa.Table(
    "pf_share_access",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("share_id", sa.Integer, sa.ForeignKey("pf_shares.id"), nullable=False, index=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    # "" (not signed in), "u:<user id>" (signed in: an opaque id, never a name) or a fixed label such as
    # "bulk verification". No IP address is kept (migration 0005 dropped the column; docs/security.md).
    sa.Column("viewer", sa.String(200), nullable=False),
    sa.Column("user_agent", sa.String(300), nullable=False),
)

# A signed-in viewer's consent to be named to one link's owner (issue 16); without a row, the owner
# sees "a signed-in user". Withdrawn by deleting the row; erasure deletes the viewer's and the owner's rows.
share_consents = sa.Table(
    "pf_share_consents",
    metadata,
    sa.Column("share_id", sa.Integer, sa.ForeignKey("pf_shares.id"), primary_key=True),
    sa.Column("viewer_id", sa.Integer, sa.ForeignKey("pf_users.id"), primary_key=True, index=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

audit_log = sa.Table(
    "pf_audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("institution_id", sa.String(64), nullable=True, index=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("target", sa.String(100), nullable=False),
    sa.Column("detail", sa.String(1000), nullable=False, server_default=""),
)

api_tokens = sa.Table(
    "pf_api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("institution_id", sa.String(64), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("created_by", sa.Integer, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

batches = sa.Table(
    "pf_batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("institution_id", sa.String(64), nullable=False, index=True),
    sa.Column("created_by", sa.Integer, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("done", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("report", sa.Text, nullable=False, server_default="[]"),
    sa.Column("idem_key", sa.String(64), nullable=False),
    sa.UniqueConstraint("institution_id", "idem_key", name="uq_pf_batches_idem"),
)

# --- opportunities (issue 7; migration 0002) ---

announcements = sa.Table(
    "pf_announcements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("institution_id", sa.String(64), nullable=False, index=True),
    sa.Column("created_by", sa.Integer, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("subject", sa.String(60), nullable=False),
    sa.Column("level", sa.String(30), nullable=False),
    sa.Column("region", sa.String(80), nullable=False),
    sa.Column("audience", sa.String(16), nullable=False),
    sa.Column("grade_min", sa.Integer, nullable=True),
    sa.Column("grade_max", sa.Integer, nullable=True),
    sa.Column("starts_on", sa.String(10), nullable=False),
    sa.Column("ends_on", sa.String(10), nullable=False),
    sa.Column("registration_url", sa.String(500), nullable=False),
    sa.Column("notified", sa.Integer, nullable=True),  # matching people recorded by the fan-out; NULL = not yet
    sa.Column("idem_key", sa.String(64), nullable=True),  # the publishing form's hidden key (migration 0003)
    sa.Index("uq_pf_announcements_idem", "institution_id", "idem_key", unique=True),
)

# '' in subject/level/region means "any"; the fan-out matches with one INSERT ... SELECT.
subscriptions = sa.Table(
    "pf_subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("pf_users.id"), nullable=False, index=True),
    sa.Column("subject", sa.String(60), nullable=False, server_default=""),
    sa.Column("level", sa.String(30), nullable=False, server_default=""),
    sa.Column("region", sa.String(80), nullable=False, server_default=""),
    sa.Column("audience", sa.String(16), nullable=False),
    sa.Column("email", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("unsub_salt", sa.String(32), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("cancelled_at", sa.BigInteger, nullable=True),
    sa.Index("ix_pf_subscriptions_match", "audience", "subject"),
)

# One row per (announcement, person): the in-app notice and the e-mail queue at once.
# The unique constraint is what makes a second fan-out (or a retried one) send nothing twice.
outbox = sa.Table(
    "pf_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("announcement_id", sa.Integer, sa.ForeignKey("pf_announcements.id"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("pf_users.id"), nullable=False, index=True),
    sa.Column("subscription_id", sa.Integer, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # queued | sent | cancelled | web (no e-mail wanted)
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("sent_at", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.String(300), nullable=True),
    sa.Column("read_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("announcement_id", "user_id", name="uq_pf_outbox_once"),
    sa.Index("ix_pf_outbox_due", "status", "next_attempt_at"),
)

# Discovery: opt-in profiles; the database indexes ``evidence_lemmas`` alone (FTS5 / tsvector, migrations 0002, 0003, 0006).
profiles = sa.Table(
    "pf_profiles",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("pf_users.id"), primary_key=True),
    sa.Column("discoverable", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("region", sa.String(80), nullable=False, server_default=""),
    sa.Column("headline", sa.String(300), nullable=False, server_default=""),
    sa.Column("evidence", sa.Text, nullable=False, server_default=""),  # ledger-verified credentials only
    # the lemmas of ``evidence`` (services/morphology.py), what the index holds; NULL: not re-indexed since migration 0006
    sa.Column("evidence_lemmas", sa.Text, nullable=True),
    sa.Column("self_reported", sa.Text, nullable=False, server_default=""),  # labelled, never counted as evidence
    sa.Column("verified_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("indexed_at", sa.BigInteger, nullable=False, server_default="0"),
)

follows = sa.Table(
    "pf_follows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("institution_id", sa.String(64), nullable=False, index=True),
    sa.Column("student_id", sa.Integer, sa.ForeignKey("pf_users.id"), nullable=False, index=True),
    sa.Column("share_id", sa.Integer, nullable=True),  # consent by share link: valid while the link is
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("withdrawn_at", sa.BigInteger, nullable=True),
)

announcement_results = sa.Table(
    "pf_announcement_results",
    metadata,
    sa.Column("credential_id", sa.String(36), primary_key=True),
    sa.Column("announcement_id", sa.Integer, sa.ForeignKey("pf_announcements.id"), nullable=False, index=True),
    sa.Column("linked_at", sa.BigInteger, nullable=False),
)
