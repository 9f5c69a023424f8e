"""C2SP signed-note: notes, signature lines, verifier keys (vkeys), cosignature/v1.

Pure: bytes in, values out. A note is UTF-8 text ending in a newline, a blank
line, then signature lines ``— <key name> <base64(key ID || signature)>``.
The key ID is the first four bytes of SHA-256(key name || 0x0A || type ||
public key). Two signature types are accepted: Ed25519 (0x01) over the text,
and cosignature/v1 (0x04, C2SP tlog-cosignature) over
``cosignature/v1\\ntime <t>\\n`` + the text, carrying the 8-byte big-endian
timestamp before the signature.

Signatures are checked over the exact bytes before the text is interpreted
(``verify_note``); lines by unknown keys are ignored, as the spec requires.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ledger import ed25519
from ledger.encoding import b64d
from ledger.errors import MalformedError, SignatureError

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100
_DASH = "\u2014 "


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """C2SP key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c in name for c in " +\n\t") or any(ord(c) < 0x20 for c in name):
        raise MalformedError(f"key name {name!r} must be non-empty, without spaces, '+' or control characters")


@dataclass(frozen=True)
class Verifier:
    """A public key that may sign notes: its name, type and raw Ed25519 key."""

    name: str
    sig_type: int
    public_key: bytes
    key_id: bytes

    @classmethod
    def ed25519(cls, name: str, public_key: bytes) -> "Verifier":
        _check_name(name)
        return cls(name, SIG_ED25519, ed25519.check_public_key(public_key), key_id(name, SIG_ED25519, public_key))

    @classmethod
    def cosignature(cls, name: str, public_key: bytes) -> "Verifier":
        _check_name(name)
        return cls(name, SIG_COSIGNATURE_V1, ed25519.check_public_key(public_key), key_id(name, SIG_COSIGNATURE_V1, public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> "Verifier":
        """Parse ``<name>+<hex key ID>+<base64(type || public key)>``."""
        if not isinstance(vkey, str):
            raise MalformedError("a vkey is a string")
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise MalformedError("a vkey is <name>+<key id hex>+<base64 key>")
        name, hex_id, b64 = parts
        _check_name(name)
        try:
            kid = bytes.fromhex(hex_id)
        except ValueError:
            raise MalformedError("vkey key id is not hex") from None
        raw = b64d(b64, "vkey key")
        if len(kid) != 4 or len(raw) != 33:
            raise MalformedError("vkey key id must be 4 bytes and the key 1 + 32 bytes")
        sig_type, public_key = raw[0], raw[1:]
        if sig_type not in (SIG_ED25519, SIG_COSIGNATURE_V1):
            raise MalformedError(f"unsupported vkey signature type 0x{sig_type:02x}")
        if key_id(name, sig_type, public_key) != kid:
            raise MalformedError("vkey key id does not match the key")
        return cls(name, sig_type, ed25519.check_public_key(public_key), kid)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()}"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the bytes after the 4-byte key ID are ``signature``."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode()


def parse_note(data: bytes) -> Note:
    """Split a note into text and signature lines, strictly."""
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedError("a note is bytes")
    if len(data) > MAX_NOTE_BYTES:
        raise MalformedError(f"note is larger than {MAX_NOTE_BYTES} bytes")
    try:
        s = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("note is not valid UTF-8") from None
    if any((ord(c) < 0x20 and c != "\n") or c == "\x7f" for c in s):
        raise MalformedError("note contains control characters")
    sep = s.rfind("\n\n")
    if sep < 0 or not s.endswith("\n"):
        raise MalformedError("note must be text, a blank line, and signature lines, each ending in a newline")
    text, sig_block = s[: sep + 1], s[sep + 2 :]
    lines = sig_block[:-1].split("\n") if sig_block else []
    if not lines:
        raise MalformedError("note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError(f"note has more than {MAX_SIGNATURES} signatures")
    sigs = []
    for line in lines:
        if not line.startswith(_DASH):
            raise MalformedError("signature lines start with an em dash and a space")
        name, space, b64 = line[len(_DASH) :].partition(" ")
        if not space or " " in b64:
            raise MalformedError("signature line is '— <name> <base64>'")
        _check_name(name)
        raw = b64d(b64, "signature")  # canonical only: spare bits must be zero
        if len(raw) < 5:
            raise MalformedError("signature is too short")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    return Note(text, tuple(sigs))


def sign_note(text: str, name: str, signer: object) -> NoteSignature:
    """Ed25519 (type 0x01) signature of ``text`` by ``signer`` (has .sign and .public_key)."""
    pub = bytes(signer.public_key)  # type: ignore[attr-defined]
    return NoteSignature(name, key_id(name, SIG_ED25519, pub), signer.sign(text.encode()))  # type: ignore[attr-defined]


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def cosign(text: str, name: str, signer: object, timestamp: int) -> NoteSignature:
    """cosignature/v1 (type 0x04) over the checkpoint ``text`` at ``timestamp``."""
    if not 0 <= timestamp < 1 << 63:
        raise ValueError("timestamp out of range")
    pub = bytes(signer.public_key)  # type: ignore[attr-defined]
    sig = signer.sign(_cosigned_message(text, timestamp))  # type: ignore[attr-defined]
    return NoteSignature(name, key_id(name, SIG_COSIGNATURE_V1, pub), struct.pack(">Q", timestamp) + sig)


def verify_cosignature(text: str, sig: NoteSignature, verifier: Verifier) -> int:
    """Return the cosignature's timestamp, or raise SignatureError."""
    if verifier.sig_type != SIG_COSIGNATURE_V1 or sig.key_id != verifier.key_id or sig.name != verifier.name:
        raise SignatureError("cosignature is not from this witness key")
    if len(sig.signature) != 8 + ed25519.SIGNATURE_SIZE:
        raise SignatureError("cosignature must be an 8-byte timestamp and a 64-byte signature")
    (timestamp,) = struct.unpack(">Q", sig.signature[:8])
    if timestamp >= 1 << 63:
        raise SignatureError("cosignature timestamp out of range")
    ed25519.verify(verifier.public_key, sig.signature[8:], _cosigned_message(text, timestamp))
    return timestamp


def verify_note(data: bytes, verifiers: Sequence[Verifier]) -> Note:
    """Check ``data`` carries at least one valid Ed25519 signature by a known key.

    Lines by unknown keys are ignored; a line by a known key that does not verify
    raises SignatureError. Returns the parsed note (its text may then be trusted).
    """
    note = parse_note(data)
    known = {(v.name, v.key_id): v for v in verifiers if v.sig_type == SIG_ED25519}
    ok = False
    for sig in note.signatures:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            continue
        try:
            ed25519.verify(v.public_key, sig.signature, note.text.encode())
        except SignatureError:
            raise SignatureError(f"signature by {sig.name} does not verify") from None
        ok = True
    if not ok:
        raise SignatureError("no signature by a trusted key")
    return note
