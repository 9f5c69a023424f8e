"""Portfolio tables: people, sessions, credentials held, uploads, requests, shares, audit, tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out (generated once from portfolio_api/db/tables.py, then frozen): a
migration describes the database at this revision and must not follow later
edits of the Python module. tests/portfolio/test_portfolio_db.py compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pf_api_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_pf_api_tokens_institution_id'), 'pf_api_tokens', ['institution_id'], unique=False)
    op.create_table('pf_audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target', sa.String(length=100), nullable=False),
    sa.Column('detail', sa.String(length=1000), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_pf_audit_log_institution_id'), 'pf_audit_log', ['institution_id'], unique=False)
    op.create_table('pf_batches',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('report', sa.Text(), server_default='[]', nullable=False),
    sa.Column('idem_key', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('institution_id', 'idem_key', name='uq_pf_batches_idem')
    )
    op.create_index(op.f('ix_pf_batches_institution_id'), 'pf_batches', ['institution_id'], unique=False)
    op.create_table('pf_institutions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('suspended_at', sa.BigInteger(), nullable=True),
    sa.Column('suspended_reason', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('pf_templates',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.String(length=2000), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_pf_templates_institution_id'), 'pf_templates', ['institution_id'], unique=False)
    op.create_table('pf_users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('email_index', sa.String(length=64), nullable=True),
    sa.Column('email_enc', sa.LargeBinary(), nullable=True),
    sa.Column('name_enc', sa.LargeBinary(), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email_index')
    )
    op.create_table('pf_credentials',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('issued_at', sa.BigInteger(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('credential_enc', sa.LargeBinary(), nullable=True),
    sa.Column('bundle_enc', sa.LargeBinary(), nullable=True),
    sa.Column('anchor_index', sa.BigInteger(), nullable=True),
    sa.Column('public', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('idem_key', sa.String(length=64), nullable=False),
    sa.Column('issued_by', sa.Integer(), nullable=True),
    sa.Column('upload_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['holder_id'], ['pf_users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('digest'),
    sa.UniqueConstraint('institution_id', 'idem_key', name='uq_pf_credentials_idem')
    )
    op.create_index(op.f('ix_pf_credentials_holder_id'), 'pf_credentials', ['holder_id'], unique=False)
    op.create_index(op.f('ix_pf_credentials_institution_id'), 'pf_credentials', ['institution_id'], unique=False)
    op.create_table('pf_data_keys',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['pf_users.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('pf_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['pf_users.id'], ),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_index(op.f('ix_pf_sessions_user_id'), 'pf_sessions', ['user_id'], unique=False)
    op.create_table('pf_shares',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_enc', sa.LargeBinary(), nullable=True),
    sa.Column('label', sa.String(length=200), server_default='', nullable=False),
    sa.Column('items', sa.Text(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['pf_users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_pf_shares_owner_id'), 'pf_shares', ['owner_id'], unique=False)
    op.create_table('pf_uploads',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('title_enc', sa.LargeBinary(), nullable=True),
    sa.Column('filename_enc', sa.LargeBinary(), nullable=True),
    sa.Column('content_enc', sa.LargeBinary(), nullable=True),
    sa.Column('mime', sa.String(length=40), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('issuer_id', sa.String(length=64), nullable=True),
    sa.Column('issued_on', sa.String(length=10), nullable=False),
    sa.Column('public', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['pf_users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_pf_uploads_owner_id'), 'pf_uploads', ['owner_id'], unique=False)
    op.create_table('pf_requests',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('upload_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('credential_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('decided_at', sa.BigInteger(), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['upload_id'], ['pf_uploads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('upload_id')
    )
    op.create_index(op.f('ix_pf_requests_institution_id'), 'pf_requests', ['institution_id'], unique=False)
    op.create_index(op.f('ix_pf_requests_owner_id'), 'pf_requests', ['owner_id'], unique=False)
    op.create_table('pf_share_access',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('share_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('viewer', sa.String(length=200), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['share_id'], ['pf_shares.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_pf_share_access_share_id'), 'pf_share_access', ['share_id'], unique=False)


def downgrade() -> None:
    raise NotImplementedError("the portfolio schema is not downgraded")
