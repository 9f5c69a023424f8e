"""The portfolio database: an Engine on the node's database URL and its own Alembic history.

The portfolio shares the ledger's database (``settings.effective_database_url``)
but never touches the ledger's tables; its migrations keep their own version
table (``portfolio_alembic_version``) so the two histories are independent.
When the ledger runs on ``memory://`` (tests), the portfolio uses SQLite in the
data directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from portfolio_api.db import tables

__all__ = ["tables", "create_engine", "migrate", "portfolio_url", "VERSION_TABLE"]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "portfolio_alembic_version"
_LOCK_KEY = 0x706F7274666F  # "portfo": PostgreSQL advisory lock serialising migrations


def portfolio_url(database_url: str, data_dir: Path) -> str:
    if database_url.startswith("memory:"):
        return f"sqlite:///{(data_dir / 'portfolio.db').resolve()}"
    return database_url


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        # Deleted rows and freed pages are overwritten with zeros, so erased personal data does not
        # linger in the file's free space (services/erasure.py; the WAL is truncated after an erasure).
        cur.execute("PRAGMA secure_delete = ON")
    finally:
        cur.close()


def _on_sqlite_begin(conn: sa.Connection) -> None:
    # IMMEDIATE: a transaction that reads then writes must not fail with
    # SQLITE_BUSY on lock upgrade while the ledger writes to the same file.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str) -> sa.Engine:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql" and "+" not in parsed.drivername:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        sa.event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: sa.Engine) -> None:
    """Upgrade the portfolio tables to the newest revision (a no-op when current)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
        command.upgrade(alembic_config(conn), "head")
