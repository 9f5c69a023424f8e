"""The log of one node: storage, the in-memory tree, the registry, and the write path.

This is the synchronous core the sequencer drives. Write order, and what a
crash at each point leaves behind:

1. ``append``: registry checks, then entries + block header go to storage in
   ONE transaction (``store.append_block``; ``append_blocks`` puts several
   blocks in one transaction when the sequencer has a backlog). A crash before
   commit leaves nothing; the submitter got no acknowledgement and may resubmit.
2. After commit the tree and registry caches advance. A crash here loses only
   caches: ``open`` rebuilds both from storage.
3. ``sign_checkpoint``: the log key signs the committed size and the note is
   stored. A crash between 1 and 3 leaves committed entries with no checkpoint;
   ``open`` signs one for whatever is committed.
4. Local witnesses cosign (each persists its state first, see ledger/witness);
   when the quorum is reached the cosigned note is stored as final.
5. Only after step 1 returned does the sequencer acknowledge submitters.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger.errors import ConflictError, EduledgerError, MalformedError, NotFoundError, StorageError
from ledger.model.blocks import BlockHeader, parse_header
from ledger.model.entries import Entry, parse_entry
from ledger.model.genesis import Genesis
from ledger.model.receipts import Receipt, Rejection
from ledger.model.registry import Registry
from ledger.model.replay import ReplayError, replay_block
from ledger.network.cosigners import Cosigner, WitnessObjection
from ledger.storage import LedgerStore, StoredBlock
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint, add_signatures, parse_checkpoint, verify_checkpoint
from ledger.tlog.note import NoteSignature, Verifier, sign_note, verify_note
from ledger.tlog.tree import Tree

log = logging.getLogger("eduledger.log")


#: Prepared appends outstanding at once: the one being stored and the next (``Log.prepare_blocks``).
MAX_OUTSTANDING = 2


@dataclass(frozen=True)
class Prepared:
    """An append whose blocks are built and checked but not yet stored (``Log.prepare_blocks``)."""

    pending: list[tuple[StoredBlock, list[tuple[bytes, bytes]]]]
    results: list[list[int | Receipt | Rejection | None]]
    size: int
    generation: int  # the log's state generation it was prepared on (see Log.abandon)


class Log:
    """One node's view of the network's log."""

    def __init__(
        self,
        store: LedgerStore,
        genesis: Genesis,
        *,
        log_signer: object | None,
        cosigners: Sequence[Cosigner] = (),
        witness_verifiers: Sequence[Verifier] = (),
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.genesis = genesis
        self.log_signer = log_signer
        self.log_verifier = Verifier.from_vkey(genesis.log_vkey)
        self.cosigners = list(cosigners)
        self._genesis_witnesses = list(witness_verifiers)
        self.clock = clock
        self.tree = Tree()
        self.registry = Registry(genesis.network, genesis.sequencer, genesis.quorum)
        self._statement_index: dict[bytes, int] = {}
        self._last_block: StoredBlock | None = None
        self._outstanding = 0  # prepared appends not yet finished or abandoned (at most MAX_OUTSTANDING)
        self._generation = 0  # advanced by every rebuild from storage: older prepared appends are void
        self._rebuild_due = False  # a prepare failed while another was outstanding: rebuild when it ends
        self._lock = threading.Lock()
        # One cosignature round at a time: the sequencer's and the retry loop's
        # would otherwise ask a witness twice and store two lines for one size.
        self._cosign_lock = threading.Lock()

    @property
    def origin(self) -> str:
        return self.genesis.network

    @property
    def size(self) -> int:
        return self.tree.size

    @property
    def state(self) -> tuple[int, int]:
        """(generation, size): changes whenever what the log holds in memory may have changed,
        including a rebuild from storage that comes back to the same size."""
        return self._generation, self.tree.size

    @property
    def can_prepare(self) -> bool:
        """Whether :meth:`prepare_blocks` would take another append now."""
        return self._outstanding < MAX_OUTSTANDING and not (self._rebuild_due and self._outstanding)

    @property
    def idle(self) -> bool:
        """No prepared append is outstanding: nothing is being stored on top of the tree, so blocks
        from a peer may be applied (``Integrity._remirror``)."""
        return self._outstanding == 0

    @property
    def quorum(self) -> int:
        """The cosigning quorum in force: the genesis quorum until governance changes it."""
        return self.registry.governance.quorum

    @property
    def witness_verifiers(self) -> list[Verifier]:
        """Witness keys that count towards finality: the active institutions' other than the
        sequencer's (governance adds, suspends, rotates them and moves the sequencer role;
        ``Registry.finality_witnesses``), or those given at construction before any replay."""
        if not self.registry.members():
            return list(self._genesis_witnesses)
        return [Verifier.from_vkey(v) for v in self.registry.finality_witnesses().values()]

    # --- start-up -------------------------------------------------------------------

    def open(self, *, write: bool = True) -> None:
        """Load state from storage, writing block 0 on a new store; recover from a crash.

        ``write=False`` is a standby process that shares the database with the
        leader (ledger.network.leader): it loads what is there and writes nothing.
        Raises VerificationError if the stored log does not re-derive (entry
        bytes that do not hash to their stored leaf, or a tree that does not
        match the latest signed checkpoint): a database edited behind the
        node's back is refused, never served.
        """
        with self._lock:
            if self.store.block_count() == 0:
                if not write:
                    return
                self._write_genesis_block()
            first = self.store.block(0)
            if parse_header(first.header).prev != self.genesis.hash():
                raise ConflictError("the database belongs to another network (block 0 does not match this genesis file)")
            # The newest checkpoint is read before the entries: a leader appending meanwhile (to the
            # database a standby shares) then adds entries beyond it, never a checkpoint beyond them.
            latest = self.store.latest_checkpoint()
            self._reload()
            self._check_latest_checkpoint(latest)
        if write and self.log_signer is not None:
            latest = self.store.latest_checkpoint()
            if latest is None or latest[0] < self.size:
                # Step 3 recovery: entries were committed but not yet signed.
                self.sign_checkpoint()
            self.collect_cosignatures()

    def _check_latest_checkpoint(self, latest: tuple[int, bytes] | None) -> None:
        """The newest stored checkpoint (``latest``) must be signed by the log key and match the tree."""
        if latest is None:
            return
        size, note = latest
        cp = parse_checkpoint(verify_note(note, [self.log_verifier]).text)
        if cp.size != size or size > self.tree.size:
            raise ReplayError(f"checkpoint {size}", f"stored checkpoint is for size {cp.size}, the log holds {self.tree.size} entries")
        if self.tree.root(size) != cp.root:
            raise ReplayError(f"checkpoint {size}", "the stored entries do not hash to the signed root")

    def refresh(self) -> int:
        """Standby path: load blocks another process (the leader) committed to the shared store."""
        with self._lock:
            n = self.store.block_count()
            have = (self._last_block.height + 1) if self._last_block is not None else 0
            if n == have:
                return self.tree.size
            if have == 0:
                self._reload()
                return self.tree.size
            for height in range(have, n):
                block = self.store.block(height)
                datas = self.store.entries(block.first_index, block.end_index)
                leaves = merkle.hash_leaves(datas)
                if leaves != self.store.leaf_hashes(block.first_index, block.end_index):
                    raise ReplayError(f"block {height}", "stored leaf hashes do not match the entry bytes")
                time_ = parse_header(block.header).time
                for offset, data in enumerate(datas):
                    entry = parse_entry(data)
                    self.registry.apply(entry, block.first_index + offset, time_)
                    self._statement_index[entry.statement.statement_hash] = block.first_index + offset
                self.tree.extend(leaves)
                self._last_block = block
            return self.tree.size

    def check_storage(self, start: int, count: int) -> int:
        """Re-hash stored entries [start, start+count) against the tree this node verified.

        A rolling audit run by the follower loop: a database edited while the
        node runs is detected at the next sync. Returns where the next window
        starts (0 after the end). Raises ReplayError on a mismatch."""
        size = self.tree.size
        if size == 0:
            return 0
        start = start if 0 <= start < size else 0
        end = min(size, start + count)
        datas = self.store.entries(start, end)
        computed = merkle.hash_leaves(datas)
        if computed != self.tree.levels[0][start:end]:
            bad = next(i for i, (a, b) in enumerate(zip(computed, self.tree.levels[0][start:end])) if a != b)
            raise ReplayError(f"entry {start + bad}", "stored entry bytes no longer hash to the verified leaf")
        if self.store.leaf_hashes(start, end) != computed:
            raise ReplayError(f"entries {start}..{end}", "stored leaf hashes were changed")
        return end if end < size else 0

    def _reload(self) -> None:
        size = self.store.size()
        self.tree = Tree()
        self.registry = Registry(self.genesis.network, self.genesis.sequencer, self.genesis.quorum)
        self._statement_index = {}
        self._last_block = None
        chunk = 4096
        for start in range(0, size, chunk):
            datas = self.store.entries(start, min(size, start + chunk))
            # Re-derive leaf hashes from the bytes: stored hashes are only trusted if they agree.
            leaves = merkle.hash_leaves(datas)
            if leaves != self.store.leaf_hashes(start, start + len(datas)):
                bad = next(i for i, (a, b) in enumerate(zip(leaves, self.store.leaf_hashes(start, start + len(datas)))) if a != b)
                raise ReplayError(f"entry {start + bad}", "stored entry bytes do not hash to the stored leaf hash")
            self.tree.extend(leaves)
            for offset, data in enumerate(datas):
                index = start + offset
                entry = parse_entry(data)
                if entry.auth is None:
                    self.registry.apply_genesis(entry, index, self.genesis.created)
                else:
                    self.registry.apply(entry, index, self._time_of(index))
                self._statement_index[entry.statement.statement_hash] = index
        # The block that ends at the size read above, not the newest one: a leader appending meanwhile
        # (to the database a standby shares) has added blocks that ``refresh`` must still load.
        self._last_block = self.store.block_for_index(size - 1) if size else None

    def _time_of(self, index: int) -> int:
        if self._last_block is not None and self._last_block.first_index <= index < self._last_block.end_index:
            return parse_header(self._last_block.header).time
        block = self.store.block_for_index(index)
        self._last_block = block
        return parse_header(block.header).time

    def _write_genesis_block(self) -> None:
        entries = self.genesis.entries()
        datas = [e.to_bytes() for e in entries]
        leaves = merkle.hash_leaves(datas)
        header = BlockHeader(
            network=self.genesis.network,
            height=0,
            prev=self.genesis.hash(),
            first_index=0,
            count=len(entries),
            entries_root=merkle.root(leaves),
            tree_size=len(entries),
            tree_root=merkle.root(leaves),
            time=self.genesis.created,
        )
        hb = header.to_bytes()
        self.store.append_block(StoredBlock(0, 0, len(entries), hb, header.hash()), list(zip(leaves, datas)))

    # --- the write path -------------------------------------------------------------

    def find(self, entry: Entry) -> int | None:
        return self._statement_index.get(entry.statement.statement_hash)

    def append(self, entries: Sequence[Entry]) -> tuple[list[Receipt | Rejection], int]:
        """Check and durably append entries as one block; see :meth:`append_blocks`."""
        (results,), size = self.append_blocks([entries])
        return results, size

    def append_blocks(self, groups: Sequence[Sequence[Entry]]) -> tuple[list[list[Receipt | Rejection]], int]:
        """Check and durably append each group of entries as one block, all in ONE transaction.

        Entries whose signatures were verified by the caller (the sequencer's
        submit path does it per batch). Returns, per group, one Receipt or
        Rejection per entry in order, and the new tree size. A group whose
        entries are all refused or duplicates makes no block. Storage failure
        raises StorageError and leaves storage and caches as they were: either
        every block of the call is committed or none is.

        The three steps are also callable one by one (the sequencer prepares in
        its event loop and stores in a worker thread): :meth:`prepare_blocks`,
        :meth:`store_prepared`, then :meth:`finish_prepared`, or :meth:`abandon`
        when storing failed.
        """
        prepared = self.prepare_blocks(groups)
        try:
            self.store_prepared(prepared)
        except BaseException:
            self.abandon()
            raise
        return self.finish_prepared(prepared)

    def prepare_blocks(self, groups: Sequence[Sequence[Entry]]) -> Prepared:
        """Registry checks, leaf hashes, tree and block headers for ``groups``; nothing is stored.

        The registry, the tree and the duplicate index advance at once
        (optimistically: storage is the truth). Up to ``MAX_OUTSTANDING`` prepared
        appends may be outstanding, so the sequencer prepares the next while the
        current one is stored; they are stored in the order they were prepared,
        each finished (or abandoned) before the next is stored."""
        with self._lock:
            if self._outstanding >= MAX_OUTSTANDING:
                raise RuntimeError(f"{self._outstanding} prepared appends are outstanding: store and finish or abandon one first")
            if self._rebuild_due:
                if self._outstanding:
                    raise RuntimeError("the state is rebuilt from storage once the outstanding append ends")
                self._rebuild()  # an earlier rebuild failed (storage unreadable): try again first
            now = int(self.clock())
            # Per entry: its new index (an int), a duplicate's Receipt, or a Rejection;
            # the Receipts of new entries are made once the append is finished.
            out: list[list[int | Receipt | Rejection | None]] = []
            pending: list[tuple[StoredBlock, list[tuple[bytes, bytes]]]] = []
            seen: dict[bytes, int] = {}
            # The last block prepared or stored: the next height (an outstanding append is not stored yet).
            height = self._last_block.height + 1 if self._last_block is not None else self.store.block_count()
            prev = self._last_block.hash if self._last_block else self.genesis.hash()
            self._outstanding += 1
            try:
                for entries in groups:
                    results: list[int | Receipt | Rejection | None] = [None] * len(entries)
                    out.append(results)
                    base = self.tree.size
                    datas: list[bytes] = []
                    for pos, entry in enumerate(entries):
                        sh = entry.statement.statement_hash
                        existing = self._statement_index.get(sh, seen.get(sh))
                        if existing is not None:
                            results[pos] = Receipt(existing, b"", duplicate=True)
                            continue
                        index = base + len(datas)
                        try:
                            self.registry.apply(entry, index, now)  # checks first; changes nothing if it raises
                        except EduledgerError as e:
                            results[pos] = Rejection(pos, e)
                            continue
                        seen[sh] = index
                        datas.append(entry.to_bytes())
                        results[pos] = index
                    if not datas:
                        continue
                    leaves = merkle.hash_leaves(datas)
                    self.tree.extend(leaves)
                    header = BlockHeader(
                        network=self.genesis.network,
                        height=height,
                        prev=prev,
                        first_index=base,
                        count=len(datas),
                        entries_root=merkle.root(leaves),
                        tree_size=self.tree.size,
                        tree_root=self.tree.root(),
                        time=now,
                    )
                    block = StoredBlock(height, base, len(datas), header.to_bytes(), header.hash())
                    pending.append((block, list(zip(leaves, datas))))
                    height, prev = height + 1, block.hash
            except BaseException:
                self._outstanding -= 1
                if self._outstanding:
                    # The other append is being stored on top of this state: rebuild once it ends.
                    log.exception("preparing an append failed; the state is rebuilt from storage when the outstanding one ends")
                    self._rebuild_due = True
                else:
                    log.exception("preparing an append failed; reloading state from storage")
                    self._rebuild()
                raise
            self._statement_index.update(seen)
            if pending:
                self._last_block = pending[-1][0]
            return Prepared(pending, out, self.tree.size, self._generation)

    def store_prepared(self, prepared: Prepared) -> None:
        """Step 1's transaction for a prepared append: all of its blocks, or none (StorageError).

        A prepared append made void by an earlier one's failure (see :meth:`abandon`) is refused."""
        if prepared.generation != self._generation:
            raise StorageError("not stored: an append prepared before it failed, and its state was rebuilt from storage")
        if prepared.pending:
            self.store.append_blocks(prepared.pending)

    def finish_prepared(self, prepared: Prepared) -> tuple[list[list[Receipt | Rejection]], int]:
        """After :meth:`store_prepared` returned: the receipts and the committed size."""
        with self._lock:
            self._outstanding -= 1
            leaf_hashes = self.tree.levels[0]  # this append's leaves come before anything prepared after it
            receipts = [
                [
                    Receipt(r, leaf_hashes[r]) if type(r) is int else Receipt(r.index, leaf_hashes[r.index], True) if isinstance(r, Receipt) else r  # type: ignore[misc]
                    for r in results
                ]
                for results in prepared.results
            ]
            if self._rebuild_due and not self._outstanding:
                try:
                    self._rebuild()  # storage now holds this append
                except Exception:  # still due: the next prepare tries again, and refuses until it succeeds
                    log.exception("rebuilding the state from storage failed")
            return receipts, prepared.size

    def abandon(self) -> None:
        """After :meth:`store_prepared` failed: the caches advanced for nothing; rebuild them from
        storage. Every outstanding prepared append is void with it (the next one was prepared on
        top of the failed one): :meth:`store_prepared` refuses them."""
        with self._lock:
            log.warning("append failed; reloading state from storage")
            self._rebuild()

    def _rebuild(self) -> None:
        """Under the lock: the state from storage, nothing outstanding, older prepared appends void.
        Until it has succeeded, a rebuild stays due (a failed one leaves a half-loaded state)."""
        self._generation += 1
        self._outstanding = 0
        self._rebuild_due = True
        self._reload()
        self._rebuild_due = False

    def apply_remote_block(self, stored: StoredBlock, datas: Sequence[bytes]) -> None:
        """Replica path: re-derive a block fetched from the sequencer, then store it unchanged.

        Raises ReplayError (and stores nothing) if anything does not re-derive.
        """
        with self._lock:
            prev = self._last_block.hash if self._last_block else self.genesis.hash()
            try:
                _, leaves, entries = replay_block(
                    stored, datas, genesis=self.genesis, prev_hash=prev, tree=self.tree, registry=self.registry
                )
                self.store.append_block(stored, list(zip(leaves, datas)))
            except BaseException:
                self._reload()  # replay advanced the caches; storage is the truth
                raise
            self._last_block = stored
            for offset, e in enumerate(entries):
                self._statement_index[e.statement.statement_hash] = stored.first_index + offset

    # --- checkpoints ----------------------------------------------------------------

    def sign_checkpoint(self, size: int | None = None) -> bytes:
        """Sign a committed size (default: all that is committed) with the log key and store the note (step 3).

        The sequencer passes the size its append committed: what is signed must be
        committed, and a prepared append's leaves are in the tree before they are."""
        if self.log_signer is None:
            raise ConflictError("this node does not hold the log key")
        committed = self.store.size()
        if size is None:
            size = committed
        elif not 0 <= size <= committed:
            raise ValueError(f"size {size} is not committed (the store holds {committed})")
        cp = Checkpoint(self.origin, size, self.tree.root(size))
        sig = sign_note(cp.body(), self.origin, self.log_signer)
        note = (cp.body() + "\n" + sig.line()).encode()
        self.store.add_checkpoint(size, note)
        return note

    def collect_cosignatures(self) -> bytes | None:
        """Ask every cosigner (local witness keys and remote witnesses, concurrently)
        to cosign the latest checkpoint; store what they return (step 4).

        Also the retry path: called periodically while a cosigner is missing
        from the latest checkpoint, so finality resumes and a returning witness
        catches up (it gets the latest checkpoint with a consistency proof from
        the size it last cosigned)."""
        with self._cosign_lock:
            return self._collect_cosignatures()

    def missing_cosigners(self) -> list[str]:
        """Cosigners that have not cosigned the latest signed checkpoint."""
        latest = self.store.latest_checkpoint()
        if latest is None:
            return []
        have = {name for name, _ in self.store.cosignatures(latest[0])}
        return [c.name for c in self.cosigners if c.name not in have]

    # Called with every WitnessObjection a round meets (``on_witness_objection``); None: logged only.
    _objection_handler: Callable[[WitnessObjection], None] | None = None

    def on_witness_objection(self, handler: Callable[[WitnessObjection], None] | None) -> None:
        """Have ``handler`` called, in the round's thread and after its cosignatures are stored,
        for every witness answer that says the log it knows is not this one (a size beyond the
        checkpoint, a fork, a proof that does not verify: ``ledger.network.cosigners``). The node
        stops sequencing on it; the log only reports."""
        self._objection_handler = handler

    def ask_witnesses(self) -> bytes | None:
        """The sequencer's start-up round: ask EVERY cosigner, also those that cosigned the
        latest checkpoint already, which size it has cosigned (``Cosigner.probe``), then collect
        the missing cosignatures. A witness beyond this log's latest checkpoint is an objection
        (a database restored from an older backup has all its own cosignatures, so the usual
        round, which asks only the missing witnesses, would ask nobody). Returns the final
        note if the round made the latest checkpoint final, like ``collect_cosignatures``."""
        with self._cosign_lock:
            latest = self.store.latest_checkpoint()
            if latest is None or not self.cosigners:
                return None
            size, note = latest
            self._settle(size, note, self._ask_each(self.cosigners, lambda c: c.probe(size, note)))
            return self._collect_cosignatures()

    def _collect_cosignatures(self) -> bytes | None:
        latest = self.store.latest_checkpoint()
        if latest is None or not self.cosigners:
            return None
        size, note = latest
        have = {name for name, _ in self.store.cosignatures(size)}
        todo = [c for c in self.cosigners if c.name not in have]
        return self._settle(size, note, self._ask_each(todo, lambda c: c.cosign(size, note, self.consistency_proof)))

    @staticmethod
    def _ask_each(cosigners: Sequence[Cosigner], ask: Callable[[Cosigner], NoteSignature | None]) -> list[tuple[NoteSignature | None, WitnessObjection | None]]:
        """``ask`` every cosigner concurrently: per cosigner, its cosignature or objection (or neither)."""

        def one(c: Cosigner) -> tuple[NoteSignature | None, WitnessObjection | None]:
            try:
                return ask(c), None
            except WitnessObjection as e:
                return None, e

        if len(cosigners) <= 1:
            return [one(c) for c in cosigners]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(cosigners)) as pool:
            return list(pool.map(one, cosigners))

    def _settle(self, size: int, note: bytes, answers: Sequence[tuple[NoteSignature | None, WitnessObjection | None]]) -> bytes | None:
        """Store the cosignatures of a round, then report its objections (stored first: a
        handler that stops the node must not lose a cosignature a witness already persisted)."""
        full = self.record_cosignatures(size, note, [sig for sig, _ in answers if sig is not None])
        for _, objection in answers:
            if objection is None:
                continue
            handler = self._objection_handler
            if handler is None:
                log.warning("%s", objection)
                continue
            try:
                handler(objection)
            except Exception:  # the round's cosignatures are stored; the handler's failure is its own
                log.exception("handling the objection of witness %s failed", objection.witness)
        return full

    def record_cosignatures(self, size: int, note: bytes, sigs: Sequence[NoteSignature]) -> bytes | None:
        """Store cosignatures; if the quorum is met, store the cosigned note as final."""
        for s in sigs:
            self.store.add_cosignature(size, s.name, s.line().encode())
        lines = [line for _, line in self.store.cosignatures(size)]
        from ledger.tlog.note import parse_note

        all_sigs = [parse_note(b"x\n\n" + line).signatures[0] for line in lines]
        full = add_signatures(note, all_sigs)
        try:
            verify_checkpoint(
                full,
                log=self.log_verifier,
                witnesses=self.witness_verifiers,
                quorum=self.quorum,
                origin=self.origin,
            )
        except EduledgerError as e:
            log.info("checkpoint %d not final yet: %s", size, e)
            return None
        final = self.store.latest_final()
        if final is None or final[0] < size:
            self.store.set_final(size, full)
        return full

    def latest_checkpoint(self) -> bytes:
        """The newest final checkpoint, else the newest signed one."""
        final = self.store.latest_final()
        if final is not None:
            return final[1]
        latest = self.store.latest_checkpoint()
        if latest is None:
            raise NotFoundError("no checkpoint has been signed yet")
        return latest[1]

    def checkpoint_size(self, note: bytes) -> int:
        return parse_checkpoint(verify_note(note, [self.log_verifier]).text).size

    # --- reads ----------------------------------------------------------------------

    def entry(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise NotFoundError(f"no entry {index}; the log has {self.size}")
        return self.store.entry(index)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        if not 0 < size <= self.size:
            raise NotFoundError(f"tree size {size} is not available; the log has {self.size}")
        if not 0 <= index < size:
            raise MalformedError(f"index {index} is not below tree size {size}")
        return self.tree.inclusion_proof(index, size)

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        if not 0 <= old <= new <= self.size:
            raise MalformedError(f"need 0 <= old <= new <= {self.size}, got old={old} new={new}")
        return self.tree.consistency_proof(old, new)
