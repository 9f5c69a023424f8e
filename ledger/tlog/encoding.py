"""Strict decoders for the text encodings used in ledger formats.

Each value has exactly one accepted spelling (padded standard base64, lowercase
hex), so the bytes that are hashed and signed cannot be re-spelled.
"""

from __future__ import annotations

import binascii
import re

from ledger.errors import MalformedError

#: A SHA-256 digest's one accepted spelling: 64 lowercase hex characters.
HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")


def b64e(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def b64d(value: object, field: str, *, size: int | None = None) -> bytes:
    """Decode canonical padded base64; check the decoded length when ``size`` is given."""
    if not isinstance(value, str):
        raise MalformedError(f"{field} must be a base64 string")
    try:
        encoded = value.encode("ascii")
        raw = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"{field} is not valid base64") from None
    if binascii.b2a_base64(raw, newline=False) != encoded:
        raise MalformedError(f"{field} is not canonical base64")
    if size is not None and len(raw) != size:
        raise MalformedError(f"{field} decodes to {len(raw)} bytes, want {size}")
    return raw


def b64d_memo(memo: dict[str, bytes], value: object, field: str, *, size: int) -> bytes:
    """:func:`b64d` through ``memo``: each distinct string is decoded and checked once.

    For inputs that repeat the same hashes many times (the entries of one batch, the
    proofs of one cohort). A hit is only taken at the same decoded size, so a string
    accepted as a 32-byte hash is still refused where 64 bytes are due. The caller
    bounds the memo's size."""
    raw = memo.get(value) if type(value) is str else None  # type: ignore[call-overload]
    if raw is None or len(raw) != size:
        raw = b64d(value, field, size=size)
        memo[value] = raw  # type: ignore[index]
    return raw


def hex32(value: object, field: str) -> bytes:
    """A SHA-256 digest as 64 lowercase hex characters."""
    if not isinstance(value, str) or not HEX64.match(value):
        raise MalformedError(f"{field} must be 64 lowercase hex characters (a SHA-256 digest)")
    return bytes.fromhex(value)
