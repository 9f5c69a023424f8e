"""C2SP signed-note: notes, signature lines, verifier keys (vkeys), cosignature/v1.

Pure: bytes in, values out. Specs: c2sp.org/signed-note (format, key IDs,
signature types), c2sp.org/tlog-cosignature (type 0x04), and the vkey encoding
of golang.org/x/mod/sumdb/note, which signed-note refers to.

A note is UTF-8 text ending in a newline, a blank line, then one or more
signature lines ``— <key name> <base64(4-byte key ID || signature)>``::

    example.com/log/testdata
    15
    rKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs=

    — example.com/log/testdata M9e0luh4jTG+...

The key ID is ``SHA-256(key name || 0x0A || type || public key)[:4]``. Two
signature types are accepted, chosen by the caller's verifiers, never by the
note: Ed25519 (0x01) over the note text, and cosignature/v1 (0x04) over
``cosignature/v1\\ntime <t>\\n`` + the note text, whose signature bytes are the
8-byte big-endian timestamp followed by the 64-byte Ed25519 signature.

Strictness (each value has one accepted spelling, so a changed byte can never
leave a note that still verifies):

* base64 is canonical padded standard base64: the spare bits of the last
  character must be zero (an Ed25519 line carries 68 bytes, so its last
  base64 character has 2 spare bits that a lenient decoder would ignore);
* vkey key IDs are exactly 8 lowercase hex digits;
* key names are non-empty, valid UTF-8, with no Unicode space, no ``+`` and no
  control character;
* at most :data:`MAX_NOTE_BYTES` bytes and :data:`MAX_SIGNATURES` lines (the
  spec asks verifiers to accept at least 16).

Errors: input that does not parse raises :class:`~ledger.errors.MalformedError`;
a signature that does not verify, or a note with no signature by a known key,
raises :class:`~ledger.errors.SignatureError`; calling the API wrongly (an
unsupported verifier type, an invalid name or text to sign) raises
``ValueError``/``TypeError``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger.errors import MalformedError, SignatureError
from ledger.tlog import ed25519
from ledger.tlog.encoding import b64d

__all__ = [
    "COSIGNATURE_SIZE",
    "KEY_ID_SIZE",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "MAX_TIMESTAMP",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "Verifier",
    "cosign",
    "cosignature_message",
    "is_valid_key_name",
    "key_id",
    "parse_note",
    "parse_signature_line",
    "sign_note",
    "verify_cosignature",
    "verifier_index",
    "verify_note",
]

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
SUPPORTED_TYPES = frozenset({SIG_ED25519, SIG_COSIGNATURE_V1})
KEY_ID_SIZE = 4
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100
MAX_VKEY_CHARS = 1024
MAX_TIMESTAMP = (1 << 63) - 1  # tlog-cosignature: "MUST NOT exceed 2^63 - 1"
COSIGNATURE_SIZE = 8 + ed25519.SIGNATURE_SIZE

_DASH = "\u2014 "  # em dash, space
_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f]")  # ASCII controls except newline (signed-note "Format")
_HEX_KEY_ID = re.compile(r"\A[0-9a-f]{8}\Z")


class NoteSigner(Protocol):
    """What signing needs: ``keys.Signer`` (or a test double) satisfies it."""

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


# --- names, key IDs ---------------------------------------------------------------


def is_valid_key_name(name: object) -> bool:
    """signed-note: key names are non-empty and contain no Unicode space and no ``+``.

    Control characters are refused too (a note may not contain them), and the
    name must be encodable as UTF-8 (no lone surrogates).
    """
    if not isinstance(name, str) or not name or "+" in name:
        return False
    if any(c.isspace() or c < " " for c in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _name_problem(name: object) -> str:
    return f"key name {name!r} must be non-empty, without spaces, '+' or control characters (e.g. example.org/log)"


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """signed-note "Signatures": ``SHA-256(key name || 0x0A || type || public key)[:4]``."""
    if not isinstance(name, str) or not isinstance(public_key, (bytes, bytearray)):
        raise TypeError("key_id(name: str, sig_type: int, public_key: bytes)")
    if isinstance(sig_type, bool) or not isinstance(sig_type, int) or not 0 <= sig_type <= 0xFF:
        raise ValueError(f"signature type must be one byte, got {sig_type!r}")
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + bytes(public_key)).digest()[:KEY_ID_SIZE]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- verifier keys -----------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: name, signature type (0x01 or 0x04), raw Ed25519 key, key ID.

    Build one with :meth:`ed25519`, :meth:`cosignature` or :meth:`from_vkey`;
    these refuse bad input with MalformedError. Direct construction checks the
    same invariants and raises ValueError (a programming mistake).
    """

    name: str
    sig_type: int
    public_key: bytes
    key_id: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise ValueError(_name_problem(self.name))
        if self.sig_type not in SUPPORTED_TYPES or isinstance(self.sig_type, bool):
            raise ValueError(f"unsupported signature type {self.sig_type!r}; eduledger uses 0x01 and 0x04")
        if type(self.public_key) is not bytes or len(self.public_key) != ed25519.PUBLIC_KEY_SIZE:
            raise ValueError("public_key must be 32 bytes")
        if type(self.key_id) is not bytes or self.key_id != key_id(self.name, self.sig_type, self.public_key):
            raise ValueError("key_id does not match name, type and public key")

    @classmethod
    def _make(cls, name: str, sig_type: int, public_key: bytes) -> "Verifier":
        if not is_valid_key_name(name):
            raise MalformedError(_name_problem(name))
        pub = ed25519.check_public_key(bytes(public_key) if isinstance(public_key, bytearray) else public_key)
        return cls(name, sig_type, pub, key_id(name, sig_type, pub))

    @classmethod
    def ed25519(cls, name: str, public_key: bytes) -> "Verifier":
        """An Ed25519 (0x01) note signer, e.g. the log key."""
        return cls._make(name, SIG_ED25519, public_key)

    @classmethod
    def cosignature(cls, name: str, public_key: bytes) -> "Verifier":
        """A cosignature/v1 (0x04) witness key."""
        return cls._make(name, SIG_COSIGNATURE_V1, public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> "Verifier":
        """Parse ``<name>+<8 lowercase hex key ID>+<base64(type || 32-byte public key)>``.

        The key ID must equal the one computed from the name, type and key.
        Types other than 0x01 and 0x04 are refused.
        """
        if not isinstance(vkey, str):
            raise MalformedError("a vkey is a string <name>+<key id>+<base64 key>")
        if len(vkey) > MAX_VKEY_CHARS:
            raise MalformedError(f"vkey is longer than {MAX_VKEY_CHARS} characters")
        name, sep1, rest = vkey.partition("+")
        hex_id, sep2, key64 = rest.partition("+")
        if not (sep1 and sep2):
            raise MalformedError("a vkey is <name>+<key id>+<base64 key>")
        if not is_valid_key_name(name):
            raise MalformedError(_name_problem(name))
        if not _HEX_KEY_ID.match(hex_id):
            raise MalformedError(f"vkey key id must be 8 lowercase hex digits, got {hex_id!r}")
        raw = b64d(key64, "vkey key")
        if not raw:
            raise MalformedError("vkey key is empty")
        sig_type, public_key = raw[0], raw[1:]
        if sig_type not in SUPPORTED_TYPES:
            raise MalformedError(f"vkey signature type 0x{sig_type:02x} is not supported; eduledger accepts 0x01 and 0x04")
        if len(public_key) != ed25519.PUBLIC_KEY_SIZE:
            raise MalformedError(f"vkey public key has {len(public_key)} bytes, want {ed25519.PUBLIC_KEY_SIZE}")
        want = key_id(name, sig_type, public_key)
        if bytes.fromhex(hex_id) != want:
            raise MalformedError(f"vkey key id {hex_id} does not match the key (computed {want.hex()})")
        return cls(name, sig_type, ed25519.check_public_key(public_key), want)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.sig_type]) + self.public_key)}"


# --- notes -------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line. ``signature`` is everything after the 4-byte key ID
    (for cosignatures: the 8-byte timestamp and the Ed25519 signature)."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise ValueError(_name_problem(self.name))
        if type(self.key_id) is not bytes or len(self.key_id) != KEY_ID_SIZE:
            raise ValueError("key_id must be 4 bytes")
        if type(self.signature) is not bytes or not self.signature:
            raise ValueError("signature must be non-empty bytes")

    def line(self) -> str:
        """``— <name> <base64(key ID || signature)>`` with its newline."""
        return f"{_DASH}{self.name} {_b64(self.key_id + self.signature)}\n"


def _check_text(text: object) -> bytes:
    """The UTF-8 bytes of a valid note text, else ValueError (used when signing)."""
    if not isinstance(text, str):
        raise TypeError("note text must be a str")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("note text is not valid UTF-8") from None
    if not raw.endswith(b"\n"):
        raise ValueError("note text must end with a newline")
    if _CONTROL.search(raw):
        raise ValueError("note text must not contain control characters other than newline")
    return raw


@dataclass(frozen=True)
class Note:
    """A note text and its signature lines (1..MAX_SIGNATURES, in order, duplicates kept)."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)
        if not isinstance(self.signatures, tuple) or not all(isinstance(s, NoteSignature) for s in self.signatures):
            raise TypeError("signatures must be a tuple of NoteSignature")
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise ValueError(f"a note has 1 to {MAX_SIGNATURES} signatures, got {len(self.signatures)}")

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode("utf-8")


def parse_signature_line(line: bytes | str) -> NoteSignature:
    """Parse one ``— <name> <base64>`` line (with or without its newline)."""
    if isinstance(line, (bytes, bytearray)):
        try:
            line = bytes(line).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("signature line is not valid UTF-8") from None
    if not isinstance(line, str):
        raise TypeError("a signature line is bytes or str")
    if line.endswith("\n"):
        line = line[:-1]
    if "\n" in line or _CONTROL.search(line.encode("utf-8", "surrogatepass")):
        raise MalformedError("signature line contains a newline or control character")
    return _parse_line(line)


def _parse_line(line: str) -> NoteSignature:
    if not line.startswith(_DASH):
        raise MalformedError("a signature line starts with an em dash (U+2014) and a space")
    name, space, b64 = line[len(_DASH) :].partition(" ")
    if not space:
        raise MalformedError("a signature line is '— <key name> <base64 signature>'")
    if not is_valid_key_name(name):
        raise MalformedError(_name_problem(name))
    raw = b64d(b64, f"signature by {name}")  # canonical only: spare bits must be zero
    if len(raw) <= KEY_ID_SIZE:
        raise MalformedError(f"signature by {name} has {len(raw)} bytes, want a 4-byte key id and a signature")
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def _split(data: bytes) -> tuple[bytes, Note]:
    """Parse ``data`` into (exact signed text bytes, Note). signed-note "Format"."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a note is bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_NOTE_BYTES:
        raise MalformedError(f"note has {len(data)} bytes, more than the {MAX_NOTE_BYTES} accepted")
    if _CONTROL.search(data):
        raise MalformedError("note contains a control character other than newline")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("note is not valid UTF-8") from None
    # "the text is separated from the signatures by the last empty line in the note"
    sep = data.rfind(b"\n\n")
    if sep < 0:
        raise MalformedError("note has no blank line before its signatures")
    text_bytes, block = data[: sep + 1], data[sep + 2 :]
    if not block or not block.endswith(b"\n"):
        raise MalformedError("note must end with signature lines, each ending in a newline")
    lines = block[:-1].split(b"\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError(f"note has {len(lines)} signature lines, more than the {MAX_SIGNATURES} accepted")
    sigs = tuple(_parse_line(line.decode("utf-8")) for line in lines)
    # The split is at an ASCII newline of valid UTF-8, so the text decodes on its own.
    return text_bytes, Note(text_bytes.decode("utf-8"), sigs)


def parse_note(data: bytes) -> Note:
    """Split a signed note into its text and signature lines, strictly (MalformedError).

    Parsing is not verification: the text must not be used before
    :func:`verify_note` (or ``ledger.tlog.checkpoint.verify_checkpoint``) accepted it.
    """
    return _split(data)[1]


def sign_note(text: str, name: str, signer: NoteSigner) -> NoteSignature:
    """Ed25519 (type 0x01) signature line for ``text`` by ``signer``."""
    raw = _check_text(text)
    if not is_valid_key_name(name):
        raise ValueError(_name_problem(name))
    pub = bytes(signer.public_key)
    sig = signer.sign(raw)
    if len(sig) != ed25519.SIGNATURE_SIZE:
        raise ValueError(f"signer returned {len(sig)} bytes, want an Ed25519 signature")
    return NoteSignature(name, key_id(name, SIG_ED25519, pub), bytes(sig))


def verifier_index(verifiers: Sequence[Verifier], sig_type: int, what: str) -> dict[tuple[str, bytes], Verifier]:
    """Trusted keys by (name, key ID); refuses other types and ambiguous duplicates (API misuse)."""
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        if not isinstance(v, Verifier):
            raise TypeError(f"{what} must be Verifier objects, got {type(v).__name__}")
        if v.sig_type != sig_type:
            raise ValueError(f"{what} must have signature type 0x{sig_type:02x}, {v.name} has 0x{v.sig_type:02x}")
        prev = known.setdefault((v.name, v.key_id), v)
        if prev.public_key != v.public_key:
            raise ValueError(f"two different {what} share name {v.name} and key id {v.key_id.hex()}")
    return known


def verify_note(data: bytes, verifiers: Sequence[Verifier]) -> Note:
    """Verify a note signed with Ed25519 (0x01) by at least one of ``verifiers``.

    signed-note "Signatures": lines whose (name, key ID) match no verifier are
    ignored; every line that matches one is verified (duplicates included) and
    a failure rejects the whole note (SignatureError); with no valid signature
    by a known key the note is rejected (SignatureError). Signatures are
    checked over the exact text bytes of ``data``; only then is the returned
    note's text meaningful. ``verifiers`` must be non-empty and of type 0x01
    (cosignatures are checked by ``ledger.tlog.checkpoint.verify_checkpoint``).
    """
    known = verifier_index(verifiers, SIG_ED25519, "note verifiers")
    if not known:
        raise ValueError("verify_note needs at least one verifier")
    text_bytes, note = _split(data)
    verified = False
    for sig in note.signatures:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            continue  # unknown key: ignored, even if it shares a name or a key id with a known one
        try:
            ed25519.verify(v.public_key, sig.signature, text_bytes)
        except SignatureError:
            raise SignatureError(f"signature by {sig.name}+{sig.key_id.hex()} does not verify") from None
        verified = True
    if not verified:
        wanted = ", ".join(sorted(f"{n}+{k.hex()}" for n, k in known))
        raise SignatureError(f"note carries no signature by a trusted key (want {wanted})")
    return note


# --- cosignature/v1 (c2sp.org/tlog-cosignature, "Ed25519 signed message") -------------


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """``cosignature/v1\\n`` + ``time <timestamp>\\n`` + the whole checkpoint text."""
    return b"cosignature/v1\ntime %d\n" % timestamp + _check_text(checkpoint_text)


def _check_timestamp(timestamp: object) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError("timestamp must be an int (POSIX seconds)")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp {timestamp} is outside 0..2^63-1")
    return timestamp


def cosign(checkpoint_text: str, name: str, signer: NoteSigner, timestamp: int) -> NoteSignature:
    """A cosignature/v1 (type 0x04) line over ``checkpoint_text`` at ``timestamp``.

    The signature bytes are ``u64be(timestamp) || Ed25519 signature``; the key ID
    uses type 0x04, so the same key cannot pass for a 0x01 signer.
    """
    _check_timestamp(timestamp)
    if not is_valid_key_name(name):
        raise ValueError(_name_problem(name))
    message = cosignature_message(checkpoint_text, timestamp)
    sig = signer.sign(message)
    if len(sig) != ed25519.SIGNATURE_SIZE:
        raise ValueError(f"signer returned {len(sig)} bytes, want an Ed25519 signature")
    pub = bytes(signer.public_key)
    return NoteSignature(name, key_id(name, SIG_COSIGNATURE_V1, pub), timestamp.to_bytes(8, "big") + bytes(sig))


def verify_cosignature(text: str, sig: NoteSignature, verifier: Verifier) -> int:
    """Return the timestamp of a valid cosignature/v1 of ``text`` by ``verifier``.

    SignatureError if the line is not from this key (name or key ID differ), is
    not 8 + 64 bytes, has a timestamp above 2^63-1, or does not verify.
    ``verifier`` must be of type 0x04 (ValueError otherwise).
    """
    if not isinstance(verifier, Verifier) or not isinstance(sig, NoteSignature):
        raise TypeError("verify_cosignature(text: str, sig: NoteSignature, verifier: Verifier)")
    if verifier.sig_type != SIG_COSIGNATURE_V1:
        raise ValueError(f"{verifier.name} is not a cosignature (0x04) key")
    if sig.name != verifier.name or sig.key_id != verifier.key_id:
        raise SignatureError(f"line by {sig.name}+{sig.key_id.hex()} is not from witness {verifier.name}+{verifier.key_id.hex()}")
    if len(sig.signature) != COSIGNATURE_SIZE:
        raise SignatureError(f"cosignature by {sig.name} has {len(sig.signature)} bytes, want {COSIGNATURE_SIZE}")
    timestamp = int.from_bytes(sig.signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise SignatureError(f"cosignature by {sig.name} has a timestamp above 2^63-1")
    try:
        ed25519.verify(verifier.public_key, sig.signature[8:], cosignature_message(text, timestamp))
    except SignatureError:
        raise SignatureError(f"cosignature by {sig.name} does not verify") from None
    return timestamp
