"""Key files: an Ed25519 seed encrypted at rest.

Format (JSON, see docs/formats.md): version, key name, public key, Argon2id
parameters and salt, ChaCha20-Poly1305 nonce and ciphertext. The header
(everything but the ciphertext) is the AEAD's associated data, so changing the
name, the public key or the KDF parameters makes the file fail to open.
Files are written atomically (temporary file, then rename) with mode 0600, and
a file readable by group or others is refused.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from keys.signer import Signer
from ledger.errors import KeyFileError

VERSION = "eduledger-key/v1"
DEFAULT_KDF = {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 1}


def _derive(passphrase: bytes, salt: bytes, kdf: dict) -> bytes:
    return hash_secret_raw(
        passphrase, salt, time_cost=kdf["time_cost"], memory_cost=kdf["memory_cost"], parallelism=kdf["parallelism"], hash_len=32, type=Type.ID
    )


def _header_bytes(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def save_signer(path: Path, signer: Signer, passphrase: bytes, *, name: str, **kdf_overrides: int) -> None:
    if not passphrase:
        raise KeyFileError("refusing to encrypt a key with an empty passphrase")
    kdf = {**DEFAULT_KDF, **kdf_overrides}
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = {
        "version": VERSION,
        "name": name,
        "public_key": base64.b64encode(signer.public_key).decode(),
        "kdf": {"alg": "argon2id", **kdf, "salt": base64.b64encode(salt).decode()},
        "aead": {"alg": "chacha20poly1305", "nonce": base64.b64encode(nonce).decode()},
    }
    ct = ChaCha20Poly1305(_derive(passphrase, salt, kdf)).encrypt(nonce, signer.private_bytes(), _header_bytes(header))
    doc = {**header, "ciphertext": base64.b64encode(ct).decode()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_signer(path: Path, passphrase: bytes) -> tuple[Signer, str]:
    """Open a key file; returns the signer and the key's name."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}") from None
    except OSError as e:
        raise KeyFileError(f"cannot read {path}: {e.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} is readable by others; run 'chmod 600 {path}'")
    try:
        doc = json.loads(raw)
        header = {k: doc[k] for k in ("version", "name", "public_key", "kdf", "aead")}
        if header["version"] != VERSION or header["kdf"]["alg"] != "argon2id" or header["aead"]["alg"] != "chacha20poly1305":
            raise KeyFileError(f"{path} is not an {VERSION} key file")
        kdf = {k: int(header["kdf"][k]) for k in ("time_cost", "memory_cost", "parallelism")}
        salt = base64.b64decode(header["kdf"]["salt"], validate=True)
        nonce = base64.b64decode(header["aead"]["nonce"], validate=True)
        ct = base64.b64decode(doc["ciphertext"], validate=True)
    except KeyFileError:
        raise
    except (ValueError, KeyError, TypeError):
        raise KeyFileError(f"{path} is not a valid key file") from None
    try:
        seed = ChaCha20Poly1305(_derive(passphrase, salt, kdf)).decrypt(nonce, ct, _header_bytes(header))
    except InvalidTag:
        raise KeyFileError(f"cannot open {path}: wrong passphrase or the file was altered") from None
    signer = Signer.from_private_bytes(seed)
    if base64.b64encode(signer.public_key).decode() != header["public_key"]:
        raise KeyFileError(f"{path}: the public key does not match the private key")
    return signer, header["name"]
