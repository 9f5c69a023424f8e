"""Every institution's did:web document, served by every node from the ledger's registry (``verifier/didweb.py``).

``GET /institutions/<id>/did.json`` answers for the DID ``did:web:<network URL host and path>:institutions:<id>``
(the network URL is ``EDULEDGER_NETWORK_URL``, the same on every node), so an outside verifier of a credential's
Data Integrity proof resolves the issuer's keys wherever it asks. The document lists every key the institution
ever registered, rotated ones too, as Multikey ``assertionMethod`` entries; which key was valid when is the
ledger's to say (eduledger's verifier, step 7), not the DID document's.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ledger.errors import NotFoundError
from portfolio_api.deps import ServingNodeDep, SettingsDep
from verifier.didweb import did_document, document_path, institution_did

router = APIRouter(tags=["credentials"])


@router.get(document_path("{institution}"), summary="An institution's did:web DID document (its keys as Multikey methods)")
def institution_did_document(institution: str, node: ServingNodeDep, settings: SettingsDep) -> JSONResponse:
    inst = node.log.registry.institutions.get(institution)
    if inst is None:
        raise NotFoundError(f"no institution {institution!r} on this network")
    did = institution_did(settings.effective_network_url, institution)
    return JSONResponse(
        did_document(did, [k.key for k in inst.keys]),
        media_type="application/did+json",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )
