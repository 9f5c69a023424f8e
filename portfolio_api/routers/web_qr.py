"""The page a diploma's QR code opens: ``/q/<digest>/<secret>`` (services/credential_facts.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from portfolio_api.services.credential_facts import CredentialFacts
from portfolio_api.web import ServicesDep, csrf_protect, render

router = APIRouter(tags=["web: verify"], dependencies=[Depends(csrf_protect)], include_in_schema=False)


@router.get("/q/{digest}/{token}")
def credential_facts(request: Request, digest: str, token: str, svc: ServicesDep) -> Response:
    """The credential's ledger status; with the QR code's secret (``token``), what it certifies, in large type."""
    page = CredentialFacts(svc.ctx, svc.credentials, svc.documents).open(digest, token)
    return render(request, "qr_facts.html", digest=digest, status=page.status, facts=page.facts, secret_ok=page.secret_ok)
