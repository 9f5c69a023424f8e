"""W3C Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite (VC DI EdDSA §3.2), the one Open Badges 3.0 names.

The proof lets a wallet, a learning-record store or any conformant verifier check a credential without
eduledger. The issuing institution signs with its ledger signing key (Ed25519, the one key type every node
accepts), named as a Multikey verification method of its ``did:web`` (``verifier/didweb.py``)::

    "proof": [{"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022",
               "created": "2026-03-01T10:00:00Z", "verificationMethod": "did:web:…:institutions:olymp-1#z6Mk…",
               "proofPurpose": "assertionMethod", "proofValue": "z<base58btc of the 64-byte signature>"}]

``proof`` is a list of one proof: VC 2.0 allows an object or a set, and the official Open Badges 3.0 JSON
Schema accepts only an array.

The signed bytes (§3.2.4–3.2.6): proof configuration = the proof without ``proofValue``, with the
credential's ``@context``; both it and the credential without ``proof`` are canonicalized with RDFC-1.0
(``verifier/rdfc.py``) and hashed with SHA-256; the signature is over ``hash(config) || hash(credential)``.

Order with the ledger: the proof is added first, then the credential (proof included) is hashed with
RFC 8785 and that digest is anchored. So the anchor authenticates the proof's bytes too, and eduledger's
own verifier needs the proof only when asked (``--check-proof``).

Pure: signing takes a ``sign(bytes) -> bytes`` callable (the private key stays in ``keys/``); verifying
takes the public key bytes the caller resolved (the ledger's key history decides which key was valid when).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from ledger.errors import MalformedError, SignatureError
from ledger.tlog import ed25519
from ledger.tlog.canonical import canonical_bytes
from verifier import rdfc

__all__ = [
    "CRYPTOSUITE",
    "add_proof",
    "base58btc_decode",
    "base58btc_encode",
    "multikey",
    "multikey_public_key",
    "proof_of",
    "verify_proof",
]

CRYPTOSUITE = "eddsa-rdfc-2022"
_ED25519_PUB = b"\xed\x01"  # multicodec ed25519-pub, varint-encoded
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
_TIME = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")


def base58btc_encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + "".join(reversed(out))


def base58btc_decode(text: str, *, max_len: int = 128) -> bytes:
    if not isinstance(text, str) or not text or len(text) > max_len * 2:
        raise MalformedError("not a base58btc text of a plausible length")
    n = 0
    for c in text:
        if c not in _B58_INDEX:
            raise MalformedError(f"{c!r} is not a base58btc character")
        n = n * 58 + _B58_INDEX[c]
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def multikey(public_key: bytes) -> str:
    """An Ed25519 public key as a Multikey ``publicKeyMultibase`` (``z6Mk…``)."""
    return "z" + base58btc_encode(_ED25519_PUB + ed25519.check_public_key(public_key))


def multikey_public_key(value: object) -> bytes:
    """The Ed25519 public key in a ``publicKeyMultibase``; MalformedError for anything else."""
    if not isinstance(value, str) or not value.startswith("z"):
        raise MalformedError("publicKeyMultibase must be base58btc multibase (starting with z)")
    raw = base58btc_decode(value[1:])
    if len(raw) != 34 or raw[:2] != _ED25519_PUB:
        raise MalformedError("publicKeyMultibase is not an Ed25519 public key (multicodec 0xed01, 32 bytes)")
    return ed25519.check_public_key(raw[2:])


@lru_cache(maxsize=1024)
def _config_hash(config_json: str) -> bytes:
    """SHA-256 of the canonical proof configuration: one per batch (same time, key and contexts), so cached."""
    import json

    return hashlib.sha256(rdfc.canonize(json.loads(config_json)).encode("utf-8")).digest()


def _hash_data(unsecured: Mapping[str, Any], config: Mapping[str, Any]) -> bytes:
    config_json = canonical_bytes(dict(config)).decode("utf-8")
    return _config_hash(config_json) + hashlib.sha256(rdfc.canonize(dict(unsecured)).encode("utf-8")).digest()


def add_proof(credential: Mapping[str, Any], *, sign: Callable[[bytes], bytes], verification_method: str, created: str) -> dict[str, Any]:
    """A copy of ``credential`` with an ``eddsa-rdfc-2022`` DataIntegrityProof by ``sign``."""
    if "proof" in credential:
        raise ValueError("the credential already carries a proof")
    if not isinstance(created, str) or not _TIME.match(created):
        raise ValueError("created must be an XML Schema dateTime, e.g. 2026-03-01T10:00:00Z")
    options = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }
    signature = sign(_hash_data(credential, {"@context": credential["@context"], **options}))
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise ValueError("sign() must return a 64-byte Ed25519 signature")
    return {**credential, "proof": [{**options, "proofValue": "z" + base58btc_encode(signature)}]}


def proof_of(credential: Mapping[str, Any]) -> Mapping[str, Any]:
    """The credential's one ``eddsa-rdfc-2022`` proof (a list of one, or the object), its shape checked; MalformedError otherwise."""
    proof = credential.get("proof")
    if isinstance(proof, list) and len(proof) == 1:
        proof = proof[0]
    if not isinstance(proof, dict):
        raise MalformedError("the credential carries no Data Integrity proof (exactly one proof expected)")
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != CRYPTOSUITE:
        raise MalformedError(f"the proof is not a DataIntegrityProof with cryptosuite {CRYPTOSUITE}")
    if proof.get("proofPurpose") != "assertionMethod":
        raise MalformedError("the proof's purpose must be assertionMethod")
    for name in ("verificationMethod", "proofValue", "created"):
        if not isinstance(proof.get(name), str) or not proof[name] or len(proof[name]) > 1000:
            raise MalformedError(f"the proof's {name} must be a non-empty text")
    if not _TIME.match(proof["created"]):
        raise MalformedError("the proof's created time is not an XML Schema dateTime")
    if "@context" in proof and proof["@context"] != credential.get("@context"):
        raise MalformedError("the proof's @context differs from the credential's")
    return proof


def verify_proof(credential: Mapping[str, Any], public_key: bytes) -> None:
    """Check the credential's proof with ``public_key`` (resolved by the caller from ``verificationMethod``).

    MalformedError for a missing or malformed proof; SignatureError when the signature does not verify,
    i.e. the credential (or its proof options) is not what the key signed."""
    proof = proof_of(credential)
    raw = base58btc_decode(proof["proofValue"][1:]) if proof["proofValue"].startswith("z") else b""
    if len(raw) != 64:
        raise MalformedError("the proofValue is not a base58btc (z…) 64-byte Ed25519 signature")
    unsecured = {k: v for k, v in credential.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k not in ("proofValue", "@context")}
    data = _hash_data(unsecured, {"@context": credential.get("@context"), **options})
    try:
        ed25519.verify(public_key, raw, data)
    except SignatureError:
        raise SignatureError("the Data Integrity proof does not verify: the credential is not what the key signed") from None
