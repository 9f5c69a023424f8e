"""Every institution's Bitstring Status Lists, served by every node from the ledger (``verifier/statuslist.py``).

``GET /status/<institution>/<list>`` is the ``statusListCredential`` a credential's ``credentialStatus`` names:
the status list credential rebuilt from the institution's latest ``status.publish`` entry, with the proof the
institution signed, so it verifies whichever node answers. ``GET /api/v1/ledger/status-lists/<institution>/<list>``
is the ledger's own view of one list (taken slots, set bits, the publication's entry index), for issuers in another
process (``eduledger credential`` against a running node) and for checking a served list against the ledger.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from ledger.errors import NotFoundError
from ledger.model import statuslist
from ledger.model.entries import parse_entry
from portfolio_api.deps import ServingNodeDep
from verifier.statuslist import list_credential

router = APIRouter(tags=["credentials"])

ListNumber = Annotated[int, Path(ge=0, lt=statuslist.MAX_LISTS, description="the list number")]
_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=60"}


def _registered(node, institution: str) -> None:
    if institution not in node.log.registry.institutions:
        raise NotFoundError(f"no institution {institution!r} on this network")


@router.get("/status/{institution}/{number}", summary="An institution's status list credential (W3C Bitstring Status List)")
def status_list_credential(institution: str, number: ListNumber, node: ServingNodeDep) -> JSONResponse:
    _registered(node, institution)
    index = node.log.registry.status_published.get((institution, number))
    if index is None:
        raise NotFoundError(f"{institution} has published no status list {number}")
    entry = parse_entry(node.log.entry(index))
    return JSONResponse(list_credential(institution, entry.statement.body), media_type="application/vc+ld+json", headers=_HEADERS)


@router.get("/api/v1/ledger/status-lists/{institution}/{number}", summary="The ledger's view of one status list")
def status_list_state(institution: str, number: ListNumber, node: ServingNodeDep) -> dict:
    _registered(node, institution)
    reg = node.log.registry
    return {
        "institution": institution,
        "list": number,
        "size": statuslist.LIST_BITS,
        "capacity": statuslist.SLOTS_PER_LIST,
        "taken": sorted(reg.status_used.get(institution, {}).get(number, ())),
        "set": sorted(reg.status_list_bits(institution, number)),
        "published_index": reg.status_published.get((institution, number)),
    }
