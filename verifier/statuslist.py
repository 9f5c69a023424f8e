"""Status any outside verifier can read: W3C Bitstring Status List v1.0 for eduledger's credentials.

A credential issued with a status slot (``ledger/model/statuslist.py``) carries::

    "credentialStatus": {"id": "<list URL>#94567", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
                         "statusListIndex": "94567", "statusListCredential": "<list URL>"}

where the list URL is ``<network URL>/status/<institution>/<list number>``, served by every node. What it serves
is the *status list credential*, rebuilt from the institution's latest ``status.publish`` entry on the ledger::

    {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": "<list URL>",
     "type": ["VerifiableCredential", "BitstringStatusListCredential"], "issuer": "<institution did:web>",
     "validFrom": "<when published>",
     "credentialSubject": {"id": "<list URL>#list", "type": "BitstringStatusList", "statusPurpose": "revocation",
                           "encodedList": "u<base64url of the GZIP bitstring>"},
     "proof": [<the institution's eddsa-rdfc-2022 proof, from the entry>]}

The entry holds the list's bits, publication time and proof; everything else follows from the list URL, so
every node serves the same bytes and the proof verifies whichever node answered. Whatever revokes or
supersedes (staff pages, ``eduledger credential revoke|supersede``) publishes the new list in the same
submission, signed with the institution's key; the ledger refuses a list whose bits differ from its own
revocations and supersessions. eduledger's own verifier reads the ledger's entries (and their reasons) instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ledger.errors import MalformedError
from ledger.model import statuslist
from ledger.model.entries import Statement
from ledger.tlog.timefmt import format_time
from verifier.didweb import institution_did

__all__ = ["credential_status", "list_credential", "list_url", "publication", "publish_statements", "slot_numbers", "slot_of"]

VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"


def list_url(network_url: str, institution: str, number: int) -> str:
    """Where every node serves the institution's status list ``number``."""
    return f"{network_url.rstrip('/')}/status/{institution}/{number}"


def credential_status(network_url: str, institution: str, slot: tuple[int, int]) -> dict[str, str]:
    """The ``credentialStatus`` of a credential holding ``slot`` (list, index) of ``institution``'s lists."""
    number, index = slot
    url = list_url(network_url, institution, number)
    return {
        "id": f"{url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(index),
        "statusListCredential": url,
    }


def slot_of(credential: Mapping[str, Any]) -> tuple[str, int] | None:
    """(list URL, index) of a credential's revocation status entry, or None when it has none."""
    entry = credential.get("credentialStatus")
    if not isinstance(entry, Mapping) or entry.get("type") != "BitstringStatusListEntry":
        return None
    url, index = entry.get("statusListCredential"), entry.get("statusListIndex")
    if not isinstance(url, str) or not isinstance(index, str) or not index.isdigit() or len(index) > 7:
        raise MalformedError("credentialStatus must name its statusListCredential and a numeric statusListIndex")
    if int(index) >= statuslist.LIST_BITS:
        raise MalformedError(f"statusListIndex must be below {statuslist.LIST_BITS}")
    return url, int(index)


def _unsigned(url: str, institution: str, number: int, valid_from: str, encoded: str) -> dict[str, Any]:
    suffix = f"/status/{institution}/{number}"
    if not url.endswith(suffix):
        raise MalformedError(f"a status list of {institution} lives at <network URL>{suffix}")
    return {
        "@context": [VC2_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": institution_did(url[: -len(suffix)], institution),
        "validFrom": valid_from,
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList", "statusPurpose": "revocation", "encodedList": encoded},
    }


def publication(signer: Any, *, network_url: str, institution: str, number: int, bits: Iterable[int], created: int) -> dict[str, Any]:
    """The body of a ``status.publish`` entry: list ``number`` with ``bits`` set, signed by ``signer`` (the
    institution's ledger signing key: ``.sign``, ``.public_key``) as its did:web's Multikey method."""
    from verifier.dataintegrity import add_proof, multikey

    url, when = list_url(network_url, institution, number), format_time(created)
    encoded = statuslist.encode_bits(bits)
    did = institution_did(network_url, institution)
    signed = add_proof(_unsigned(url, institution, number, when, encoded), sign=signer.sign, verification_method=f"{did}#{multikey(signer.public_key)}", created=when)
    return {"list": number, "id": url, "valid_from": when, "encoded_list": encoded, "proof": signed["proof"][0]}


def list_credential(institution: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The status list credential a ``status.publish`` entry of ``institution`` stands for, with its proof."""
    cred = _unsigned(body["id"], institution, body["list"], body["valid_from"], body["encoded_list"])
    cred["proof"] = [dict(body["proof"])]
    return cred


def slot_numbers(credential: Mapping[str, Any]) -> tuple[int, int] | None:
    """(list number, index) of a credential's status entry in its issuer's lists, or None when it has none."""
    found = slot_of(credential)
    if found is None:
        return None
    url, index = found
    tail = url.rsplit("/", 1)[-1]
    if not tail.isdigit() or len(tail) > 7:
        raise MalformedError("a statusListCredential URL ends with the list number")
    return int(tail), index


def publish_statements(
    bits_of: Callable[[int], Iterable[int]], signer: Any, *, network: str, network_url: str, institution: str,
    numbers: Iterable[int], created: int, also: Mapping[int, Iterable[int]] | None = None,
) -> list[Statement]:
    """``status.publish`` statements for the institution's lists ``numbers``: each list as the ledger has it
    (``bits_of(number)``) plus the bits of ``also`` (the revocation submitted in the same batch)."""
    from ledger.model.issuance import status_publish_statement

    also = also or {}
    return [
        status_publish_statement(
            network, institution,
            publication(signer, network_url=network_url, institution=institution, number=n, bits=set(bits_of(n)) | set(also.get(n, ())), created=created),
        )
        for n in sorted(set(numbers))
    ]  # fmt: skip
