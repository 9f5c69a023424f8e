"""The hot hashing loops behind :mod:`ledger.merkle`, native when possible.

``ledger._native`` (a small C extension over OpenSSL's libcrypto, built during
install) provides the same functions; when it is missing (no compiler), or
EDULEDGER_NO_NATIVE is set, the pure Python versions below are used. Both give
identical bytes, which the differential tests check. ``BACKEND`` names the one in use.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

_sha256 = hashlib.sha256


def _py_hash_leaves(items: Sequence[bytes]) -> list[bytes]:
    return [_sha256(b"\x00" + d).digest() for d in items]


def _py_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 MTH over a non-empty list: pair adjacent nodes level by level and
    carry an odd last node up unchanged, which equals the recursive definition."""
    level = list(leaf_hashes)
    while len(level) > 1:
        nxt = [_sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _py_fold_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    inner = (index ^ (size - 1)).bit_length()
    r = leaf
    for i, p in enumerate(proof):
        r = _sha256(b"\x01" + r + p).digest() if i < inner and not (index >> i) & 1 else _sha256(b"\x01" + p + r).digest()
    return r


hash_leaves = _py_hash_leaves
root = _py_root
fold_inclusion = _py_fold_inclusion
verify_inclusion_fast = None
BACKEND = "python"
if not os.environ.get("EDULEDGER_NO_NATIVE"):
    try:  # pragma: no cover - depends on the build
        from ledger import _native  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        hash_leaves = _native.hash_leaves
        root = _native.root
        fold_inclusion = _native.fold_inclusion
        verify_inclusion_fast = _native.verify_inclusion
        BACKEND = "native"
