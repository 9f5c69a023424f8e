"""RFC 9162 Merkle tree hashing, proofs and proof verification.

Hash: SHA-256 with domain separation (RFC 9162 §2.1.1):
``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``,
and the root of the empty tree is ``SHA-256("")``.

Proof generation is written once, against a ``subtree(lo, hi) -> bytes`` callable
that returns MTH(D[lo:hi]). The functions here pass one computed from a list of
leaf hashes; :class:`ledger.tlog.tree.Tree` passes one backed by cached perfect
subtrees, so the ledger gets the same proofs in O(log² n).

Policy for ``old_size == 0`` (RFC 9162 leaves it undefined; C2SP tlog-witness
accepts it): the empty tree is a prefix of every tree, so
``verify_consistency(0, n, old_root, new_root, proof)`` succeeds iff ``proof`` is
empty, ``old_root`` is the empty-tree root and ``new_root`` is a 32-byte hash.
Any other ``old_size == 0`` input is rejected.

Every verification precondition is checked first and reported as got/want
(:class:`~ledger.errors.MalformedError`); a proof that is well formed but folds to
another root raises :class:`~ledger.errors.RootMismatchError` carrying both roots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ledger.errors import MalformedError, RootMismatchError
from ledger.tlog import _hashing

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "all_inclusion_proofs",
    "consistency_proof",
    "consistency_proof_from",
    "hash_leaves",
    "inclusion_proof",
    "inclusion_proof_from",
    "leaf_hash",
    "node_hash",
    "root",
    "root_of_entries",
    "verify_inclusion_batch",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def hash_leaves(items: Sequence[bytes]) -> list[bytes]:
    """Leaf hashes of every item, in order (native core when available)."""
    return _hashing.hash_leaves(items)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over already-hashed leaves; the empty tree hashes to SHA-256("")."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _hashing.root(leaf_hashes)


def root_of_entries(items: Sequence[bytes], *, workers: int = 1) -> bytes:
    """MTH over raw entries, leaf hashing included, without building the list of leaf hashes.

    With ``workers`` > 1 the range is cut at RFC 9162 split points into up to ``workers``
    perfect-subtree-aligned parts hashed in threads (the native core releases the GIL, so
    the threads run on separate cores), and the part roots are combined."""
    n = len(items)
    if n == 0:
        return EMPTY_ROOT
    if workers <= 1 or n < 8192:
        return _hashing.root_of_entries(items)
    from concurrent.futures import ThreadPoolExecutor

    parts = _split_points(0, n, workers)
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        roots = list(pool.map(lambda r: _hashing.root_of_entries(items[r[0] : r[1]]), parts))
    return _combine(parts, roots, 0, n)


def _split_points(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    """Cut [lo, hi) at RFC 9162 split points into at most ``parts`` ranges, each a subtree."""
    if parts <= 1 or hi - lo < 2:
        return [(lo, hi)]
    k = _largest_power_of_two_below(hi - lo)
    left = parts // 2
    return _split_points(lo, lo + k, left) + _split_points(lo + k, hi, parts - left)


def _combine(parts: list[tuple[int, int]], roots: list[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) from the roots of ``parts``, which tile [lo, hi) along RFC 9162 splits."""
    for (a, b), r in zip(parts, roots):
        if (a, b) == (lo, hi):
            return r
    k = _largest_power_of_two_below(hi - lo)
    return node_hash(_combine(parts, roots, lo, lo + k), _combine(parts, roots, lo + k, hi))


def _largest_power_of_two_below(n: int) -> int:
    """k such that k < n <= 2k (n > 1), RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof_from(subtree: Callable[[int, int], bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) (RFC 9162 §2.1.3.1), leaf-to-root order."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} out of range for tree size {size}")
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    # Walk down from the root; each step records the sibling subtree, so the
    # path is produced root-first and reversed at the end.
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if m < k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def all_inclusion_proofs(subtree: Callable[[int, int], bytes], size: int) -> list[tuple[bytes, ...]]:
    """PATH(m, D[size]) for every m in [0, size), leaf-to-root, in one pass.

    The same proofs as :func:`inclusion_proof_from` for each index (a property test
    checks it), but every subtree is asked for once, not once per leaf under it:
    2(n - 1) subtree lookups for a batch of n entries instead of about n log n."""
    if size < 1:
        raise ValueError(f"no proofs in a tree of size {size}")

    def paths(lo: int, hi: int) -> list[tuple[bytes, ...]]:
        if hi - lo == 1:
            return [()]
        k = _largest_power_of_two_below(hi - lo)
        right, left = subtree(lo + k, hi), subtree(lo, lo + k)
        return [p + (right,) for p in paths(lo, lo + k)] + [p + (left,) for p in paths(lo + k, hi)]

    return paths(0, size)


def consistency_proof_from(subtree: Callable[[int, int], bytes], old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1). Empty when the sizes are equal or old_size is 0."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"cannot prove {old_size} -> {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    path: list[bytes] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if m <= k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        path.append(subtree(lo, hi))
    path.reverse()
    return path


def _list_subtree(leaf_hashes: Sequence[bytes]) -> Callable[[int, int], bytes]:
    def subtree(lo: int, hi: int) -> bytes:
        return _hashing.root(leaf_hashes[lo:hi])

    return subtree


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Inclusion proof of leaf ``index`` in the tree of ``len(leaf_hashes)`` leaves."""
    return inclusion_proof_from(_list_subtree(leaf_hashes), index, len(leaf_hashes))


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Consistency proof from the first ``old_size`` leaves to all of ``leaf_hashes``."""
    return consistency_proof_from(_list_subtree(leaf_hashes), old_size, len(leaf_hashes))


# --- verification -----------------------------------------------------------------


def _check_hash(name: str, value: object) -> None:
    if not isinstance(value, (bytes, bytearray)):
        raise MalformedError(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise MalformedError(f"{name} has {len(value)} bytes, want {HASH_SIZE}")


def _check_size(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value < 1 << 64:
        raise MalformedError(f"{name} {value} is outside 0..2^64-1")


def _check_proof(proof: object, want: int) -> None:
    if not isinstance(proof, (list, tuple)):
        raise MalformedError(f"proof must be a list of hashes, got {type(proof).__name__}")
    if len(proof) != want:
        raise MalformedError(f"proof has {len(proof)} hashes, want {want}")
    for i, h in enumerate(proof):
        _check_hash(f"proof[{i}]", h)


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """(inner, border): proof hashes below and on the right border of the tree."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _fold_inclusion(index: int, size: int, seed: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 steps 3-5, for a proof whose length is already checked."""
    return _hashing.fold_inclusion(seed, index, size, list(proof))


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Verify that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2. Raises :class:`MalformedError` on a broken precondition
    (index >= size, wrong proof length, hashes not 32 bytes) and
    :class:`RootMismatchError` when the proof folds to another root.
    """
    fast = _hashing.verify_inclusion_fast
    if fast is not None and type(index) is int and type(size) is int and type(leaf_hash) is bytes and type(root) is bytes and type(proof) in (list, tuple):
        try:
            calculated = fast(leaf_hash, index, size, proof, root)
        except (ValueError, TypeError, OverflowError):
            pass  # a broken precondition: the checks below say precisely which
        else:
            if calculated is None:
                return
            raise RootMismatchError("inclusion proof does not lead to the root", expected=root, calculated=calculated)
    _check_size("index", index)
    _check_size("size", size)
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root", root)
    if index >= size:
        raise MalformedError(f"index {index} is beyond tree size {size}")
    inner, border = _inclusion_shape(index, size)
    _check_proof(proof, inner + border)
    calculated = _fold_inclusion(index, size, bytes(leaf_hash), [bytes(h) for h in proof])
    if calculated != root:
        raise RootMismatchError("inclusion proof does not lead to the root", expected=bytes(root), calculated=calculated)


def verify_inclusion_batch(items: Sequence[tuple[bytes, int, Sequence[bytes]]], size: int, root: bytes) -> None:
    """Verify many ``(leaf_hash, index, proof)`` claims against one tree ``(size, root)``.

    Accepts exactly what calling :func:`verify_inclusion` on each item accepts, and on the
    first item (in the given order) that it would refuse raises that same error, with a note
    naming the item's position. The native core folds the items in index order and stops
    each fold where it meets the path of the previous accepted item with the same hash and
    the same siblings above: from there the fold is the same, so nodes shared by several
    proofs (all of the top of the tree, for a cohort) are hashed once.
    """
    _check_size("size", size)
    _check_hash("root", root)
    if type(items) not in (list, tuple):
        items = list(items)
    fast = _hashing.verify_inclusion_batch_fast
    bad: int | None
    if fast is not None and type(size) is int and type(root) is bytes:
        try:
            bad = fast(items, size, root)
        except TypeError:
            bad = _first_refused(items, size, root)
    else:
        bad = _first_refused(items, size, root)
    if bad is not None and not _refuses(items[bad], size, root):
        bad = _first_refused(items, size, root)  # pragma: no cover - the native batch disagreed: trust the single check
    if bad is not None:
        _refuses(items[bad], size, root, note=f"batch item {bad}", raise_=True)


def _refuses(item: tuple[bytes, int, Sequence[bytes]], size: int, root: bytes, *, note: str = "", raise_: bool = False) -> bool:
    leaf, index, proof = item
    try:
        verify_inclusion(leaf, index, size, proof, root)
    except (MalformedError, RootMismatchError) as e:
        if raise_:
            e.add_note(note)
            raise
        return True
    return False


def _first_refused(items: Sequence[tuple[bytes, int, Sequence[bytes]]], size: int, root: bytes) -> int | None:
    for pos, item in enumerate(items):
        if not (isinstance(item, (tuple, list)) and len(item) == 3):
            raise TypeError(f"batch item {pos} is not a (leaf_hash, index, proof) triple")
        if _refuses(item, size, root):
            return pos
    return None


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Verify that the tree (new_size, new_root) extends (old_size, old_root).

    RFC 9162 §2.1.4.2; see the module docstring for ``old_size == 0``.
    """
    _check_size("old size", old_size)
    _check_size("new size", new_size)
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    if old_size > new_size:
        raise MalformedError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == 0:
        _check_proof(proof, 0)
        if old_root != EMPTY_ROOT:
            raise RootMismatchError("a tree of size 0 must have the empty root", expected=EMPTY_ROOT, calculated=bytes(old_root))
        if new_size == 0 and new_root != EMPTY_ROOT:
            raise RootMismatchError("a tree of size 0 must have the empty root", expected=EMPTY_ROOT, calculated=bytes(new_root))
        return
    if old_size == new_size:
        _check_proof(proof, 0)
        if old_root != new_root:
            raise RootMismatchError("trees of equal size have different roots", expected=bytes(old_root), calculated=bytes(new_root))
        return

    # The old tree's last leaf, as a leaf of the new tree: its inclusion path
    # minus the levels where the old tree is already a complete subtree.
    shift = (old_size & -old_size).bit_length() - 1  # trailing zeros
    inner, border = _inclusion_shape(old_size - 1, new_size)
    inner -= shift
    # A complete old tree is itself a node of the new tree, so its root seeds the
    # fold; otherwise the proof's first hash does.
    start = 0 if old_size == 1 << shift else 1
    _check_proof(proof, start + inner + border)
    seed = bytes(proof[0]) if start else bytes(old_root)
    rest = proof[start:]
    mask = (old_size - 1) >> shift

    # Old root: hash the seed with the left siblings only.
    r = seed
    for i, h in enumerate(rest[:inner]):
        if (mask >> i) & 1:
            r = node_hash(h, r)
    for h in rest[inner:]:
        r = node_hash(h, r)
    if r != old_root:
        raise RootMismatchError("consistency proof does not lead to the old root", expected=bytes(old_root), calculated=r)

    # New root: the seed with every sibling, exactly as an inclusion proof.
    r = seed
    for i, h in enumerate(rest[:inner]):
        r = node_hash(h, r) if (mask >> i) & 1 else node_hash(r, h)
    for h in rest[inner:]:
        r = node_hash(h, r)
    if r != new_root:
        raise RootMismatchError("consistency proof does not lead to the new root", expected=bytes(new_root), calculated=r)
