"""A rollback is a discrepancy: the log must reach every size its own database says it reached.

Deleting the last blocks together with their entries, checkpoints, cosignatures
and final checkpoints (triggers dropped first), or restoring an older backup of
the ledger tables, leaves a log that re-derives perfectly: replaying it, as the
audit does, cannot tell. A sequencer started on it signs new entries at sizes
it has already signed with other roots: a fork. What the database remembers
beyond its log gives the rollback away:

(a) the witness state of every witness key the node holds: the log-signed
    checkpoint it last cosigned (``ledger/network/witness.py``), read from the
    witness directory's own store (``ledger/node/witnessdir.py``), so a restore
    of the log's database alone does not roll it back with the log;
(b) the largest size that a stored checkpoint or a stored cosignature is for;
(c) the latest final checkpoint.

Any of them larger than the log, or a stored log-signed checkpoint (a witness
state, the latest checkpoint, the latest final one) whose root is not the log's
root at its size, is a :class:`RollbackError` naming what was found, with the
way out: ``eduledger ledger recover --from URL`` (:func:`recover`).

One exception, (a) on a node that does not hold the log key: the sequencer
pushes each checkpoint to every witness before replicas have mirrored it, so a
replica's witness is routinely ahead of its log. That is lag, which its
follower closes, not a rollback; it is reported (:attr:`Checked.behind`), not
refused. A log-key holder's own witnesses cosign only checkpoints it signed,
and it signs only committed sizes, so there a witness ahead of the log means
the log lost entries. (A log-key holder that follows another sequencer after a
handover is treated the same way, the safe side: if it stopped between its
witness cosigning and its follower mirroring, it asks for ``recover``.)

Reads: every claim first, the log's size last. Sizes only grow, so a writer
appending meanwhile (the leader, while a standby process of the same
institution checks the shared PostgreSQL database) can only make the log look
longer than when a claim was read, never shorter: no false alarm and no
transaction needed.

:func:`check` is pure (sizes, notes and a root function in, values or
:class:`RollbackError` out); :func:`read_claims` and :func:`check_store` read
the store; :func:`recover` fetches from a peer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ledger.errors import ConflictError, EduledgerError, InconsistencyError, VerificationError
from ledger.model.blocks import parse_header
from ledger.model.genesis import Genesis
from ledger.model.replay import ReplayError
from ledger.storage import LedgerStore
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ledger.tlog.encoding import b64e
from ledger.tlog.note import Verifier, verify_note
from ledger.tlog.tree import Tree

if TYPE_CHECKING:
    from ledger.network.mirror import HttpPeer
    from ledger.node.log import Log

class WitnessStates(Protocol):
    """Where the cross-check reads the witness states (``witness_states()`` of a witness store)."""

    def witness_states(self) -> list[tuple[str, int, bytes]]: ...


#: What the operator is told to do.
HINT = "restore from replicas: eduledger ledger recover --from URL"

#: Entries fetched from a peer per request round while proving a tail (16 entry tiles).
RECOVER_CHUNK = 4096


class RollbackError(ReplayError):
    """The log is shorter than, or different from, what its own database says it reached.

    ``findings`` lists each claim that the log contradicts; the message ends with
    :data:`HINT`."""

    def __init__(self, size: int, findings: Sequence[str], *, lost_tail: bool) -> None:
        self.size = size
        self.findings = tuple(findings)
        what = (
            "this database lost the end of its log (a truncation, or a restore of an older backup)"
            if lost_tail
            else "this database's log is not the one those checkpoints signed"
        )
        super().__init__("rollback", f"the log holds {size} entries, but {'; '.join(self.findings)}: {what}; {HINT}")


class RecoveryError(VerificationError):
    """``recover`` cannot prove the missing tail from this peer (the data is not what it must be,
    or the peer does not have it); nothing unproven was stored."""


@dataclass(frozen=True)
class Claim:
    """Something the database says about the log: it reached ``size``; ``note``, when
    there is one, is the log-signed checkpoint naming the root it had there.

    ``binding``: the log must have reached it. False only for the witness state
    of a node without the log key, which may run ahead of its log (lag).
    ``said`` is what the database says, for a message."""

    what: str
    size: int
    note: bytes | None = None
    binding: bool = True
    said: str = ""

    def __post_init__(self) -> None:
        if not self.said:
            object.__setattr__(self, "said", f"{self.what} is stored")


@dataclass(frozen=True)
class Checked:
    """A passed cross-check: the log's size, the claims it was compared with, and the
    witness states ahead of a replica's log (lag, not a discrepancy)."""

    size: int
    claims: tuple[Claim, ...]
    behind: tuple[Claim, ...]

    def notes(self) -> list[str]:
        """One line per witness state ahead of the log, for an operator."""
        return [
            f"{c.said}, the log holds {self.size} entries: behind, its follower catches up"
            for c in self.behind
        ]


def witness_of(state_key: str, origin: str) -> str | None:
    """The witness name in a witness state's storage key (``Witness.state_key``:
    "<name> <origin>"), or None for a state about another log."""
    suffix = " " + origin
    return state_key[: -len(suffix)] if state_key.endswith(suffix) and len(state_key) > len(suffix) else None


def read_claims(store: LedgerStore, origin: str, *, holds_log_key: bool, witness_store: WitnessStates | None = None) -> list[Claim]:
    """Everything the store says the log reached: (a) witness states, (b) the latest checkpoint
    and the largest cosigned size, (c) the latest final checkpoint.

    ``witness_store``: where the witness states are (the witness directory's store,
    ledger/node/witnessdir.py); None reads them from ``store`` (the old layout, and
    in-process harnesses that keep them there). Read before the log's size (see the
    module docstring)."""
    claims = []
    for key, size, note in (witness_store if witness_store is not None else store).witness_states():
        name = witness_of(key, origin)
        if name is not None:
            claims.append(Claim(f"witness {name}", size, note, binding=holds_log_key, said=f"witness {name} cosigned size {size}"))
    latest = store.latest_checkpoint()
    if latest is not None:
        claims.append(Claim(f"checkpoint {latest[0]}", latest[0], latest[1]))
    cosigned = store.latest_cosigned_size()
    if cosigned is not None:
        claims.append(Claim(f"cosignatures for size {cosigned}", cosigned, said=f"cosignatures for size {cosigned} are stored"))
    final = store.latest_final()
    if final is not None:
        claims.append(Claim(f"final checkpoint {final[0]}", final[0], final[1]))
    return claims


def check(
    size: int, root_at: Callable[[int], bytes], claims: Sequence[Claim], *, log_verifier: Verifier, origin: str
) -> Checked:
    """Compare the log (``size`` entries, ``root_at(s)`` its root at any ``s <= size``) with ``claims``.

    Raises RollbackError listing every claim the log contradicts: a binding size
    beyond the log, a note not signed by the log key or for another log or
    size, a root other than the log's at that size."""
    findings: list[str] = []
    lost_tail = False
    behind: list[Claim] = []
    for claim in claims:
        cp: Checkpoint | None = None
        if claim.note is not None:
            try:
                cp = parse_checkpoint(verify_note(claim.note, [log_verifier]).text)
            except EduledgerError as e:
                findings.append(f"{claim.what} is not a checkpoint signed by the log key ({e})")
                continue
            if cp.origin != origin or cp.size != claim.size:
                findings.append(f"{claim.what} holds a checkpoint of {cp.origin} at size {cp.size}")
                continue
        if claim.size > size:
            if claim.binding:
                findings.append(claim.said)
                lost_tail = True
            else:
                behind.append(claim)
            continue
        if cp is not None and cp.root != root_at(claim.size):
            findings.append(
                f"{claim.what} signs root {b64e(cp.root)} at size {claim.size}, the log's root there is {b64e(root_at(claim.size))}"
            )
    if findings:
        raise RollbackError(size, findings, lost_tail=lost_tail)
    return Checked(size, tuple(claims), tuple(behind))


def check_store(
    store: LedgerStore, genesis: Genesis, *, holds_log_key: bool, tree: Tree | None = None, witness_store: WitnessStates | None = None
) -> Checked:
    """Read the claims, then the log's size, and :func:`check` them (``witness_store``: see :func:`read_claims`).

    ``tree``: the log's verified tree (the audit's, or a running log's); without
    it the roots come from the stored leaf hashes (at start-up, before
    ``Log.open`` re-derives them from the entry bytes)."""
    claims = read_claims(store, genesis.network, holds_log_key=holds_log_key, witness_store=witness_store)
    size = store.size() if tree is None else tree.size
    if tree is None and any(c.note is not None and c.size <= size for c in claims):
        tree = Tree(store.leaf_hashes(0, size))
    return check(
        size,
        tree.root if tree is not None else lambda s: merkle.EMPTY_ROOT,
        claims,
        log_verifier=Verifier.from_vkey(genesis.log_vkey),
        origin=genesis.network,
    )


def holds_log_key(data_dir: Path) -> bool:
    """Whether a node's data directory holds the log key (``ledger.node.datadir``'s layout;
    a file check, no passphrase needed)."""
    return (data_dir / "keys" / "log.key").exists()


# --- recovery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recovered:
    """What :func:`recover` did: the log grew from ``before`` to ``size`` entries by ``blocks``
    blocks, proven against the peer's final checkpoint of ``peer_final`` and the claims of
    ``checked``."""

    before: int
    size: int
    blocks: int
    peer_final: int
    checked: Checked


def load_log(store: LedgerStore, genesis: Genesis, *, clock: Callable[[], float]) -> Log:
    """The stored log, loaded for :func:`recover`: every leaf hash re-derived, no key held, nothing signed.

    Not ``Log.open``: it refuses a stored checkpoint beyond the log, which is one
    of the rollbacks ``recover`` repairs. An empty store gets its genesis block.
    Raises ConflictError for a database of another network, ReplayError for
    entries that do not re-derive."""
    from ledger.node.log import Log  # the node's write path, loaded only when recovering

    # The witnesses that count before any replay, as the node builds them (the sequencer's never counts).
    witnesses = [Verifier.from_vkey(f.witness_vkey) for f in genesis.founders if f.id != genesis.sequencer]
    log = Log(store, genesis, log_signer=None, witness_verifiers=witnesses, clock=clock)
    if store.block_count() == 0:
        log.open()
        return log
    if parse_header(store.block(0).header).prev != genesis.hash():
        raise ConflictError("the database belongs to another network (block 0 does not match this genesis file)")
    log.refresh()
    return log


def recover(log: Log, peer: HttpPeer, *, holds_log_key: bool, witness_store: WitnessStates | None = None) -> Recovered:
    """Mirror the tail this database lost from ``peer``, proving it before storing anything.

    ``log`` comes from :func:`load_log` (no log key needed). Steps:

    1. the claims (:func:`read_claims`): the sizes and roots the log must reach;
    2. the peer's final checkpoint, verified with the quorum in force; it must
       reach every binding claim, else RecoveryError (the peer does not have it);
    3. the tail ``[size, final)`` is fetched and hashed, and the tree it makes on
       top of the local log must have the final checkpoint's root and pass
       :func:`check` against the claims (RollbackError otherwise): this node's
       witnesses' cosigned checkpoints prove the tail, not the peer's word;
    4. only then the blocks are fetched and applied one by one through
       ``Log.apply_remote_block`` (re-derived like any mirrored block), each
       one's entries compared with the proven leaves first;
    5. the final checkpoint is stored, and the cross-check runs again.

    Storage is append-only: a tail stored is stored for good, hence the proof
    before the first write. FetchError: the peer cannot be read.
    """
    store = log.store
    claims = read_claims(store, log.origin, holds_log_key=holds_log_key, witness_store=witness_store)
    before = log.size
    note = peer.checkpoint()
    final = verify_checkpoint(
        note, log=log.log_verifier, witnesses=log.witness_verifiers, quorum=log.quorum, origin=log.origin
    ).checkpoint
    need = max([c for c in claims if c.binding], key=lambda c: c.size, default=None)
    if need is not None and final.size < need.size:
        raise RecoveryError(
            f"{peer.base_url} cannot prove the missing tail: its final checkpoint is at size {final.size}, "
            f"this database says the log reached size {need.size} ({need.what}); recover from a node whose final checkpoint reaches it"
        )

    # 3. Prove the tail before storing any of it: the log as it will be (a copy of the
    # tree, extended by the fetched leaves) must be the tree of the peer's final
    # checkpoint and pass the cross-check against this database's claims.
    proven: list[bytes] = []
    for start in range(before, final.size, RECOVER_CHUNK):
        proven += merkle.hash_leaves(peer.entries(start, min(final.size, start + RECOVER_CHUNK), final.size))
    candidate = log.tree
    if proven:
        candidate = Tree(log.tree.levels[0])
        candidate.extend(proven)
    if candidate.root(final.size) != final.root:
        if not proven:
            raise InconsistencyError(
                f"fork: {peer.base_url}'s final checkpoint of size {final.size} has another root than this log",
                old=(store.checkpoint(final.size) or b"").decode("utf-8", "replace"),
                new=note.decode("utf-8", "replace"),
            )
        raise RecoveryError(f"the entries {peer.base_url} serves do not hash to its final checkpoint of size {final.size}")
    # RollbackError here: the peer's log is not the one this database's checkpoints (its
    # witnesses' first) signed.
    check(candidate.size, candidate.root, claims, log_verifier=log.log_verifier, origin=log.origin)

    # 4. Store the proven tail, block by block, as the mirror does.
    applied = 0
    while log.size < final.size:
        blocks = peer.blocks(store.block_count(), 100)
        if not blocks:
            raise RecoveryError(f"{peer.base_url} has no blocks after height {store.block_count()} but its final checkpoint is at size {final.size}")
        for b in blocks:
            if b.first_index != log.size or b.end_index > final.size:
                raise RecoveryError(f"{peer.base_url}'s block {b.height} covers entries {b.first_index}..{b.end_index}, not the next ones up to {final.size}")
            datas = peer.entries(b.first_index, b.end_index, final.size)
            if merkle.hash_leaves(datas) != proven[b.first_index - before : b.end_index - before]:
                raise RecoveryError(f"{peer.base_url} served other entries for block {b.height} than the ones proven")
            log.apply_remote_block(b, datas)
            applied += 1
            if log.size == final.size:
                break
    if store.checkpoint(final.size) is None:
        store.add_checkpoint(final.size, note)
    latest_final = store.latest_final()
    if latest_final is None or latest_final[0] < final.size:
        store.set_final(final.size, note)

    # 5. The cross-check, on the log as it is now.
    checked = check_store(store, log.genesis, holds_log_key=holds_log_key, tree=log.tree, witness_store=witness_store)
    return Recovered(before, log.size, applied, final.size, checked)


# --- alerts the recovered log answers ----------------------------------------------------------


def clear_resolved_alerts(log: Log) -> list[str]:
    """After a proven recovery: clear the alerts kept in the store's meta whose cause the log
    now answers, and say which (one line each, also logged).

    * a ``sequencer_alert`` of kind "beyond": the log now holds the size the witness cosigned;
    * a ``fork_alert`` whose two notes are both log-signed checkpoints of this log, each with
      the log's own root at its size (the "fork" was this database's lost tail: a checkpoint
      beyond a rolled-back log), so both are views of the one proven tree.

    Anything else stays: a same-size fork, a witness that refused as a fork, a storage alert
    (the stored bytes were edited) are an operator's to investigate."""
    import json
    import logging

    from ledger.storage.base import FORK_ALERT_KEY, SEQUENCER_ALERT_KEY
    from ledger.tlog.note import verify_note as _verify

    store, cleared = log.store, []
    raw = store.get_meta(SEQUENCER_ALERT_KEY)
    alert = json.loads(raw) if raw else None
    if alert and alert.get("kind") == "beyond" and isinstance(alert.get("witness_size"), int) and log.size >= alert["witness_size"]:
        store.set_meta(SEQUENCER_ALERT_KEY, "")
        cleared.append(f"sequencer alert cleared: the log now holds size {alert['witness_size']} that witness {alert.get('witness')} had cosigned")
    raw = store.get_meta(FORK_ALERT_KEY)
    fork = json.loads(raw) if raw else None
    if fork:
        sizes = []
        for text in (fork.get("old", ""), fork.get("new", "")):
            try:
                cp = parse_checkpoint(_verify(text.encode(), [log.log_verifier]).text)
            except EduledgerError:
                break
            if cp.origin != log.origin or not 0 < cp.size <= log.size or log.tree.root(cp.size) != cp.root:
                break
            sizes.append(cp.size)
        else:
            store.set_meta(FORK_ALERT_KEY, "")
            cleared.append(f"fork alert cleared: both of its checkpoints (sizes {sizes[0]} and {sizes[1]}) are this log's, proven by the recovered tree")
    for line in cleared:
        logging.getLogger("eduledger.node").warning("%s", line)
    return cleared


__all__ = [
    "HINT",
    "Checked",
    "Claim",
    "Recovered",
    "RecoveryError",
    "RollbackError",
    "check",
    "check_store",
    "clear_resolved_alerts",
    "holds_log_key",
    "load_log",
    "read_claims",
    "recover",
    "witness_of",
]
