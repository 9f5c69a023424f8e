"""C2SP tlog-checkpoint bodies, and verification of cosigned checkpoints against a quorum.

A checkpoint body is ``<origin>\\n<size>\\n<base64 root>\\n`` optionally followed
by extension lines. ``verify_checkpoint`` checks the log signature over the
exact note bytes first, then parses, then counts distinct witnesses with a
valid cosignature (a witness that appears twice counts once).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ledger.errors import MalformedError, PolicyError, QuorumError
from ledger.note import SIG_COSIGNATURE_V1, Note, NoteSignature, Verifier, parse_note, verify_cosignature, verify_note

MAX_SIZE = (1 << 63) - 1


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Strict parse of a checkpoint body (the note text)."""
    if not text.endswith("\n"):
        raise MalformedError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError("checkpoint needs origin, size and root lines")
    origin, size_s, root_s, *ext = lines
    if not origin or origin != origin.strip():
        raise MalformedError("checkpoint origin line is empty or padded")
    if not size_s.isdigit() or not size_s.isascii() or (size_s != "0" and size_s.startswith("0")):
        raise MalformedError("checkpoint size must be a decimal without leading zeros")
    size = int(size_s)
    if size > MAX_SIZE:
        raise MalformedError("checkpoint size is too large")
    try:
        root = base64.b64decode(root_s, validate=True)
    except (ValueError, binascii.Error):
        raise MalformedError("checkpoint root is not base64") from None
    if len(root) != 32 or base64.b64encode(root).decode() != root_s:
        raise MalformedError("checkpoint root must be the base64 of 32 bytes")
    if any(not e for e in ext):
        raise MalformedError("checkpoint extension lines must not be empty")
    return Checkpoint(origin, size, root, tuple(ext))


@dataclass(frozen=True)
class VerifiedCheckpoint:
    checkpoint: Checkpoint
    note: Note
    cosigners: frozenset[str] = frozenset()
    cosigned_at: dict[str, int] = field(default_factory=dict)


def verify_checkpoint(
    data: bytes,
    *,
    log: Verifier,
    witnesses: Sequence[Verifier] = (),
    quorum: int = 0,
    origin: str | None = None,
) -> VerifiedCheckpoint:
    """Verify the log signature, then the checkpoint, then the cosignature quorum.

    Raises SignatureError (log signature, or an invalid cosignature by a known
    witness), MalformedError, PolicyError (wrong origin) or QuorumError.
    """
    if quorum < 0 or quorum > len({w.key_id for w in witnesses}):
        raise ValueError(f"quorum {quorum} cannot be met by {len(witnesses)} witnesses")
    note = verify_note(data, [log])
    cp = parse_checkpoint(note.text)
    if cp.origin != log.name:
        raise PolicyError(f"checkpoint origin {cp.origin!r} is not the log key's name {log.name!r}")
    if origin is not None and cp.origin != origin:
        raise PolicyError(f"checkpoint is for log {cp.origin!r}, expected {origin!r}")
    known = {(w.name, w.key_id): w for w in witnesses if w.sig_type == SIG_COSIGNATURE_V1}
    cosigned: dict[str, int] = {}
    for sig in note.signatures:
        w = known.get((sig.name, sig.key_id))
        if w is None:
            continue
        cosigned[w.name] = verify_cosignature(note.text, sig, w)
    if len(cosigned) < quorum:
        raise QuorumError(f"checkpoint has {len(cosigned)} valid cosignatures from trusted witnesses, need {quorum}")
    return VerifiedCheckpoint(cp, note, frozenset(cosigned), cosigned)


def add_signatures(note_bytes: bytes, sigs: Iterable[NoteSignature]) -> bytes:
    """Append signature lines to a note, skipping any key (name, key ID) already present."""
    note = parse_note(note_bytes)
    have = {(s.name, s.key_id) for s in note.signatures}
    extra = []
    for s in sigs:
        if (s.name, s.key_id) not in have:
            have.add((s.name, s.key_id))
            extra.append(s)
    return Note(note.text, note.signatures + tuple(extra)).to_bytes()
