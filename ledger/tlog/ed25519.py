"""Ed25519 signature verification: the project's single verification path.

Every signature in eduledger (checkpoints, cosignatures, submission batches,
credentials) is verified here, with pyca/cryptography, so every node accepts
exactly the same signatures. Signing lives in :mod:`keys` (the one module that
touches private keys).
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import MalformedError, SignatureError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


@lru_cache(maxsize=4096)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def check_public_key(raw: bytes) -> bytes:
    """Return ``raw`` if it is a 32-byte Ed25519 public key, else MalformedError."""
    if not isinstance(raw, bytes) or len(raw) != PUBLIC_KEY_SIZE:
        raise MalformedError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes")
    try:
        _public_key(raw)
    except ValueError:
        raise MalformedError("not a valid Ed25519 public key") from None
    return raw


def verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Raise SignatureError unless ``signature`` is ``public_key``'s signature of ``message``."""
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError(f"signature has {len(signature)} bytes, want {SIGNATURE_SIZE}")
    try:
        _public_key(check_public_key(public_key)).verify(signature, message)
    except MalformedError as e:
        raise SignatureError(str(e)) from None
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None
