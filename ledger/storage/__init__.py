"""Storage of a ledger node: the :class:`LedgerStore` protocol and ``open_store``.

``open_store(url)`` picks the backend from the URL:

* ``memory://`` — :class:`~ledger.storage.memory.MemoryStore`, a fresh empty
  store each time (tests; enforces append-only and injects faults);
* ``sqlite:///path/ledger.db`` and ``postgresql+psycopg://user@host/db``
  (``postgresql://`` means psycopg too) —
  :class:`~ledger.storage.sql.SqlStore`, which upgrades the schema to the
  newest migration before returning.

The durability contract is written on :class:`LedgerStore`.
"""

from __future__ import annotations

from ledger.storage.base import (
    LEDGER_TABLES,
    MUTABLE_TABLES,
    CompareAndSwapError,
    LedgerStore,
    StoredBlock,
)

__all__ = [
    "LEDGER_TABLES",
    "MUTABLE_TABLES",
    "CompareAndSwapError",
    "LedgerStore",
    "StoredBlock",
    "open_store",
]

MEMORY_URL = "memory://"


def open_store(url: str) -> LedgerStore:
    """Open (creating or migrating as needed) the store at ``url``.

    Raises MalformedError for an unsupported URL and StorageError when the
    database cannot be reached or migrated.
    """
    if url == MEMORY_URL:
        from ledger.storage.memory import MemoryStore

        return MemoryStore()
    from ledger.storage.sql import SqlStore  # SQLAlchemy and Alembic load only when needed

    return SqlStore(url)
