"""Key files: an Ed25519 seed encrypted at rest (format in docs/formats.md, "Key files").

::

    {"version": "eduledger-key/v1", "name": "<key name>", "kind": "witness",
     "public_key": "<base64 32 bytes>",
     "kdf": {"alg": "argon2id", "time_cost": 3, "memory_cost": 65536, "parallelism": 1, "salt": "<base64 16 bytes>"},
     "aead": {"alg": "chacha20poly1305", "nonce": "<base64 12 bytes>"},
     "ciphertext": "<base64 of the 32-byte seed encrypted, with its 16-byte tag>"}

* The AEAD key is Argon2id(passphrase, salt, params) (argon2-cffi), 32 bytes.
* The associated data is the RFC 8785 canonical JSON of every field but
  ``ciphertext`` (``ledger.tlog.canonical``), so the name, kind, public key and KDF
  parameters cannot be changed without the file failing to open. After
  decryption the public key is recomputed from the seed and compared as well.
* ``kind`` (``signing``, ``witness`` or ``log``) is optional: it tells
  ``eduledger keys`` which vkey type to print.
* Every field is checked (exact field set, types, ranges) before Argon2 runs,
  so a corrupt file cannot make the loader allocate gigabytes.

Writing: a temporary file in the same directory, created 0600 with O_EXCL,
fsynced, then renamed over the target (or hard-linked, when overwriting is not
allowed, so an existing key is never replaced), then the directory is fsynced.
A crash leaves either the old file or the new one, plus at worst a stray
``*.tmp``. Reading: a file whose mode grants anything to group or others is
refused (like ssh), with the ``chmod 600`` that fixes it.
"""

from __future__ import annotations

import errno
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from keys.signer import SEED_SIZE, Signer
from ledger.errors import KeyFileError, MalformedError
from ledger.tlog.canonical import canonical_bytes
from ledger.tlog.encoding import b64d, b64e
from ledger.tlog.note import is_valid_key_name

__all__ = ["DEFAULT_KDF", "KINDS", "VERSION", "KeyFile", "load_key_file", "load_signer", "save_signer"]

VERSION = "eduledger-key/v1"
KINDS = ("signing", "witness", "log")
DEFAULT_KDF = {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 1}  # memory_cost in KiB: 64 MiB
# Accepted ranges, on writing and before Argon2 runs on reading.
KDF_BOUNDS = {"time_cost": (1, 16), "memory_cost": (8 * 1024, 1024 * 1024), "parallelism": (1, 16)}
SALT_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
MAX_FILE_SIZE = 64 * 1024

_FIELDS = {"version", "name", "public_key", "kdf", "aead", "ciphertext"}
_OPTIONAL = {"kind"}
_KDF_FIELDS = {"alg", "time_cost", "memory_cost", "parallelism", "salt"}
_AEAD_FIELDS = {"alg", "nonce"}


@dataclass(frozen=True)
class KeyFile:
    """An opened key file: the signer, its name and (if recorded) its kind."""

    signer: Signer
    name: str
    kind: str | None


def _check_kdf(kdf: dict, problem: type[Exception], where: str) -> dict[str, int]:
    out = {}
    for k, (lo, hi) in KDF_BOUNDS.items():
        v = kdf.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise problem(f"{where}: argon2id {k} must be an integer in {lo}..{hi}, got {v!r}")
        out[k] = v
    if out["memory_cost"] < 8 * out["parallelism"]:
        raise problem(f"{where}: argon2id memory_cost must be at least 8 KiB per lane")
    return out


def _derive(passphrase: bytes, salt: bytes, kdf: dict[str, int]) -> bytes:
    return hash_secret_raw(
        secret=passphrase,
        salt=salt,
        time_cost=kdf["time_cost"],
        memory_cost=kdf["memory_cost"],
        parallelism=kdf["parallelism"],
        hash_len=32,
        type=Type.ID,
    )


def _associated_data(header: dict) -> bytes:
    return canonical_bytes(header)


def _check_passphrase(passphrase: object) -> bytes:
    if not isinstance(passphrase, (bytes, bytearray)):
        raise TypeError("the passphrase is bytes (see keys.passphrase.resolve_passphrase)")
    return bytes(passphrase)


def save_signer(
    path: str | os.PathLike[str],
    signer: Signer,
    passphrase: bytes,
    *,
    name: str,
    kind: str | None = None,
    overwrite: bool = True,
    time_cost: int | None = None,
    memory_cost: int | None = None,
    parallelism: int | None = None,
) -> None:
    """Encrypt ``signer`` under ``passphrase`` into ``path`` (mode 0600, atomically).

    ``overwrite=False`` refuses (KeyFileError) if ``path`` exists, atomically.
    Argon2id parameters default to :data:`DEFAULT_KDF` (read at call time);
    tests may pass cheaper ones (at least 8 MiB, 1 pass).
    """
    pw = _check_passphrase(passphrase)
    if not isinstance(signer, Signer):
        raise TypeError("save_signer stores a keys.Signer")
    if not pw:
        raise KeyFileError("refusing to encrypt a key with an empty passphrase; set EDULEDGER_KEY_PASSPHRASE")
    if not is_valid_key_name(name):
        raise KeyFileError(f"key name {name!r} must be non-empty, without spaces or '+'; use e.g. example.org/witness")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    given = {"time_cost": time_cost, "memory_cost": memory_cost, "parallelism": parallelism}
    kdf = _check_kdf({k: DEFAULT_KDF[k] if v is None else v for k, v in given.items()}, ValueError, "save_signer")
    salt, nonce = secrets.token_bytes(SALT_SIZE), secrets.token_bytes(NONCE_SIZE)
    header: dict = {
        "version": VERSION,
        "name": name,
        "public_key": b64e(signer.public_key),
        "kdf": {"alg": "argon2id", **kdf, "salt": b64e(salt)},
        "aead": {"alg": "chacha20poly1305", "nonce": b64e(nonce)},
    }
    if kind is not None:
        header["kind"] = kind
    ct = ChaCha20Poly1305(_derive(pw, salt, kdf)).encrypt(nonce, signer.private_bytes(), _associated_data(header))
    data = (json.dumps({**header, "ciphertext": b64e(ct)}, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    _write_private(Path(path), data, overwrite=overwrite)


def _write_private(path: Path, data: bytes, *, overwrite: bool) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)  # the bytes are on disk before the name points at them
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path exists: no check-then-write race
            except FileExistsError:
                raise KeyFileError(f"{path} already exists; choose another path or remove it first") from None
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                if path.exists():  # a filesystem without hard links: best effort
                    raise KeyFileError(f"{path} already exists; choose another path or remove it first") from None
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)  # the rename itself survives a crash
    finally:
        os.close(dfd)


def _read_private(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}; create one with 'eduledger keys generate'") from None
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)  # the file we read, not whatever the path points to later
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"{path} is not a regular file")
        if st.st_mode & 0o077:
            mode = stat.S_IMODE(st.st_mode)
            raise KeyFileError(f"key file {path} is accessible by group or others (mode {mode:04o}); run 'chmod 600 {path}'")
        if st.st_size > MAX_FILE_SIZE:
            raise KeyFileError(f"{path} is not a valid key file (larger than {MAX_FILE_SIZE} bytes)")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(MAX_FILE_SIZE + 1)
    finally:
        os.close(fd)


def _parse(path: Path, raw: bytes) -> tuple[dict, dict[str, int], bytes, bytes, bytes, bytes]:
    """(header, kdf params, salt, nonce, ciphertext, public key) or KeyFileError."""
    bad = f"{path} is not a valid key file"
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise KeyFileError(f"{bad} (not JSON)") from None
    if not isinstance(doc, dict):
        raise KeyFileError(f"{bad} (not a JSON object)")
    if doc.get("version") != VERSION:
        raise KeyFileError(f"{bad}: version {doc.get('version')!r}, this eduledger reads {VERSION}")
    keys = set(doc)
    if not _FIELDS <= keys or keys - _FIELDS - _OPTIONAL:
        raise KeyFileError(f"{bad}: fields {sorted(keys)}, want {sorted(_FIELDS)} and optionally 'kind'")
    header = {k: v for k, v in doc.items() if k != "ciphertext"}
    if not is_valid_key_name(header["name"]):
        raise KeyFileError(f"{bad}: invalid key name {header['name']!r}")
    if "kind" in header and header["kind"] not in KINDS:
        raise KeyFileError(f"{bad}: kind {header['kind']!r} is not one of {', '.join(KINDS)}")
    kdf, aead = header["kdf"], header["aead"]
    if not isinstance(kdf, dict) or set(kdf) != _KDF_FIELDS or kdf["alg"] != "argon2id":
        raise KeyFileError(f"{bad}: kdf must be argon2id with time_cost, memory_cost, parallelism and salt")
    if not isinstance(aead, dict) or set(aead) != _AEAD_FIELDS or aead["alg"] != "chacha20poly1305":
        raise KeyFileError(f"{bad}: aead must be chacha20poly1305 with a nonce")
    params = _check_kdf(kdf, KeyFileError, bad)
    try:
        salt = b64d(kdf["salt"], "kdf salt")
        nonce = b64d(aead["nonce"], "aead nonce", size=NONCE_SIZE)
        ct = b64d(doc["ciphertext"], "ciphertext", size=SEED_SIZE + TAG_SIZE)
        public_key = b64d(header["public_key"], "public_key", size=32)
    except MalformedError as e:
        raise KeyFileError(f"{bad}: {e}") from None
    if not 8 <= len(salt) <= 64:
        raise KeyFileError(f"{bad}: salt has {len(salt)} bytes, want 8..64")
    return header, params, salt, nonce, ct, public_key


def load_key_file(path: str | os.PathLike[str], passphrase: bytes) -> KeyFile:
    """Open a key file: KeyFileError if it is missing, too open, corrupt, or the passphrase is wrong."""
    pw = _check_passphrase(passphrase)
    path = Path(path)
    header, params, salt, nonce, ct, public_key = _parse(path, _read_private(path))
    try:
        aead_key = _derive(pw, salt, params)
    except HashingError as e:
        raise KeyFileError(f"cannot derive the key for {path}: {e}") from None
    try:
        seed = ChaCha20Poly1305(aead_key).decrypt(nonce, ct, _associated_data(header))
    except InvalidTag:
        raise KeyFileError(
            f"cannot open key file {path}: wrong passphrase or the file was modified; check EDULEDGER_KEY_PASSPHRASE"
        ) from None
    signer = Signer.from_private_bytes(seed)
    if not hmac.compare_digest(signer.public_key, public_key):
        raise KeyFileError(f"key file {path} names a public key that does not match its private key")
    return KeyFile(signer, header["name"], header.get("kind"))


def load_signer(path: str | os.PathLike[str], passphrase: bytes) -> tuple[Signer, str]:
    """Open a key file; returns the signer and the key's name."""
    kf = load_key_file(path, passphrase)
    return kf.signer, kf.name
