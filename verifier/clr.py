"""A learner's record as one standard document: a 1EdTech CLR 2.0 ``ClrCredential`` (pure).

Issue 17: an applicant hands a university one file holding her achievements, which the university can check
with any Verifiable Credentials library. CLR 2.0 (Comprehensive Learner Record Standard 2.0, §ClrCredential,
§ClrSubject) is that file: a W3C VC 2.0 credential whose subject carries the learner's credentials, each as
it was issued and still verifiable on its own, the whole signed by the institution that assembled it::

    {"@context": ["https://www.w3.org/ns/credentials/v2",
                  "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json",
                  "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
                  "<network URL>/contexts/eduledger-v1.jsonld"],
     "id": "urn:uuid:<random>",
     "type": ["VerifiableCredential", "ClrCredential"],
     "name": "...", "partial": true,
     "issuer": {"id": "did:web:<network host>:institutions:<institution>", "type": ["Profile"], "name": "..."},
     "validFrom": "2026-03-01T10:00:00Z",
     "credentialSubject": {"id": "urn:uuid:<random>", "type": ["ClrSubject"], "name": "<holder>",
                           "identifier": [<the holder's e-mail as a salted, hashed IdentityObject>]?,
                           "verifiableCredential": [<each OpenBadgeCredential exactly as issued, proof included>]},
     "proof": [<the assembling institution's eddsa-rdfc-2022 DataIntegrityProof>]}

* The embedded credentials are the caller's objects, untouched: each one's RFC 8785 digest is still the one
  its issuer anchored, and its own proof still verifies. The outer proof covers them too (they are part of the
  signed RDF dataset), so nothing can be added, dropped or changed without breaking it; their order is not
  signed (CLR's context makes ``verifiableCredential`` a set).
* ``partial`` is true unless the caller says the record is the learner's complete one: a share link shows
  what its owner chose, and the document must not claim more (CLR 2.0 §ClrCredential.partial). Its value is
  never computed from what else the learner holds, so it reveals nothing about what was not shared.
* The subject is named as CLR 2.0 asks (an ``id`` or an ``identifier``): a fresh random ``urn:uuid:`` per
  document, so two exports cannot be linked by it, and, given the holder's e-mail, an OB 3.0 IdentityObject
  with a fresh salt (``verifier/holder.py``): never the address in the clear.
* eduledger's context is named too, after CLR's and OB's: the embedded credentials use its terms, and a
  processor compacting the expanded record under the record's own ``@context`` gets them back by name.

:func:`build_clr` builds and validates; :func:`prove_clr` adds the proof (the same step as a credential's,
``verifier.credentials.prove``); :func:`parse_clr` is the one parser of a record. Limits: at most
:data:`MAX_CREDENTIALS` embedded credentials.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.errors import MalformedError
from ledger.tlog.timefmt import format_time, parse_time
from verifier.credentials import OB_CONTEXT, VC_CONTEXT, extension_context, institution_of, parse_credential, prove
from verifier.dataintegrity import proof_of
from verifier.didweb import institution_did
from verifier.holder import email_identity, parse_identifiers, random_subject_id

__all__ = ["CLR_CONTEXT", "CLR_SCHEMA", "MAX_CREDENTIALS", "ParsedClr", "build_clr", "parse_clr", "prove_clr"]

#: The CLR 2.0 context, version 2.0.1 (``verifier/contexts/clr-context-2.0.1.json``).
CLR_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
#: The official JSON Schema a ClrCredential conforms to (vendored under ``tests/verifier/schemas/``).
CLR_SCHEMA = "https://purl.imsglobal.org/spec/clr/v2p0/schema/json/clr_v2p0_clrcredential_schema.json"
#: Most credentials one record carries: bounds the work of building, signing and parsing it.
MAX_CREDENTIALS = 500


def _text(v: object, name: str, max_len: int = 300) -> str:
    if not isinstance(v, str) or not v.strip() or len(v) > max_len or any(ord(c) < 0x20 or c == "\x7f" for c in v):
        raise MalformedError(f"{name} must be a non-empty text of at most {max_len} characters")
    return v.strip()


def _checked_credentials(credentials: object) -> list[dict[str, Any]]:
    """The embedded credentials, each an eduledger OpenBadgeCredential with its issuer's proof, ids distinct."""
    if not isinstance(credentials, (list, tuple)) or not 1 <= len(credentials) <= MAX_CREDENTIALS:
        raise MalformedError(f"a CLR carries 1 to {MAX_CREDENTIALS} credentials")
    seen: set[str] = set()
    for n, cred in enumerate(credentials):
        where = f"credentialSubject.verifiableCredential[{n}]"
        try:
            parsed = parse_credential(cred)
            proof_of(cred)  # type: ignore[arg-type]
        except MalformedError as e:
            raise MalformedError(f"{where}: {e}") from None
        if parsed.id in seen:
            raise MalformedError(f"{where}: credential {parsed.id} is in the record twice")
        seen.add(parsed.id)
    return list(credentials)  # type: ignore[arg-type]


def build_clr(
    credentials: Sequence[Mapping[str, Any]],
    *,
    issuer_id: str,
    issuer_name: str,
    holder_name: str,
    network_url: str,
    issued_at: int,
    holder_email: str | None = None,
    name: str | None = None,
    description: str | None = None,
    partial: bool = True,
    random: Callable[[int], bytes] = secrets.token_bytes,
) -> dict[str, Any]:
    """An unsigned ClrCredential of ``issuer_id`` (its did:web under ``network_url``) carrying ``credentials``
    unchanged, in the order given (the order shown; it is not signed). ``issued_at`` (Unix seconds) becomes
    ``validFrom``. MalformedError names the first bad argument; the result passes :func:`parse_clr` once
    :func:`prove_clr` has added the proof."""
    creds = _checked_credentials(credentials)
    holder = _text(holder_name, "holder name", 200)
    subject: dict[str, Any] = {"id": random_subject_id(random), "type": ["ClrSubject"], "name": holder}
    if holder_email:
        subject["identifier"] = [email_identity(holder_email, random=random)]
    subject["verifiableCredential"] = creds
    clr: dict[str, Any] = {
        "@context": [VC_CONTEXT, CLR_CONTEXT, OB_CONTEXT, extension_context(network_url)],
        "id": random_subject_id(random),
        "type": ["VerifiableCredential", "ClrCredential"],
        "name": _text(name, "name") if name is not None else f"{holder}: Comprehensive Learner Record",
        "partial": bool(partial),
        "issuer": {"id": institution_did(network_url, issuer_id), "type": ["Profile"], "name": _text(issuer_name, "issuer name")},
        "validFrom": format_time(issued_at),
        "credentialSubject": subject,
    }
    if description is not None:
        clr["description"] = _text(description, "description", 2000)
    return clr


def prove_clr(clr: dict[str, Any], signer: Any, *, network_url: str, created: int) -> dict[str, Any]:
    """``clr`` with its issuer's ``eddsa-rdfc-2022`` Data Integrity proof: the step that signs a credential
    (``verifier.credentials.prove``), named as ``<issuer did:web>#<the signer's Multikey>``."""
    return prove(clr, signer, network_url=network_url, created=created)


@dataclass(frozen=True)
class ParsedClr:
    """A ClrCredential after validation; ``credentials`` are the embedded objects themselves."""

    id: str
    institution: str
    issuer_name: str
    holder_name: str
    valid_from: int
    partial: bool
    credentials: tuple[dict[str, Any], ...]


def parse_clr(doc: object) -> ParsedClr:
    """Validate a ClrCredential of ours: CLR 2.0's shape, a proof of the eddsa-rdfc-2022 form, each embedded
    credential an OpenBadgeCredential with its own proof. MalformedError says what is wrong. The proofs are
    checked by :func:`verifier.dataintegrity.verify_proof` with keys the caller resolves."""
    if not isinstance(doc, dict):
        raise MalformedError("a CLR must be a JSON object")
    ctx = doc.get("@context")
    if not isinstance(ctx, list) or ctx[:3] != [VC_CONTEXT, CLR_CONTEXT, OB_CONTEXT] or not all(isinstance(x, str) for x in ctx):
        raise MalformedError(f"@context must start with {VC_CONTEXT}, {CLR_CONTEXT} and {OB_CONTEXT}")
    t = doc.get("type")
    if not isinstance(t, list) or "VerifiableCredential" not in t or "ClrCredential" not in t:
        raise MalformedError("type must include VerifiableCredential and ClrCredential")
    cid = _text(doc.get("id"), "id", 200)
    issuer = doc.get("issuer")
    if not isinstance(issuer, dict):
        raise MalformedError("issuer must be a Profile object")
    institution = institution_of(issuer.get("id"))
    issuer_name = _text(issuer.get("name"), "issuer.name")
    valid_from = parse_time(doc.get("validFrom"), "validFrom")
    partial = doc.get("partial", False)
    if not isinstance(partial, bool):
        raise MalformedError("partial must be true or false")
    proof_of(doc)
    subject = doc.get("credentialSubject")
    if not isinstance(subject, dict) or not isinstance(subject.get("type"), list) or "ClrSubject" not in subject["type"]:
        raise MalformedError("credentialSubject must be a ClrSubject")
    if "id" not in subject and "identifier" not in subject:
        raise MalformedError("the ClrSubject needs an id or an identifier (CLR 2.0 §ClrSubject)")
    if "identifier" in subject:
        parse_identifiers(subject["identifier"], "credentialSubject.identifier")
    holder = _text(subject.get("name"), "credentialSubject.name", 200)
    creds = _checked_credentials(subject.get("verifiableCredential"))
    return ParsedClr(cid, institution, issuer_name, holder, valid_from, partial, tuple(creds))
