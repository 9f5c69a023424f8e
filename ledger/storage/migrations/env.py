"""Alembic environment: run the migrations on the connection ``ledger.storage.sql`` hands over.

There is no alembic.ini and no URL here: ``sql.migrate`` builds the Config in
code, opens the transaction (and on PostgreSQL takes an advisory lock, so two
processes opening one fresh database do not race) and passes the connection in
``config.attributes["connection"]``. Offline (SQL script) mode is not
supported: the triggers are part of the schema and must be created by running
the migrations.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("eduledger migrations run only through ledger.storage.sql.migrate(connection)")

context.configure(connection=connection, target_metadata=None, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
