"""RFC 8785 (JCS) canonical JSON: the one place canonical bytes are produced.

Digests and signatures over JSON objects are always taken over these bytes, so
two parties that agree on the object agree on the digest whatever whitespace or
key order their serialisers use.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

from ledger.errors import MalformedError

__all__ = ["canonical_bytes", "canonical_digest"]


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value.

    Raises MalformedError for values JSON cannot carry exactly (NaN, integers
    beyond ±2^53, non-string keys).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as e:
        raise MalformedError(f"value cannot be canonicalised (RFC 8785): {e}") from None


def canonical_digest(value: Any) -> bytes:
    """SHA-256 of the canonical bytes."""
    return hashlib.sha256(canonical_bytes(value)).digest()
