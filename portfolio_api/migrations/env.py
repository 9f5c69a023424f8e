"""Alembic environment of the portfolio tables (own version table; see portfolio_api.db)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("portfolio migrations run only through portfolio_api.db.migrate(engine)")

context.configure(connection=connection, target_metadata=None, transactional_ddl=True, version_table="portfolio_alembic_version")
with context.begin_transaction():
    context.run_migrations()
