"""An appendable RFC 9162 tree that answers root and proof queries for any size.

It keeps every *perfect* subtree hash: ``levels[h][i]`` is the root of leaves
``[i·2^h, (i+1)·2^h)``. Those are exactly the nodes of C2SP tlog-tiles (a hash
tile at tile level L holds levels 8L..8L+7), never change once complete, and
are enough to compute MTH(D[lo:hi]) for any range in O(log² n) node hashes;
proofs reuse :func:`ledger.tlog.merkle.inclusion_proof_from` so there is one
definition of PATH and PROOF in the project.

The tree is a cache derived from storage: on start the node rebuilds it from the
stored leaf hashes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ledger.tlog import _hashing, merkle


class Tree:
    """Perfect-subtree cache over a growing list of leaf hashes."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        self.extend(list(leaf_hashes))

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append leaves and complete every perfect subtree they close."""
        for h in leaf_hashes:
            if len(h) != merkle.HASH_SIZE:
                raise ValueError("leaf hashes are 32 bytes")
        self.levels[0].extend(leaf_hashes)
        height = 0
        while len(self.levels[height]) >= 2:
            below = self.levels[height]
            if height + 1 == len(self.levels):
                self.levels.append([])
            above = self.levels[height + 1]
            above.extend(_hashing.hash_pairs(below[2 * len(above) : 2 * (len(below) // 2)]))
            height += 1

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for 0 <= lo < hi <= size."""
        if not 0 <= lo < hi <= self.size:
            raise ValueError(f"range [{lo}, {hi}) outside tree of size {self.size}")
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            return self.levels[n.bit_length() - 1][lo // n]
        k = 1 << ((n - 1).bit_length() - 1)
        return merkle.node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size == 0:
            return merkle.EMPTY_ROOT
        return self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if size > self.size:
            raise ValueError(f"tree has {self.size} leaves, not {size}")
        if size & (size - 1) == 0 and 0 <= index < size:
            # A perfect tree: the path is one sibling per level, all cached.
            return [self.levels[h][(index >> h) ^ 1] for h in range(size.bit_length() - 1)]
        return merkle.inclusion_proof_from(self.subtree, index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self.size if new_size is None else new_size
        if new_size > self.size:
            raise ValueError(f"tree has {self.size} leaves, not {new_size}")
        return merkle.consistency_proof_from(self.subtree, old_size, new_size)

    def level_slice(self, height: int, start: int, end: int) -> list[bytes]:
        """Perfect-subtree hashes of one height (used for hash tiles)."""
        if height >= len(self.levels):
            return []
        return self.levels[height][start:end]
