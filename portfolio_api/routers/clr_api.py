"""A share link's record as a CLR 2.0 ``ClrCredential`` over the JSON API (``/api/v1/shares/<token>/clr``).

The same document as the share page's download (``GET /s/<token>/clr.json``, routers/web_verify.py), for
programs: an admissions office's system given the link. The token is the capability, as for the page:
no account, the same refusals (404 unknown, 410 expired or revoked), the opening logged for the link's owner.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from portfolio_api.services.clr_export import ClrExport
from portfolio_api.services.shares import share_viewer
from portfolio_api.web import CurrentUser, ServicesDep, csrf_protect_api

router = APIRouter(prefix="/api/v1", tags=["portfolio"], dependencies=[Depends(csrf_protect_api)])

#: The media type of a JSON-LD Verifiable Credential, as the status lists are served (routers/statuslists.py).
MEDIA_TYPE = "application/vc+ld+json"


@router.get("/shares/{token}/clr", response_class=Response, responses={200: {"content": {MEDIA_TYPE: {}}, "description": "the signed ClrCredential"}})
def share_clr(request: Request, token: str, user: CurrentUser, svc: ServicesDep) -> Response:
    """The verified credentials the link shows, as issued, in one ClrCredential signed by this node's institution."""
    _, clr = ClrExport(svc.ctx, svc.portfolio, svc.credentials).for_share(token, viewer=share_viewer(user), user_agent=request.headers.get("user-agent", ""))
    return Response(json.dumps(clr, ensure_ascii=False).encode("utf-8"), media_type=MEDIA_TYPE)
