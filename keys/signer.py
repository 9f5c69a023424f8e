"""Ed25519 signing keys (pyca/cryptography). With keys/keyfile.py, the only code that touches private keys.

A :class:`Signer` satisfies ``ledger.tlog.note.NoteSigner`` (``public_key`` and
``sign``). It never shows its seed: its ``repr`` names the public key only, and
it refuses to be pickled or copied, so it cannot end up in a log line, a cache
or a crash dump by accident. Persist it with :func:`keys.keyfile.save_signer`.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["SEED_SIZE", "Signer"]

SEED_SIZE = 32


class Signer:
    """An Ed25519 private key held in memory."""

    __slots__ = ("_key", "_public_key")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError("Signer wraps an Ed25519PrivateKey; use Signer.generate() or Signer.from_private_bytes()")
        self._key = key
        self._public_key = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @classmethod
    def generate(cls) -> "Signer":
        """A new key from the operating system's CSPRNG."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, seed: bytes) -> "Signer":
        """The key with this 32-byte RFC 8032 seed."""
        if not isinstance(seed, (bytes, bytearray)):
            raise TypeError("an Ed25519 seed is bytes")
        if len(seed) != SEED_SIZE:
            raise ValueError(f"an Ed25519 seed is {SEED_SIZE} bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(bytes(seed)))

    @property
    def public_key(self) -> bytes:
        """The 32-byte raw Ed25519 public key."""
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return self._key.sign(message)

    def private_bytes(self) -> bytes:
        """The 32-byte seed, for keys/keyfile.py to encrypt. Nothing else should call this."""
        return self._key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())

    def __repr__(self) -> str:
        return f"Signer(public_key={base64.b64encode(self._public_key).decode()})"

    __str__ = __repr__

    def __reduce__(self) -> object:
        raise TypeError("a Signer cannot be pickled or copied; save it with keys.keyfile.save_signer")

    def __reduce_ex__(self, protocol: object) -> object:
        return self.__reduce__()
