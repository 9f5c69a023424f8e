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

from ledger.errors import EduledgerError
from ledger.model.genesis import Genesis
from ledger.model.registry import Registry
from ledger.model.replay import ReplayError, replay_block
from ledger.storage import LedgerStore
from ledger.tlog import merkle
from ledger.tlog.checkpoint import parse_checkpoint, verify_checkpoint
from ledger.tlog.note import Verifier, verify_note
from ledger.tlog.tree import Tree

# The first discrepancy found; ``where`` says which object.
AuditFailure = ReplayError


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
    registry = Registry(genesis.network, genesis.sequencer, genesis.quorum)
    tree = Tree()
    size = store.size()
    n_blocks = store.block_count()
    prev_hash = genesis.hash()
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}

    for height in range(n_blocks):
        stored = store.block(height)
        end = stored.first_index + stored.count
        replay_block(
            stored,
            store.entries(stored.first_index, end),
            genesis=genesis,
            prev_hash=prev_hash,
            tree=tree,
            registry=registry,
            stored_leaves=store.leaf_hashes(stored.first_index, end),
        )
        roots[tree.size] = tree.root()
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
