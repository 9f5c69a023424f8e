"""eduledger's JSON-LD context, served by every node at the path credentials name (``verifier/jsonld.py``).

A credential's third ``@context`` is ``<network URL>/contexts/eduledger-v1.jsonld``: whichever node of the
network answers, the bytes are the repository's ``verifier/contexts/eduledger-v1.json``. The context is
versioned by its path (a new term means a ``v2``, never an edit), public, and cacheable.
"""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter
from fastapi.responses import Response

from verifier.jsonld import CONTEXT_PATH, CONTEXTS_DIR

router = APIRouter(tags=["credentials"])


@cache
def _context_bytes() -> bytes:
    return (CONTEXTS_DIR / "eduledger-v1.json").read_bytes()


@router.get(CONTEXT_PATH, response_class=Response, summary="eduledger's JSON-LD context (version 1)")
async def context_v1() -> Response:
    return Response(
        _context_bytes(),
        media_type="application/ld+json",
        headers={"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"},
    )
