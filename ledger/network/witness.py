"""The witness side of C2SP tlog-witness: cosign a checkpoint only if it extends the last one.

A witness keeps, per log origin, the last checkpoint it cosigned. It cosigns a
new checkpoint only when the submitter names that size as ``old`` and a
consistency proof shows the new tree extends the old one. The new state is
persisted by compare-and-swap *before* the cosignature is returned, so a
witness never cosigns two checkpoints that do not extend each other, even
across crashes and concurrent requests.

Checks run in the order of C2SP tlog-witness "add-checkpoint", each mapped to
its status code in ``portfolio_api.errors``:

1. unknown origin → NotFoundError (404);
2. no valid signature by the log key → SignatureError (403);
3. old size larger than the checkpoint size → MalformedError (400);
4. the witness has stopped (its node saw a fork) → WitnessStopped (409, no size body:
   asking again with another old size would not help); the witness has not caught up
   yet after a start (``not_ready``, see :meth:`Witness.catch_up`) → PushbackError
   (503 with Retry-After: ask again in a moment);
5. old size not the witness's current size → SizeConflict carrying ``current_size``
   (409, body ``<size>\n``, ``Content-Type: text/x.tlog.size``);
6. a proof with old size 0 → MalformedError (400);
7. same size, other root → SameSizeFork (409);
8. consistency proof does not verify → InconsistencyError (422);
9. the compare-and-swap lost to a concurrent request → SizeConflict with the size
   now stored (409, ``text/x.tlog.size``), exactly as if step 5 had seen it.

A malformed body is MalformedError (400) before any of these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ledger.errors import (
    ConflictError,
    EduledgerError,
    InconsistencyError,
    MalformedError,
    NotFoundError,
    PushbackError,
    RootMismatchError,
    SizeConflict,
)
from ledger.storage.base import CompareAndSwapError
from ledger.tlog import merkle
from ledger.tlog.checkpoint import parse_checkpoint
from ledger.tlog.note import Note, NoteSignature, Verifier, cosign, verify_cosignature, verify_note


class SameSizeFork(ConflictError):
    """A checkpoint of the size the witness already cosigned, with another root (HTTP 409).

    Carries both notes: this is evidence of a split view."""

    def __init__(self, message: str, *, old: bytes, new: bytes) -> None:
        super().__init__(message)
        self.old = old
        self.new = new


class WitnessStopped(ConflictError):
    """The witness refuses to cosign anything for this log: its node has seen a fork (HTTP 409)."""


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed tlog-witness add-checkpoint request."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    @staticmethod
    def parse(body: bytes) -> "AddCheckpoint":
        from ledger.tlog.encoding import b64d

        head, sep, note = body.partition(b"\n\n")
        if not sep:
            raise MalformedError("request must be 'old N', proof lines, a blank line, then the checkpoint")
        lines = head.decode("ascii", "replace").split("\n")
        if not lines[0].startswith("old ") or not lines[0][4:].isdigit():
            raise MalformedError("first line must be 'old <size>'")
        old = int(lines[0][4:])
        if str(old) != lines[0][4:]:
            raise MalformedError("old size has leading zeros")
        if len(lines) - 1 > 63:
            raise MalformedError("too many consistency proof lines")
        proof = tuple(b64d(line, "consistency proof line", size=32) for line in lines[1:])
        return AddCheckpoint(old, proof, note)

    def to_bytes(self) -> bytes:
        from ledger.tlog.encoding import b64e

        head = "".join([f"old {self.old_size}\n"] + [b64e(h) + "\n" for h in self.proof])
        return head.encode() + b"\n" + self.checkpoint


class WitnessStateStore:
    """What a witness needs from storage: the witness directory's own store
    (``ledger/storage/witness_state.py``), never the log's database in a running node,
    so a copy or a restore of the log's data does not copy or roll back the witness.
    ``cas_witness_state`` is durable when it returns (LedgerStore's contract)."""

    def witness_state(self, origin: str) -> tuple[int, bytes] | None: ...
    def cas_witness_state(self, origin: str, old_size: int | None, new_size: int, note: bytes) -> None: ...
    def witness_states(self) -> list[tuple[str, int, bytes]]: ...


class Witness:
    def __init__(
        self,
        name: str,
        signer: object,
        logs: Mapping[str, Verifier],
        store: WitnessStateStore,
        clock: Callable[[], float],
        stopped: Callable[[], str | None] = lambda: None,
    ) -> None:
        """``stopped`` says why the witness must not cosign (its node saw a fork), or None."""
        self.name = name
        self.stopped = stopped
        self.signer = signer
        self.logs = dict(logs)
        self.store = store
        self.clock = clock
        self.verifier = Verifier.cosignature(name, signer.public_key)  # type: ignore[attr-defined]
        #: Why this witness answers 503 for now (its start-up catch-up is under way), or None.
        self.not_ready: str | None = None

    def state_key(self, origin: str) -> str:
        """Storage key of this witness's state for a log: several witness keys may
        share one database (the single-process demo), each with its own state."""
        return f"{self.name} {origin}"

    def state(self, origin: str) -> tuple[int, bytes] | None:
        """``(size, log-signed note)`` this witness last cosigned for ``origin``, or None."""
        return self.store.witness_state(self.state_key(origin))

    def current_size(self, origin: str) -> int:
        state = self.state(origin)
        return state[0] if state else 0

    def catch_up(self, origin: str, notes: Sequence[bytes]) -> int | None:
        """Advance the state to the newest of ``notes`` that carries a valid cosignature by this
        witness's own key and is larger than the state; returns that size, or None.

        After a restore of the witness state from an older copy, the peers still hold the
        checkpoints it cosigned since: by its own cosignature it vouched for each (its state
        was that checkpoint when it signed, and the state only grows), so moving there keeps
        it from cosigning anything those checkpoints do not extend. Each note is checked
        before it is used: the log's signature over its exact bytes, its origin, then the
        cosignature. A note of the state's size with another root is a split view
        (SameSizeFork, both notes as evidence); anything else that does not verify is ignored.
        The move is a compare-and-swap: a concurrent move wins and is kept."""
        log = self.logs.get(origin)
        if log is None:
            raise NotFoundError(f"unknown log origin {origin!r}")
        best: tuple[int, bytes, bytes] | None = None  # size, root, note as the log signed it
        for note in notes:
            try:
                verified = verify_note(note, [log])
                cp = parse_checkpoint(verified.text)
                if cp.origin != origin:
                    continue
                own = [s for s in verified.signatures if s.name == self.verifier.name and s.key_id == self.verifier.key_id]
                if not own:
                    continue
                for sig in own:
                    verify_cosignature(verified.text, sig, self.verifier)
            except EduledgerError:
                continue  # not signed by the log, or not by this witness: no evidence of anything
            log_sigs = [s for s in verified.signatures if (s.name, s.key_id) == (log.name, log.key_id)]
            bare = Note(verified.text, tuple(log_sigs)).to_bytes()
            if best is None or cp.size > best[0]:
                best = (cp.size, cp.root, bare)
        if best is None:
            return None
        key = self.state_key(origin)
        state = self.store.witness_state(key)
        if state is not None:
            if best[0] < state[0]:
                return None
            if best[0] == state[0]:
                if parse_checkpoint(verify_note(state[1], [log]).text).root != best[1]:
                    raise SameSizeFork(f"this witness cosigned two checkpoints of size {best[0]}", old=state[1], new=best[2])
                return None
        try:
            self.store.cas_witness_state(key, state[0] if state else None, best[0], best[2])
        except CompareAndSwapError:
            return None  # moved meanwhile (a cosignature answered): that state stands
        return best[0]

    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: bytes) -> NoteSignature:
        """Cosign ``note`` if it extends the last checkpoint this witness cosigned."""
        origin = note.split(b"\n", 1)[0].decode("utf-8", "replace")
        log = self.logs.get(origin)
        if log is None:
            raise NotFoundError(f"unknown log origin {origin!r}")
        verified = verify_note(note, [log])  # signature over the exact bytes first
        cp = parse_checkpoint(verified.text)
        if cp.origin != origin:
            raise MalformedError("checkpoint origin does not match its first line")
        if old_size > cp.size:
            raise MalformedError(f"old size {old_size} is larger than the checkpoint size {cp.size}")
        reason = self.stopped()
        if reason is not None:
            raise WitnessStopped(f"this witness stopped cosigning: {reason}")
        if self.not_ready is not None:
            raise PushbackError(f"this witness cosigns nothing yet: {self.not_ready}", retry_after=1)
        key = self.state_key(origin)
        state = self.store.witness_state(key)
        current_size, current_note = state if state else (0, b"")
        if old_size != current_size:
            raise SizeConflict(f"witness is at size {current_size}, request says {old_size}", current_size)
        if old_size == 0 and proof:
            raise MalformedError("the consistency proof must be empty when old size is 0")
        old_root = merkle.EMPTY_ROOT if current_size == 0 else parse_checkpoint(verify_note(current_note, [log]).text).root
        if cp.size == old_size and cp.root != old_root:
            raise SameSizeFork(f"a different checkpoint of size {cp.size} was already cosigned", old=current_note, new=note)
        try:
            merkle.verify_consistency(old_size, cp.size, old_root, cp.root, list(proof))
        except (RootMismatchError, MalformedError) as e:
            raise InconsistencyError(
                f"checkpoint does not extend the last cosigned one: {e}",
                old=current_note.decode(),
                new=note.decode("utf-8", "replace"),
                proof=list(proof),
            ) from None
        # Persist before answering: a cosignature must never exist for a
        # checkpoint the witness could later be talked out of. Check and move
        # are one compare-and-swap: a concurrent request that moved the state
        # since the read above makes this one lose, answered like step 5.
        try:
            self.store.cas_witness_state(key, current_size if state else None, cp.size, note)
        except CompareAndSwapError as e:
            now = e.current_size or 0
            raise SizeConflict(f"witness moved to size {now} while checking this request (old size {old_size})", now) from None
        return cosign(verified.text, self.name, self.signer, int(self.clock()))
