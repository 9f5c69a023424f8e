"""C2SP tlog-checkpoint bodies, and verification of cosigned checkpoints against a quorum.

Pure: bytes in, values out. Specs: c2sp.org/tlog-checkpoint ("Note text"),
c2sp.org/tlog-cosignature, c2sp.org/signed-note.

A checkpoint body (the note text) is::

    <origin>\\n<tree size, decimal, no leading zeros>\\n<base64 32-byte root>\\n[<extension line>\\n ...]

:func:`verify_checkpoint` is the one way a checkpoint is accepted. Its steps:

1. the log's Ed25519 signature over the exact note bytes (before the body is read);
2. parse the body strictly;
3. policy: the origin equals the log key's name (tlog-checkpoint: "SHOULD match";
   eduledger makes it a rule) and, when given, the expected origin;
4. every cosignature line by a trusted witness must verify (SignatureError
   otherwise); lines by unknown keys are ignored;
5. distinct witnesses (by name: a witness with several lines, or several trusted
   keys under one name, counts once) must reach the quorum (QuorumError).

The origin line is only required to be non-empty, as the spec says ("clients
MUST NOT assume that the origin is following this format"); step 3 then ties it
to the trusted log key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ledger.errors import MalformedError, PolicyError, QuorumError
from ledger.tlog.encoding import b64d, b64e
from ledger.tlog.note import (
    MAX_SIGNATURES,
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Note,
    NoteSignature,
    Verifier,
    parse_note,
    verifier_index,
    verify_cosignature,
    verify_note,
)

__all__ = ["MAX_TREE_SIZE", "Checkpoint", "VerifiedCheckpoint", "add_signatures", "parse_checkpoint", "verify_checkpoint"]

MAX_TREE_SIZE = (1 << 63) - 1
HASH_SIZE = 32
_SIZE = re.compile(r"\A(?:0|[1-9][0-9]{0,18})\Z")  # ASCII decimal, no leading zeros, at most 19 digits
_CONTROL = re.compile(r"[\x00-\x1f]")


def _line_ok(line: object) -> bool:
    return isinstance(line, str) and bool(line) and not _CONTROL.search(line)


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, size and RFC 9162 root, plus opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _line_ok(self.origin):
            raise ValueError("origin must be a non-empty line without control characters")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValueError(f"size must be an int in 0..2^63-1, got {self.size!r}")
        if type(self.root) is not bytes or len(self.root) != HASH_SIZE:
            raise ValueError("root must be 32 bytes")
        if not isinstance(self.extensions, tuple) or not all(_line_ok(e) for e in self.extensions):
            raise ValueError("extensions must be a tuple of non-empty lines")

    def body(self) -> str:
        """The note text, ending in a newline."""
        return "\n".join([self.origin, str(self.size), b64e(self.root), *self.extensions]) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Strict parse of a checkpoint body (tlog-checkpoint "Note text"); MalformedError otherwise.

    Call it on the text of a note that :func:`~ledger.tlog.note.verify_note` accepted.
    """
    if not isinstance(text, str):
        raise TypeError(f"a checkpoint body is a str, got {type(text).__name__}")
    if not text.endswith("\n"):
        raise MalformedError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError(f"checkpoint has {len(lines)} lines, want origin, size and root")
    origin, size_line, root_line, *extensions = lines
    if any(_CONTROL.search(line) for line in lines):
        raise MalformedError("checkpoint contains a control character")
    if not origin:
        raise MalformedError("checkpoint origin line is empty")
    if not _SIZE.match(size_line):
        raise MalformedError(f"checkpoint size {size_line[:40]!r} is not a decimal without leading zeros")
    size = int(size_line)
    if size > MAX_TREE_SIZE:
        raise MalformedError(f"checkpoint size {size} is above 2^63-1")
    root = b64d(root_line, "checkpoint root", size=HASH_SIZE)
    if not all(extensions):
        raise MalformedError("checkpoint extension lines must not be empty")
    return Checkpoint(origin, size, root, tuple(extensions))


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """What :func:`verify_checkpoint` accepted: the body, the note, and the witnesses
    (by name) whose cosignature verified, with each one's latest cosignature time."""

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
    """Verify a cosigned checkpoint note; the steps are in the module docstring.

    Raises MalformedError (does not parse), SignatureError (no valid log
    signature, or an invalid line by a trusted key), PolicyError (origin) or
    QuorumError (too few distinct witnesses). API misuse raises ValueError:
    a log key not of type 0x01, witnesses not of type 0x04, two trusted keys
    with one name and key id, or a quorum outside 0..number of distinct witnesses.
    """
    if not isinstance(log, Verifier):
        raise TypeError("log must be a Verifier")
    if log.sig_type != SIG_ED25519:
        raise ValueError(f"the log key {log.name} must be an Ed25519 (0x01) key")
    known = verifier_index(witnesses, SIG_COSIGNATURE_V1, "witnesses")
    distinct = {name for name, _ in known}
    if isinstance(quorum, bool) or not isinstance(quorum, int):
        raise TypeError("quorum must be an int")
    if not 0 <= quorum <= len(distinct):
        raise ValueError(f"quorum {quorum} cannot be met by {len(distinct)} distinct witnesses")

    # 1. The log signature, over the exact bytes, before anything is read.
    note = verify_note(data, [log])
    # 2. Only now is the body parsed.
    cp = parse_checkpoint(note.text)
    # 3. Policy.
    if cp.origin != log.name:
        raise PolicyError(f"checkpoint origin {cp.origin!r} is not the log key's name {log.name!r}")
    if origin is not None and cp.origin != origin:
        raise PolicyError(f"checkpoint is for log {cp.origin!r}, want {origin!r}")
    # 4. Cosignatures by trusted witnesses; every matching line must verify.
    cosigned_at: dict[str, int] = {}
    for sig in note.signatures:
        w = known.get((sig.name, sig.key_id))
        if w is None:
            continue
        at = verify_cosignature(note.text, sig, w)
        cosigned_at[w.name] = max(at, cosigned_at.get(w.name, at))
    # 5. Quorum of distinct witnesses.
    if len(cosigned_at) < quorum:
        raise QuorumError(f"checkpoint has {len(cosigned_at)} valid cosignatures from distinct trusted witnesses, need {quorum}")
    return VerifiedCheckpoint(cp, note, frozenset(cosigned_at), cosigned_at)


def add_signatures(note_bytes: bytes, sigs: Iterable[NoteSignature]) -> bytes:
    """Append signature lines to a note, keeping the first line per key (name, key ID).

    Lines already in the note keep their order; duplicates (by key) are dropped.
    Nothing is verified here: that is :func:`verify_checkpoint`'s job. Raises
    MalformedError if ``note_bytes`` does not parse, ValueError if the result
    would exceed the signature limit.
    """
    note = parse_note(note_bytes)
    seen: set[tuple[str, bytes]] = set()
    out: list[NoteSignature] = []
    for s in (*note.signatures, *sigs):
        if not isinstance(s, NoteSignature):
            raise TypeError("sigs must be NoteSignature objects")
        if (s.name, s.key_id) not in seen:
            seen.add((s.name, s.key_id))
            out.append(s)
    if len(out) > MAX_SIGNATURES:
        raise ValueError(f"a note holds at most {MAX_SIGNATURES} signatures, got {len(out)}")
    return Note(note.text, tuple(out)).to_bytes()
