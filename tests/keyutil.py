"""Small key helpers for tests that must not depend on key files."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class RawSigner:
    """An in-memory Ed25519 signer with the interface of keys.Signer (sign, public_key)."""

    def __init__(self, seed: bytes | None = None) -> None:
        self._k = Ed25519PrivateKey.from_private_bytes(seed) if seed else Ed25519PrivateKey.generate()
        self.public_key = self._k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, message: bytes) -> bytes:
        return self._k.sign(message)
