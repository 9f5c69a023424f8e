"""The e-portfolio's JSON API (/api/v1/portfolio, /api/v1/institution; /api/v1/verify is routers/verify_api.py).

Holders use their session cookie (unsafe requests then need ``X-CSRF-Token``);
institution integrations use an API token (``Authorization: Bearer edu_...``),
which acts for exactly one institution.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from portfolio_api.services.accounts import User
from portfolio_api.services.credentials import IssueRequest
from portfolio_api.web import Forbidden, Holder, LoginRequired, ServicesDep, csrf_protect_api, current_user

router = APIRouter(prefix="/api/v1", tags=["portfolio"], dependencies=[Depends(csrf_protect_api)])


class ItemOut(BaseModel):
    ref: str
    date: str
    title: str
    kind: str
    issuer: str
    status: str = Field(description="verified | awaiting | self_reported | rejected | revoked | superseded")
    public: bool
    digest: str | None = None


class IssueIn(BaseModel):
    holder_email: str
    kind: str
    title: str
    achieved_on: str = Field(description="YYYY-MM-DD")
    description: str = ""
    idempotency_key: str = Field(min_length=8, max_length=64, description="the same key never issues twice")


class CredentialOut(BaseModel):
    id: str
    digest: str
    status: str
    anchor_index: int | None
    title: str
    kind: str
    issued_at: int


def institution_actor(request: Request) -> User:
    """An API token's institution, or a signed-in staff member's."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return request.app.state.portfolio.admin.token_user(auth[7:].strip())
    user = current_user(request)
    if user is None:
        raise LoginRequired("send an API token (Authorization: Bearer ...) or sign in")
    if not user.is_staff:
        raise Forbidden("this needs institution staff or an institution API token")
    return user


InstitutionActor = Annotated[User, Depends(institution_actor)]


def _cred_out(c) -> CredentialOut:
    return CredentialOut(id=c.id, digest=c.digest, status=c.status, anchor_index=c.anchor_index, title=c.title, kind=c.kind, issued_at=c.issued_at)


@router.get("/portfolio/items", response_model=list[ItemOut])
def my_items(user: Holder, svc: ServicesDep) -> list[ItemOut]:
    return [ItemOut(ref=i.ref, date=i.date, title=i.title, kind=i.kind, issuer=i.issuer, status=i.status, public=i.public,
                    digest=i.credential.digest if i.credential else None) for i in svc.portfolio.timeline(user.id)]


@router.post("/institution/credentials", response_model=CredentialOut)
def issue_credential(body: IssueIn, actor: InstitutionActor, svc: ServicesDep) -> CredentialOut:
    c = svc.credentials.issue(actor, IssueRequest(body.holder_email, body.kind, body.title, body.achieved_on, body.description, body.idempotency_key))
    return _cred_out(c)


@router.get("/institution/credentials", response_model=list[CredentialOut])
def issued_credentials(actor: InstitutionActor, svc: ServicesDep) -> list[CredentialOut]:
    return [_cred_out(c) for c, _ in svc.credentials.issued_by(actor.institution_id)]
