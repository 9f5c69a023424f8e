"""Re-derive the whole ledger from storage and stop at the first discrepancy.

Trusts nothing the database says about derived values: every leaf hash is
recomputed from the entry bytes, every block header re-parsed and re-hashed and
its chain link, entries root, tree size and tree root recomputed; every entry's
institution signature and ledger rule re-checked by replaying the registry; every
stored checkpoint's log signature verified and its root compared with the
recomputed tree; the final checkpoint re-checked for quorum with the rule of the
network as governance made it (``Registry.finality_witnesses`` and the quorum in
force, from the replay): at the final checkpoint's size, else after the last entry
(a rule changed later, before the next final checkpoint). The sequencer's own
witness never counts, as for every verifier.

And it compares the log with what the same database says it reached
(``ledger.node.rollback``): a log that re-derives perfectly but is shorter
than a witness state, a stored checkpoint or cosignature, or the final
checkpoint was rolled back (truncated, or restored from an older backup), and
fails the audit with RollbackError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ledger.errors import EduledgerError
from ledger.model.genesis import Genesis
from ledger.model.registry import Registry
from ledger.model.replay import ReplayError, replay_block
from ledger.node.rollback import WitnessStates, check, read_claims
from ledger.storage import LedgerStore
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
    #: Witness states ahead of a replica's log (lag its follower closes, not a discrepancy).
    notes: tuple[str, ...] = ()


def audit(
    store: LedgerStore,
    genesis: Genesis,
    *,
    progress: Callable[[int, int], None] | None = None,
    holds_log_key: bool = True,
    witness_store: WitnessStates | None = None,
) -> AuditResult:
    """Raise AuditFailure at the first discrepancy; return a summary when all is consistent.

    ``holds_log_key``: the audited node holds the log key, so its witnesses' states
    must not be ahead of its log (``ledger.node.rollback``); False for a replica.
    ``witness_store``: the witness directory's state (None: the states kept in ``store``)."""
    log_verifier = Verifier.from_vkey(genesis.log_vkey)
    registry = Registry(genesis.network, genesis.sequencer, genesis.quorum)
    # What the database says the log reached, read before the log: sizes only grow, so a
    # node appending meanwhile cannot make a consistent database look rolled back.
    claims = read_claims(store, genesis.network, holds_log_key=holds_log_key, witness_store=witness_store)
    final = store.latest_final()
    stored_checkpoints = store.checkpoint_sizes()
    tree = Tree()
    size = store.size()
    n_blocks = store.block_count()
    prev_hash = genesis.hash()
    # The finality rule (witnesses besides the sequencer's, quorum) in force at the final size.
    rule_at_final: tuple[list[Verifier], int] | None = None

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
        prev_hash = stored.hash
        if final is not None and tree.size == final[0]:
            rule_at_final = _finality_rule(registry)
        if progress:
            progress(tree.size, size)

    if tree.size != size:
        raise AuditFailure("entries", f"storage holds {size} entries but blocks account for {tree.size}")

    # A rollback: RollbackError (an AuditFailure) naming every claim beyond or against the log.
    checked = check(tree.size, tree.root, claims, log_verifier=log_verifier, origin=genesis.network)

    checkpoints = 0
    for s in stored_checkpoints:  # every one, at a block end or not; none is beyond the log (checked)
        note = store.checkpoint(s)
        if note is None:
            continue
        checkpoints += 1
        try:
            cp = parse_checkpoint(verify_note(note, [log_verifier]).text)
        except EduledgerError as e:
            raise AuditFailure(f"checkpoint {s}", f"log signature does not verify: {e}") from None
        if s > tree.size or cp.size != s or cp.root != tree.root(s) or cp.origin != genesis.network:
            raise AuditFailure(f"checkpoint {s}", "does not match the recomputed tree")
    if final is not None:
        rules = [r for r in (rule_at_final, _finality_rule(registry)) if r is not None]
        problems = []
        for witnesses, quorum in rules:
            try:
                v = verify_checkpoint(final[1], log=log_verifier, witnesses=witnesses, quorum=quorum, origin=genesis.network)
                break
            except EduledgerError as e:
                problems.append(str(e))
        else:
            raise AuditFailure(f"final checkpoint {final[0]}", "; ".join(dict.fromkeys(problems)))
        if v.checkpoint.size != final[0] or v.checkpoint.size > tree.size or v.checkpoint.root != tree.root(v.checkpoint.size):
            raise AuditFailure(f"final checkpoint {final[0]}", "does not match the recomputed tree")
    return AuditResult(tree.size, n_blocks, checkpoints, final[0] if final else None, tree.root(), tuple(checked.notes()))


def _finality_rule(registry: Registry) -> tuple[list[Verifier], int]:
    """The witnesses that make a checkpoint final (members besides the sequencing institution)
    and the quorum in force, as the replayed registry says (governance applied)."""
    return [Verifier.from_vkey(v) for v in registry.finality_witnesses().values()], registry.governance.quorum
