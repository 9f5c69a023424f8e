"""Split-view detection: are the log-signed checkpoints different parties saw one tree?

A sequencer that shows each witness its own view passes every witness's own
check; comparing what the witnesses cosigned (and what the replicas hold) does
not. Two log-signed checkpoints are *consistent* when the smaller tree is a
prefix of the larger one.

* Same size: consistent iff the roots are equal; two roots are a fork, and the
  two notes are the evidence.
* Different sizes (m < n): a *prefix proof* for the larger checkpoint is the
  root its tree had at size m and the RFC 9162 consistency proof from m to n.
  It is checked against the larger checkpoint's signed root alone
  (``verify_consistency(m, n, prefix_root, big.root, proof)``), so whoever
  supplied it (the sequencer, a peer, our own tree) cannot make it up: if it
  verifies and ``prefix_root`` differs from the smaller checkpoint's root, the
  two signed trees cannot both be the log, and the two notes plus the proof
  are the evidence (InconsistencyError, whose ``proof`` is the prefix root
  followed by the consistency proof). A proof that does not verify against
  the larger root is the supplier's bad data (RootMismatchError /
  MalformedError), never evidence: anyone can send garbage, and a node must
  not be talked into a fork alert by it.

Checking every seen checkpoint against the largest one is enough: if all are
prefixes of one tree, every pair is consistent (:func:`plan`).

Pure: notes, hashes and proofs in, values or exceptions out; fetching the
checkpoints and proofs is ``Node.check_split_views``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.errors import InconsistencyError
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint, parse_checkpoint
from ledger.tlog.encoding import b64e
from ledger.tlog.note import Verifier, verify_note


@dataclass(frozen=True)
class Seen:
    """A log-signed checkpoint and who showed it (for the alert's reason)."""

    checkpoint: Checkpoint
    note: bytes
    source: str

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root


@dataclass(frozen=True)
class PrefixProof:
    """A supplier's claim about a tree of ``new_size``: its root at ``old_size`` and the
    consistency proof connecting the two (RFC 9162 §2.1.4)."""

    old_size: int
    new_size: int
    old_root: bytes
    proof: tuple[bytes, ...]


def seen(note: bytes, log: Verifier, origin: str, source: str) -> Seen | None:
    """Parse a note after checking its log signature (SignatureError otherwise);
    None for a checkpoint of another log, which says nothing about ours."""
    cp = parse_checkpoint(verify_note(note, [log]).text)
    return Seen(cp, note, source) if cp.origin == origin else None


def _text(note: bytes) -> str:
    return note.decode("utf-8", "replace")


def plan(checkpoints: Sequence[Seen]) -> tuple[Seen | None, list[Seen]]:
    """The largest checkpoint and the smaller ones to prove against it.

    Raises InconsistencyError if two checkpoints of one size have different
    roots (no proof needed). Empty trees and duplicates are dropped."""
    by_size: dict[int, Seen] = {}
    for s in checkpoints:
        if s.size == 0:
            continue
        other = by_size.setdefault(s.size, s)
        if other.root != s.root:
            raise InconsistencyError(
                f"two log-signed checkpoints of size {s.size} with different roots ({other.source}; {s.source})",
                old=_text(other.note),
                new=_text(s.note),
            )
    if not by_size:
        return None, []
    big = by_size[max(by_size)]
    return big, [s for size, s in sorted(by_size.items()) if size != big.size]


def check_prefix(small: Seen, big: Seen, prefix: PrefixProof) -> None:
    """Raise InconsistencyError if ``prefix`` proves ``small`` is not a prefix of ``big``.

    Raises RootMismatchError or MalformedError, and proves nothing, if the
    proof does not verify against ``big``'s signed root (or is for other sizes)."""
    from ledger.errors import MalformedError

    if (prefix.old_size, prefix.new_size) != (small.size, big.size):
        raise MalformedError(f"prefix proof is for sizes {prefix.old_size}..{prefix.new_size}, want {small.size}..{big.size}")
    # Authenticate the supplier's prefix root by the larger checkpoint's signature first.
    merkle.verify_consistency(small.size, big.size, prefix.old_root, big.root, list(prefix.proof))
    if prefix.old_root != small.root:
        raise InconsistencyError(
            f"the log-signed tree of size {big.size} ({big.source}) has root {b64e(prefix.old_root)} at size {small.size}, "
            f"the log-signed checkpoint of size {small.size} ({small.source}) has root {b64e(small.root)}",
            old=_text(small.note),
            new=_text(big.note),
            proof=[prefix.old_root, *prefix.proof],
        )


__all__ = ["PrefixProof", "Seen", "check_prefix", "plan", "seen"]
