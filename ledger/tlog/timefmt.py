"""Times on the ledger: RFC 3339 UTC strings with second precision (``2026-11-22T18:00:00Z``).

Internally times are integer Unix seconds; the string form is the only one that
appears in entries, headers and credentials, so there is exactly one spelling of
each instant and canonical bytes stay canonical.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from ledger.errors import MalformedError

_RFC3339_Z = re.compile(r"\A(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z\Z", re.ASCII)  # ASCII digits only: one spelling per instant


def format_time(unix: int) -> str:
    """Unix seconds -> ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, field: str = "time") -> int:
    """``YYYY-MM-DDTHH:MM:SSZ`` -> Unix seconds; anything else is MalformedError."""
    if isinstance(value, str):
        try:
            return _parse_cached(value)
        except MalformedError:
            pass
    return _parse(value, field)


@lru_cache(maxsize=4096)
def _parse_cached(value: str) -> int:
    return _parse(value, "time")


def _parse(value: object, field: str) -> int:
    if not isinstance(value, str) or not (m := _RFC3339_Z.match(value)):
        raise MalformedError(f"{field} must be an RFC 3339 UTC time like 2026-01-31T12:00:00Z, got {value!r}")
    try:
        dt = datetime(*(int(g) for g in m.groups()), tzinfo=UTC)
    except ValueError as e:
        raise MalformedError(f"{field} is not a real date: {value!r} ({e})") from None
    return int(dt.timestamp())
