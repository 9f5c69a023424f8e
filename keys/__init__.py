"""Institution keys: Ed25519 signers, encrypted key files, passphrase sources.

This package is the only code that touches private keys.
"""

from keys.keyfile import load_signer, save_signer
from keys.passphrase import resolve_passphrase
from keys.signer import Signer

__all__ = ["Signer", "load_signer", "resolve_passphrase", "save_signer"]
