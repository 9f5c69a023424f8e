"""Keys: Ed25519 signers, encrypted key files, passphrase sources.

This package is the only code that touches private keys. Signing everywhere
goes through :class:`keys.signer.Signer` (pyca/cryptography Ed25519).
"""

from keys.keyfile import KeyFile, load_key_file, load_signer, save_signer
from keys.passphrase import resolve_passphrase
from keys.signer import Signer

__all__ = ["KeyFile", "Signer", "load_key_file", "load_signer", "resolve_passphrase", "save_signer"]
