"""Issuer identifiers: one ``did:web`` per institution under the network's public URL (W3C did:web method).

::

    network URL  https://edu.example.ru          http://127.0.0.1:8101
    DID          did:web:edu.example.ru:institutions:olymp-1
                 did:web:127.0.0.1%3A8101:institutions:olymp-1
    document     <network URL>/institutions/olymp-1/did.json

The DID is the same whichever node answers (every node serves the document from the ledger's registry:
``portfolio_api/routers/didweb.py``). Its document lists *all* the institution's keys — rotated ones too —
as Multikey verification methods in ``assertionMethod``, each with its ``publicKeyMultibase`` as the
fragment (``…#z6Mk…``), so a key's method id never changes. It says nothing of when a key was valid:
outside libraries treat ``revoked``/``expires`` as "reject everything signed", while the ledger knows
which key was valid at each issue time (eduledger's verifier, step 7). did:web means HTTPS in production;
the demo and tests over plain HTTP resolve documents through a document loader instead of the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

from ledger.errors import MalformedError
from verifier.dataintegrity import multikey, multikey_public_key

__all__ = ["DID_CONTEXTS", "did_document", "document_path", "document_url", "institution_did", "institution_of_did", "method_key"]

DID_CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
_INSTITUTION = re.compile(r"\A[a-z0-9][a-z0-9.-]{1,62}[a-z0-9]\Z")
_DID = re.compile(r"\Adid:web:([A-Za-z0-9.%-]+(?::[A-Za-z0-9._%-]+)*)\Z")


def institution_did(network_url: str, institution: str) -> str:
    """The DID of ``institution`` on the network published at ``network_url``."""
    parts = urlsplit(network_url) if isinstance(network_url, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise MalformedError(f"the network URL must be an http(s) URL without query or fragment, got {network_url!r}")
    if not _INSTITUTION.match(institution):
        raise MalformedError(f"not an institution identifier: {institution!r}")
    host = quote(parts.netloc.lower(), safe=".-")  # the port's colon becomes %3A
    path = [quote(p, safe="._-") for p in parts.path.split("/") if p]
    return ":".join(["did", "web", host, *path, "institutions", institution])


def institution_of_did(did: object) -> str | None:
    """The institution a did:web names (``…:institutions:<id>``), or None if it is not such a DID."""
    if not isinstance(did, str) or len(did) > 300 or not _DID.match(did):
        return None
    segments = did.split(":")
    if len(segments) < 5 or segments[-2] != "institutions" or not _INSTITUTION.match(segments[-1]):
        return None
    return segments[-1]


def document_path(institution: str) -> str:
    """The path every node serves an institution's DID document at (under the network URL)."""
    return f"/institutions/{institution}/did.json"


def document_url(did: str, *, scheme: str = "https") -> str:
    """Where a did:web's document is (did:web §3.2.1: ``https://<host>/<path>/did.json``)."""
    m = _DID.match(did) if isinstance(did, str) else None
    if m is None:
        raise MalformedError(f"not a did:web: {did!r}")
    host, *path = m.group(1).split(":")
    return f"{scheme}://{unquote(host)}/" + "/".join(unquote(p) for p in path) + "/did.json"


def did_document(did: str, public_keys: Iterable[bytes]) -> dict[str, object]:
    """The DID document: every key as a Multikey method, all of them for ``assertionMethod``."""
    methods, seen = [], set()
    for key in public_keys:
        mk = multikey(key)
        if mk in seen:
            continue
        seen.add(mk)
        methods.append({"id": f"{did}#{mk}", "type": "Multikey", "controller": did, "publicKeyMultibase": mk})
    return {"@context": list(DID_CONTEXTS), "id": did, "verificationMethod": methods, "assertionMethod": [m["id"] for m in methods]}


def method_key(verification_method: object) -> tuple[str, bytes]:
    """(institution, public key) named by a proof's ``verificationMethod`` (``<did:web>#<publicKeyMultibase>``)."""
    if not isinstance(verification_method, str) or "#" not in verification_method:
        raise MalformedError("the verificationMethod must be <did>#<publicKeyMultibase>")
    did, fragment = verification_method.split("#", 1)
    institution = institution_of_did(did)
    if institution is None:
        raise MalformedError("the verificationMethod is not an eduledger institution's did:web")
    return institution, multikey_public_key(fragment)
