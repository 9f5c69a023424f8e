"""The hot hashing loops behind :mod:`ledger.tlog.merkle`, native when possible.

``ledger.tlog._native`` (a small C extension, built during install, see ``setup.py``)
provides the same functions; when it is missing (no compiler), or
EDULEDGER_NO_NATIVE is set, the pure Python versions below are used. Both give
identical bytes and accept and refuse identical inputs, which
tests/tlog/test_native_differential.py checks. ``BACKEND`` names the one in use and
:func:`kernel` the SHA-256 implementation underneath it ("sha-ni", "libcrypto" or
"hashlib").

The pure versions are also the reference the native ones are tested against, so
they are written for obviousness, not speed.
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


def _py_root_of_entries(items: Sequence[bytes]) -> bytes:
    return _py_root(_py_hash_leaves(items))


def _py_hash_pairs(hashes: Sequence[bytes]) -> list[bytes]:
    """One tree level: the node hash of every complete adjacent pair."""
    return [_sha256(b"\x01" + hashes[i] + hashes[i + 1]).digest() for i in range(0, len(hashes) - 1, 2)]


def _py_fold_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    inner = (index ^ (size - 1)).bit_length()
    r = leaf
    for i, p in enumerate(proof):
        r = _sha256(b"\x01" + r + p).digest() if i < inner and not (index >> i) & 1 else _sha256(b"\x01" + p + r).digest()
    return r


def _py_verify_inclusion_batch(items: Sequence[tuple[bytes, int, Sequence[bytes]]], size: int, root: bytes) -> int | None:
    """Position of the first item whose proof is malformed or does not lead to ``root``, or None.

    The reference for the native batch: every item checked on its own (shape first, as
    :func:`ledger.tlog.merkle.verify_inclusion` does, then the fold)."""
    for pos, (leaf, index, proof) in enumerate(items):
        if not (len(leaf) == 32 and 0 <= index < size):
            return pos
        inner = (index ^ (size - 1)).bit_length()
        if len(proof) != inner + bin(index >> inner).count("1") or any(len(p) != 32 for p in proof):
            return pos
        if _py_fold_inclusion(leaf, index, size, proof) != root:
            return pos
    return None


_PURE = {
    "hash_leaves": _py_hash_leaves,
    "root": _py_root,
    "root_of_entries": _py_root_of_entries,
    "hash_pairs": _py_hash_pairs,
    "fold_inclusion": _py_fold_inclusion,
    "verify_inclusion_fast": None,
    "verify_inclusion_batch_fast": None,
}
_BACKENDS: dict[str, dict] = {"python": _PURE}
if not os.environ.get("EDULEDGER_NO_NATIVE"):
    try:  # pragma: no cover - depends on the build
        from ledger.tlog import _native  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        _BACKENDS["native"] = {
            "hash_leaves": _native.hash_leaves,
            "root": _native.root,
            "root_of_entries": _native.root_of_entries,
            "hash_pairs": _native.hash_pairs,
            "fold_inclusion": _native.fold_inclusion,
            "verify_inclusion_fast": _native.verify_inclusion,
            "verify_inclusion_batch_fast": _native.verify_inclusion_batch,
        }


def select(name: str) -> str:
    """Switch every function above to backend ``name`` ("native" or "python"); returns the previous.

    The fastest available is selected at import; tests and benchmarks switch to compare."""
    global BACKEND
    if name not in _BACKENDS:
        raise ValueError(f"hashing backend {name!r} is not available here (have: {', '.join(sorted(_BACKENDS))})")
    previous = BACKEND
    globals().update(_BACKENDS[name])
    BACKEND = name
    return previous


def kernel() -> str:
    """The SHA-256 implementation under the backend in use."""
    return _native.kernel() if BACKEND == "native" else "hashlib"


hash_leaves = _py_hash_leaves
root = _py_root
root_of_entries = _py_root_of_entries
hash_pairs = _py_hash_pairs
fold_inclusion = _py_fold_inclusion
verify_inclusion_fast = None
verify_inclusion_batch_fast = None
BACKEND = "python"
select("native" if "native" in _BACKENDS else "python")
