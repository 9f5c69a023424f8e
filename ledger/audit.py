"""Re-derive the whole ledger from storage and stop at the first discrepancy.

Trusts nothing the database says about derived values: every leaf hash is
recomputed from the entry bytes, every block header re-parsed and re-hashed and
its chain link, entries root, tree size and tree root recomputed; every entry's
institution signature and ledger rule re-checked by replaying the registry; every
stored checkpoint's log signature verified and its root compared with the
recomputed tree; final checkpoints re-checked for quorum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ledger import merkle
from ledger.blocks import parse_header
from ledger.checkpoint import parse_checkpoint, verify_checkpoint
from ledger.entries import Entry, parse_entry, verify_batch_signature
from ledger.errors import EduledgerError
from ledger.genesis import Genesis
from ledger.note import Verifier, verify_note
from ledger.registry import Registry
from ledger.storage import LedgerStore
from ledger.tree import Tree


class AuditFailure(Exception):
    """The first discrepancy found; ``where`` says which object."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(frozen=True)
class AuditResult:
    entries: int
    blocks: int
    checkpoints: int
    final_size: int | None
    root: bytes


def audit(store: LedgerStore, genesis: Genesis, *, progress: Callable[[int, int], None] | None = None) -> AuditResult:
    """Raise AuditFailure at the first discrepancy; return a summary when all is consistent."""
    log_verifier = Verifier.from_vkey(genesis.log_vkey)
    witnesses = [Verifier.from_vkey(f.witness_vkey) for f in genesis.founders]
    registry = Registry(genesis.network, genesis.sequencer)
    tree = Tree()
    size = store.size()
    n_blocks = store.block_count()
    prev_hash = genesis.hash()
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}

    for height in range(n_blocks):
        where = f"block {height}"
        stored = store.block(height)
        try:
            header = parse_header(stored.header)
        except EduledgerError as e:
            raise AuditFailure(where, f"header does not parse: {e}") from None
        if header.hash() != stored.hash:
            raise AuditFailure(where, "stored block hash is not the hash of its header")
        if header.height != height or stored.height != height:
            raise AuditFailure(where, f"header says height {header.height}")
        if header.prev != prev_hash:
            raise AuditFailure(where, "does not link to the previous block (prev hash mismatch)")
        if header.network != genesis.network:
            raise AuditFailure(where, f"belongs to network {header.network!r}")
        if header.first_index != tree.size or stored.first_index != tree.size or stored.count != header.count:
            raise AuditFailure(where, f"starts at index {header.first_index}, expected {tree.size}")
        datas = store.entries(header.first_index, header.tree_size)
        stored_leaves = store.leaf_hashes(header.first_index, header.tree_size)
        if len(datas) != header.count or len(stored_leaves) != header.count:
            raise AuditFailure(where, f"has {len(datas)} entries in storage, header says {header.count}")
        leaves = merkle.hash_leaves(datas)
        entries: list[Entry] = []
        for offset, (data, leaf, stored_leaf) in enumerate(zip(datas, leaves, stored_leaves)):
            index = header.first_index + offset
            if leaf != stored_leaf:
                raise AuditFailure(f"entry {index}", "stored leaf hash is not the hash of the stored entry bytes")
            try:
                entries.append(parse_entry(data, allow_genesis=height == 0))
            except EduledgerError as e:
                raise AuditFailure(f"entry {index}", f"does not parse: {e}") from None
        if height == 0 and [e.to_bytes() for e in entries] != [e.to_bytes() for e in genesis.entries()]:
            raise AuditFailure(where, "genesis block does not hold the genesis file's registrations")
        groups: dict[tuple[bytes, bytes], list[Entry]] = {}
        for e in entries:
            if e.auth is not None:
                groups.setdefault((e.auth.key, e.auth.signature), []).append(e)
        for group in groups.values():
            try:
                verify_batch_signature(group)
            except EduledgerError as e:
                raise AuditFailure(where, f"institution signature does not verify: {e}") from None
        for offset, e in enumerate(entries):
            index = header.first_index + offset
            try:
                if height == 0:
                    registry.apply_genesis(e, index, genesis.created)
                else:
                    registry.check(e, header.time)
                    registry.apply(e, index, header.time)
            except EduledgerError as err:
                raise AuditFailure(f"entry {index}", f"breaks a ledger rule: {err}") from None
        if merkle.root(leaves) != header.entries_root:
            raise AuditFailure(where, "entries root does not match its entries")
        tree.extend(leaves)
        if tree.size != header.tree_size or tree.root() != header.tree_root:
            raise AuditFailure(where, "tree root after the block does not match the recomputed tree")
        roots[tree.size] = header.tree_root
        prev_hash = stored.hash
        if progress:
            progress(tree.size, size)

    if tree.size != size:
        raise AuditFailure("entries", f"storage holds {size} entries but blocks account for {tree.size}")

    checkpoints = 0
    latest = store.latest_checkpoint()
    sizes = sorted(s for s in roots if s > 0)
    for s in sizes:
        note = store.checkpoint(s)
        if note is None:
            continue
        checkpoints += 1
        try:
            cp = parse_checkpoint(verify_note(note, [log_verifier]).text)
        except EduledgerError as e:
            raise AuditFailure(f"checkpoint {s}", f"log signature does not verify: {e}") from None
        if cp.size != s or cp.root != tree.root(s) or cp.origin != genesis.network:
            raise AuditFailure(f"checkpoint {s}", "does not match the recomputed tree")
    if latest is not None and latest[0] > tree.size:
        raise AuditFailure(f"checkpoint {latest[0]}", f"is beyond the {tree.size} stored entries")
    final = store.latest_final()
    if final is not None:
        try:
            v = verify_checkpoint(final[1], log=log_verifier, witnesses=witnesses, quorum=genesis.quorum, origin=genesis.network)
        except EduledgerError as e:
            raise AuditFailure(f"final checkpoint {final[0]}", str(e)) from None
        if v.checkpoint.size != final[0] or v.checkpoint.size > tree.size or v.checkpoint.root != tree.root(v.checkpoint.size):
            raise AuditFailure(f"final checkpoint {final[0]}", "does not match the recomputed tree")
    return AuditResult(tree.size, n_blocks, checkpoints, final[0] if final else None, tree.root())
