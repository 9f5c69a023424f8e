"""Re-derive one block from its header and entry bytes: the single definition of "a valid block".

Used by the audit (over the local database) and by replicas (over blocks
fetched from the sequencer), so both apply exactly the same checks: header
canonical and hashing to the stored hash, chained to the previous block,
contiguous, every leaf hash recomputed from the bytes, every entry canonical,
its institution signature valid (one check per batch) and allowed by the
ledger rules at the block's time, the entries root and the global tree root
after the block recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ledger.errors import EduledgerError, VerificationError
from ledger.model.blocks import BlockHeader, parse_header
from ledger.model.entries import Entry, parse_entry, verify_batch_signature
from ledger.model.genesis import Genesis
from ledger.model.registry import Registry
from ledger.tlog import merkle
from ledger.tlog.tree import Tree

if TYPE_CHECKING:  # the stored block is only read: the model imports no storage
    from ledger.storage import StoredBlock


class ReplayError(VerificationError):
    """A block or entry that does not re-derive; ``where`` names it."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def replay_block(
    stored: StoredBlock,
    datas: Sequence[bytes],
    *,
    genesis: Genesis,
    prev_hash: bytes,
    tree: Tree,
    registry: Registry,
    stored_leaves: Sequence[bytes] | None = None,
) -> tuple[BlockHeader, list[bytes], list[Entry]]:
    """Check ``stored`` with its entries against the state before it, and advance ``tree``
    and ``registry`` past it. Raises ReplayError at the first discrepancy (the caller
    must then discard ``tree`` and ``registry``, which may be partly advanced).
    Returns the parsed header, the recomputed leaf hashes and the parsed entries."""
    height = stored.height
    where = f"block {height}"
    try:
        header = parse_header(stored.header)
    except EduledgerError as e:
        raise ReplayError(where, f"header does not parse: {e}") from None
    if header.hash() != stored.hash:
        raise ReplayError(where, "stored block hash is not the hash of its header")
    if header.height != height:
        raise ReplayError(where, f"header says height {header.height}")
    if header.prev != prev_hash:
        raise ReplayError(where, "does not link to the previous block (prev hash mismatch)")
    if header.network != genesis.network:
        raise ReplayError(where, f"belongs to network {header.network!r}")
    if header.first_index != tree.size or stored.first_index != tree.size or stored.count != header.count:
        raise ReplayError(where, f"starts at index {header.first_index}, expected {tree.size}")
    if len(datas) != header.count or (stored_leaves is not None and len(stored_leaves) != header.count):
        raise ReplayError(where, f"has {len(datas)} entries, header says {header.count}")
    leaves = merkle.hash_leaves(list(datas))
    entries: list[Entry] = []
    for offset, data in enumerate(datas):
        index = header.first_index + offset
        if stored_leaves is not None and leaves[offset] != stored_leaves[offset]:
            raise ReplayError(f"entry {index}", "stored leaf hash is not the hash of the stored entry bytes")
        try:
            entries.append(parse_entry(data, allow_genesis=height == 0))
        except EduledgerError as e:
            raise ReplayError(f"entry {index}", f"does not parse: {e}") from None
    if height == 0 and [e.to_bytes() for e in entries] != [e.to_bytes() for e in genesis.entries()]:
        raise ReplayError(where, "genesis block does not hold the genesis file's registrations")
    groups: dict[tuple[bytes, bytes], list[Entry]] = {}
    for e in entries:
        if e.auth is not None:
            groups.setdefault((e.auth.key, e.auth.signature), []).append(e)
    for group in groups.values():
        try:
            verify_batch_signature(group)
        except EduledgerError as err:
            raise ReplayError(where, f"institution signature does not verify: {err}") from None
    for offset, e in enumerate(entries):
        index = header.first_index + offset
        try:
            if height == 0:
                registry.apply_genesis(e, index, genesis.created)
            else:
                registry.apply(e, index, header.time)
        except EduledgerError as err:
            raise ReplayError(f"entry {index}", f"breaks a ledger rule: {err}") from None
    if merkle.root(leaves) != header.entries_root:
        raise ReplayError(where, "entries root does not match its entries")
    tree.extend(leaves)
    if tree.size != header.tree_size or tree.root() != header.tree_root:
        raise ReplayError(where, "tree root after the block does not match the recomputed tree")
    return header, leaves, entries
