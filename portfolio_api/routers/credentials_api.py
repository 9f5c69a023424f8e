"""Credentials at the ledger level, for issuers' tools (``eduledger credential --url``) and verifiers.

* ``GET /api/v1/trust`` — the network's trust file as this node derives it
  (the bytes ``eduledger network export-trust`` writes, status lists included:
  ``TrustPolicy.export`` is the one code path). Fetching it over the
  network is trust on first use: compare it with one obtained out of band.
* ``POST /api/v1/credentials/bundle`` — body ``{"credential": {...}}``: the
  holder's bundle of an anchored credential, proven under the node's latest
  final checkpoint. The node learns the credential (it is in the request) but
  keeps nothing. 404 if its digest is not anchored; 503 with ``Retry-After``
  while no final checkpoint covers the anchor yet.

Both are refused (503, with the alert's reason) while the node's storage or fork alert
is set (deps.ServingNodeDep): a halted node derives nothing from its log.

Issuing, revoking and superseding need no route of their own: they are
institution-signed entries, submitted to ``POST /api/v1/ledger/entries``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ledger.errors import MalformedError, NotFoundError
from ledger.model.issuance import final_bundle
from ledger.tlog.canonical import canonical_digest
from portfolio_api.deps import ServingNodeDep
from verifier import safejson
from verifier.trust import TrustPolicy
from verifier.verify import MAX_BUNDLE_BYTES, MAX_DEPTH

router = APIRouter(prefix="/api/v1", tags=["credentials"])


@router.get("/trust", response_class=Response, summary="The network's trust file (eduledger-trust/v1), as this node derives it")
def trust(node: ServingNodeDep) -> Response:
    data = TrustPolicy.export(node.genesis, node.log.registry, node.log.entry, size=node.log.size).to_bytes()
    return Response(data, media_type="application/json")


@router.post(
    "/credentials/bundle",
    summary="The holder's bundle (eduledger-bundle/v1) of an anchored credential",
    responses={404: {"description": "the credential's digest is not anchored"}, 503: {"description": "no final checkpoint covers it yet; see Retry-After"}},
)
async def bundle(request: Request, node: ServingNodeDep) -> dict[str, Any]:
    body = await request.body()
    doc = safejson.loads(body, max_bytes=MAX_BUNDLE_BYTES, max_depth=MAX_DEPTH)
    if not isinstance(doc, dict) or set(doc) != {"credential"} or not isinstance(doc["credential"], dict):
        raise MalformedError('the body must be {"credential": {...}}')
    credential = doc["credential"]
    digest = canonical_digest(credential).hex()
    anchor = node.log.registry.anchors.get(digest)
    if anchor is None:
        raise NotFoundError(f"credential {digest} is not anchored on this ledger")
    return await run_in_threadpool(final_bundle, node, credential, anchor.index)
