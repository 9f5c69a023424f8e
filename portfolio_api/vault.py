"""Encryption at rest of personal data: a node master key wraps one data key per person.

* The master key (32 random bytes) lives in ``<data_dir>/portfolio-master.key``,
  created 0600 on first start. It wraps (AES-256-GCM) each person's data key and
  keys the HMAC that indexes e-mail addresses, so that the database holds no
  plaintext e-mail.
* A person's data key (32 random bytes) encrypts their personal fields and
  documents (AES-256-GCM, a fresh 96-bit nonce per value). Every ciphertext is
  bound by its associated data to the person and the field it belongs to, so a
  value copied into another row does not decrypt.
* A diploma PDF's QR code carries a secret per credential (``qr_secret``): an
  HMAC of the credential's digest under a key derived from the master key, so
  nothing is stored, every PDF of a credential carries the same one, and it
  opens the credential's facts only on this node (docs/portfolio.md, "Diploma PDFs").
* Erasing a person destroys their wrapped data key: every ciphertext made
  under it is then unreadable, in the database and in any backup of it
  (crypto-shredding), while digests on the ledger keep verifying.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.errors import KeyFileError, NotFoundError

MASTER_KEY_FILE = "portfolio-master.key"
_NONCE = 12


def load_or_create_master_key(data_dir: Path) -> bytes:
    """Read the node master key, creating it (0600, O_EXCL) if absent."""
    path = data_dir / MASTER_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != 32:
            raise KeyFileError(f"{path} is not a 32-byte key; restore it from backup (without it personal data cannot be read)") from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return key


class Vault:
    """Wraps data keys and encrypts personal fields. Holds the master key in memory only."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._wrap = AESGCM(hashlib.sha256(b"eduledger/portfolio/wrap\x00" + master_key).digest())
        self._index_key = hashlib.sha256(b"eduledger/portfolio/index\x00" + master_key).digest()
        self._csrf_key = hashlib.sha256(b"eduledger/portfolio/csrf\x00" + master_key).digest()
        self._qr_key = hashlib.sha256(b"eduledger/portfolio/qr\x00" + master_key).digest()

    def csrf_for_session(self, session_token: str) -> str:
        """The CSRF token of a signed-in session: bound to it, so a token planted without it is useless."""
        mac = hmac.new(self._csrf_key, session_token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def qr_secret(self, digest: str) -> str:
        """The secret a diploma's QR code carries for the credential with SHA-256 ``digest`` (hex):
        128 bits of HMAC-SHA256, base64url (22 characters). The digest alone is public (the log's tiles
        hold every one); the secret is printed only on the holder's PDF."""
        mac = hmac.new(self._qr_key, b"qr/" + digest.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def qr_secret_matches(self, digest: str, secret: str) -> bool:
        """Whether ``secret`` is the QR secret of ``digest``, compared in constant time."""
        return hmac.compare_digest(self.qr_secret(digest).encode(), secret.encode("utf-8", "replace"))

    # --- data keys ---

    @staticmethod
    def new_data_key() -> bytes:
        return secrets.token_bytes(32)

    def wrap(self, user_id: int, data_key: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._wrap.encrypt(nonce, data_key, f"dk/{user_id}".encode())

    def unwrap(self, user_id: int, wrapped: bytes | None) -> bytes:
        if wrapped is None:
            raise NotFoundError("this person's data was erased")
        try:
            return self._wrap.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], f"dk/{user_id}".encode())
        except InvalidTag:
            raise KeyFileError("a data key does not unwrap: the master key is not the one it was wrapped with") from None

    def email_index(self, email: str) -> str:
        return hmac.new(self._index_key, email.strip().lower().encode(), hashlib.sha256).hexdigest()

    # --- fields ---

    @staticmethod
    def encrypt(data_key: bytes, purpose: str, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + AESGCM(data_key).encrypt(nonce, plaintext, purpose.encode())

    @staticmethod
    def decrypt(data_key: bytes, purpose: str, ciphertext: bytes) -> bytes:
        try:
            return AESGCM(data_key).decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], purpose.encode())
        except InvalidTag:
            raise NotFoundError(f"encrypted {purpose} does not decrypt with this person's key") from None
