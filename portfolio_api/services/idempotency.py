"""Idempotency keys of forms: the hidden ``idem`` field a page puts in each form it renders.

A form submitted twice (a double click, a reload after POST, a retried request)
carries the same key; the table's unique index on (scope, key) makes the second
submission find the first row instead of creating another (migration 0003 for
announcements and uploads; 0001 for credentials and batches). An empty key
means "not idempotent" (older clients); anything else must look like a key.
"""

from __future__ import annotations

import re
import uuid

from ledger.errors import MalformedError

_KEY = re.compile(r"\A[A-Za-z0-9_-]{8,64}\Z")


def new_key() -> str:
    """A fresh key for a form being rendered."""
    return uuid.uuid4().hex


def form_key(value: str | None) -> str | None:
    """The submitted key, or None when the form sent none; MalformedError if it is not a key."""
    value = (value or "").strip()
    if not value:
        return None
    if not _KEY.match(value):
        raise MalformedError("the form's idempotency key must be 8 to 64 letters, digits, '-' or '_'")
    return value


__all__ = ["form_key", "new_key"]
