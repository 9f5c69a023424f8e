"""Alembic migrations of the ledger schema, run from code by ``ledger.storage.sql``.

A package (not just a folder) so that setuptools installs it with the code:
``env.py``, ``script.py.mako`` and ``versions/*.py`` must exist in an installed
copy, because every ``open_store`` upgrades the database to head.
"""
