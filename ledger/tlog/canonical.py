"""RFC 8785 (JCS) canonical JSON: the one place canonical bytes are produced.

Digests and signatures over JSON objects are always taken over these bytes, so
two parties that agree on the object agree on the digest whatever whitespace or
key order their serialisers use.

Fast path: for values made only of strings, safe-range integers, booleans,
null, lists and objects whose keys have no characters beyond U+FFFF, RFC 8785
output is byte-for-byte what ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` produces (same escapes, and code-point order equals UTF-16
order for such keys), at a fifth of the cost. Anything else (floats, astral
keys) goes through the ``rfc8785`` reference implementation. A property test
checks the two agree.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

from ledger.errors import MalformedError

__all__ = ["canonical_bytes", "canonical_digest"]

_SAFE = (1 << 53) - 1
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _simple(v: Any) -> bool:
    t = type(v)
    if t is str or v is None or t is bool:
        return True
    if t is int:
        return -_SAFE <= v <= _SAFE
    if t is dict:
        for k, x in v.items():
            if type(k) is not str or (not k.isascii() and max(k) > "\uffff") or not _simple(x):
                return False
        return True
    if t is list:
        return all(_simple(x) for x in v)
    return False


def canonical_bytes(value: Any, *, validated: bool = False) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value.

    ``validated=True`` is a promise by a parser that has already checked every
    value is a string, a safe-range integer, a list or an object with ASCII keys
    (ledger entries and headers); it skips the domain walk.
    Raises MalformedError for values JSON cannot carry exactly (NaN, integers
    beyond ±(2^53−1), non-string keys, lone surrogates).
    """
    try:
        if validated or _simple(value):
            return _encode(value).encode("utf-8")
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeEncodeError) as e:
        raise MalformedError(f"value cannot be canonicalised (RFC 8785): {e}") from None


def canonical_digest(value: Any, *, validated: bool = False) -> bytes:
    """SHA-256 of the canonical bytes (``validated`` as for :func:`canonical_bytes`)."""
    return hashlib.sha256(canonical_bytes(value, validated=validated)).digest()
