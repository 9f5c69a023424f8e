"""JSON API of opportunities: the public list of announcements and the institutions' search
of discoverable profiles (session or institution API token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from portfolio_api.routers.portfolio_api import InstitutionActor
from portfolio_api.web import ServicesDep, csrf_protect_api

router = APIRouter(prefix="/api/v1/opportunities", tags=["opportunities"], dependencies=[Depends(csrf_protect_api)])


class AnnouncementOut(BaseModel):
    id: int
    institution_id: str
    kind: str
    title: str
    subject: str
    level: str
    region: str
    audience: str
    starts_on: str
    ends_on: str
    registration_url: str


class ProfileOut(BaseModel):
    user_id: int
    name: str
    role: str
    region: str
    headline: str = Field(description="the holder's own words: not verified, never searched")
    evidence: list[str] = Field(description="credentials verified on the ledger")
    self_reported: list[str] = Field(description="reported by the holder, not verified")


@router.get("")
def list_announcements(svc: ServicesDep, subject: str = "", region: str = "", audience: str = "") -> list[AnnouncementOut]:
    return [AnnouncementOut(**{k: getattr(r, k) for k in AnnouncementOut.model_fields}) for r in
            svc.opportunities.list(subject=subject, region=region, audience=audience)]


@router.get("/discover")
def discover(request: Request, actor: InstitutionActor, svc: ServicesDep, q: str = "", region: str = "", limit: int = 20) -> list[ProfileOut]:
    cards = svc.discovery.search(actor, q, region=region, limit=limit)
    return [ProfileOut(user_id=c.user_id, name=c.name, role=c.role, region=c.region, headline=c.headline, evidence=list(c.evidence),
                       self_reported=list(c.self_reported)) for c in cards]
