"""Pages of opportunities: announcements, subscriptions and notices, discoverable profiles,
institution search, following applicants with consent, announcement -> result links."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from ledger.errors import EduledgerError, MalformedError
from portfolio_api.deps import PathInt
from portfolio_api.routers.web_portfolio import fmt
from portfolio_api.services.idempotency import new_key
from portfolio_api.services.opportunities import ANNOUNCEMENT_KINDS, AUDIENCES, LEVELS, AnnouncementDraft
from portfolio_api.web import CurrentUser, Holder, ServicesDep, Staff, csrf_protect, redirect, render

router = APIRouter(prefix="/opportunities", tags=["web: opportunities"], dependencies=[Depends(csrf_protect)], include_in_schema=False)
# The unsubscribe link is its own capability (an unguessable token): no session and no CSRF
# token, so that mail clients' one-click unsubscribe (RFC 8058 POST) works.
unsubscribe_router = APIRouter(prefix="/opportunities", tags=["web: opportunities"], include_in_schema=False)

CHOICES = {"kinds": ANNOUNCEMENT_KINDS, "audiences": AUDIENCES, "levels": LEVELS}


def _int_or_none(v: str) -> int | None:
    v = v.strip()
    return int(v) if v.isdigit() else None


@router.get("")
def announcements(request: Request, svc: ServicesDep, subject: str = "", region: str = "", audience: str = "") -> Response:
    try:
        rows = svc.opportunities.list(subject=subject, region=region, audience=audience if audience in AUDIENCES else "")
    except EduledgerError as e:
        return render(request, "opportunities.html", status_code=400, error=str(e), rows=[], f={}, institutions=svc.credentials.institutions(), **CHOICES)
    return render(request, "opportunities.html", rows=rows, f={"subject": subject, "region": region, "audience": audience},
                  institutions=svc.credentials.institutions(), **CHOICES)


@router.get("/new")
def new_form(request: Request, user: Staff) -> Response:
    return render(request, "opportunity_new.html", f={}, idem=new_key(), **CHOICES)


@router.post("")
def publish(
    request: Request, user: Staff, svc: ServicesDep, kind: Annotated[str, Form()], title: Annotated[str, Form()], subject: Annotated[str, Form()],
    level: Annotated[str, Form()], region: Annotated[str, Form()], audience: Annotated[str, Form()], starts_on: Annotated[str, Form()],
    ends_on: Annotated[str, Form()], registration_url: Annotated[str, Form()], body: Annotated[str, Form()] = "",
    grade_min: Annotated[str, Form()] = "", grade_max: Annotated[str, Form()] = "", idem: Annotated[str, Form()] = "",
) -> Response:
    draft = AnnouncementDraft(kind, title, body, subject, level, region, audience, starts_on, ends_on, registration_url,
                              _int_or_none(grade_min), _int_or_none(grade_max))
    try:
        aid, _ = svc.opportunities.publish(user, draft, idem_key=idem)
    except EduledgerError as e:
        return render(request, "opportunity_new.html", status_code=400, error=str(e), f=draft.__dict__, idem=idem or new_key(), **CHOICES)
    return redirect(request, f"/opportunities/{aid}", "published")


@router.get("/subscriptions")
def subscriptions(request: Request, user: Holder, svc: ServicesDep) -> Response:
    """The notices page: what was unread is highlighted this once, and opening it clears the menu's counter."""
    notices = svc.opportunities.notices(user)
    if notices:
        svc.opportunities.mark_read(user, through=notices[0].id)  # newest first: what this page shows, and older
    return render(request, "subscriptions.html", subs=svc.opportunities.subscriptions_of(user), notices=notices, fmt=fmt,
                  path=svc.opportunities.path_of(user), **CHOICES)


@router.post("/subscriptions")
def subscribe(
    request: Request, user: Holder, svc: ServicesDep, audience: Annotated[str, Form()], subject: Annotated[str, Form()] = "",
    level: Annotated[str, Form()] = "", region: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
) -> Response:
    svc.opportunities.subscribe(user, subject=subject, level=level, region=region, audience=audience, email=email == "1")
    return redirect(request, "/opportunities/subscriptions", "subscribed")


@router.post("/subscriptions/{subscription_id}/cancel")
def cancel(request: Request, subscription_id: PathInt, user: Holder, svc: ServicesDep) -> Response:
    svc.opportunities.cancel(user, subscription_id)
    return redirect(request, "/opportunities/subscriptions", "unsubscribed")


@router.post("/notices/read")
def notices_read(request: Request, user: Holder, svc: ServicesDep) -> Response:
    svc.opportunities.mark_read(user)
    return redirect(request, "/opportunities/subscriptions")


@router.get("/profile")
def profile(request: Request, user: Holder, svc: ServicesDep) -> Response:
    return render(request, "discover_profile.html", profile=svc.discovery.profile(user), card=svc.discovery.card(user.id)
                  if svc.discovery.profile(user) else None)


@router.post("/profile")
def save_profile(request: Request, user: Holder, svc: ServicesDep, discoverable: Annotated[str, Form()] = "", region: Annotated[str, Form()] = "",
                 headline: Annotated[str, Form()] = "") -> Response:
    if not request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Every field has a default (an unticked box is not sent): a body that is not a form at all would
        # read as an empty one and quietly switch the profile off.
        raise MalformedError("send the profile as a form (application/x-www-form-urlencoded or multipart/form-data)")
    svc.discovery.set_profile(user, discoverable=discoverable == "1", region=region, headline=headline)
    return redirect(request, "/opportunities/profile", "saved")


@router.get("/discover")
def discover(request: Request, user: Staff, svc: ServicesDep, q: str = "", region: str = "") -> Response:
    cards = svc.discovery.search(user, q, region=region) if (q or region) else []
    return render(request, "discover.html", cards=cards, q=q, region=region, searched=bool(q or region))


@router.get("/consents")
def consents(request: Request, user: Holder, svc: ServicesDep) -> Response:
    return render(request, "consents.html", follows=svc.follows.of_student(user), institutions=svc.credentials.institutions(), fmt=fmt)


@router.post("/consents")
def grant(request: Request, user: Holder, svc: ServicesDep, institution_id: Annotated[str, Form()]) -> Response:
    svc.follows.grant(user, institution_id)
    return redirect(request, "/opportunities/consents", "saved")


@router.post("/consents/{follow_id}/withdraw")
def withdraw(request: Request, follow_id: PathInt, user: Holder, svc: ServicesDep) -> Response:
    svc.follows.withdraw(user, follow_id)
    return redirect(request, "/opportunities/consents", "withdrawn")


@router.get("/applicants")
def applicants(request: Request, user: Staff, svc: ServicesDep) -> Response:
    return render(request, "applicants.html", feed=svc.follows.feed(user), fmt=fmt)


@router.post("/applicants")
def follow(request: Request, user: Staff, svc: ServicesDep, link: Annotated[str, Form()]) -> Response:
    svc.follows.follow_by_share(user, link)
    return redirect(request, "/opportunities/applicants", "saved")


@router.get("/{announcement_id}")
def announcement(request: Request, announcement_id: PathInt, user: CurrentUser, svc: ServicesDep) -> Response:
    a = svc.opportunities.get(announcement_id)
    owner = user is not None and user.is_staff and user.institution_id == a.institution_id
    return render(request, "opportunity.html", a=a, results=svc.opportunities.results_of(announcement_id),
                  delivery=svc.opportunities.delivery_of(announcement_id) if owner else None,
                  institution=svc.credentials.institutions().get(a.institution_id, a.institution_id))


@router.post("/{announcement_id}/results")
def link_result(request: Request, announcement_id: PathInt, user: Staff, svc: ServicesDep, credential_id: Annotated[str, Form()]) -> Response:
    svc.opportunities.link_result(user, announcement_id, credential_id.strip())
    return redirect(request, f"/opportunities/{announcement_id}", "saved")


@unsubscribe_router.get("/unsubscribe/{subscription_id}/{token}")
def unsubscribe_page(request: Request, subscription_id: PathInt, token: str, svc: ServicesDep) -> Response:
    svc.opportunities.check_unsubscribe(subscription_id, token)
    return render(request, "unsubscribe.html", subscription_id=subscription_id, token=token, done=False)


@unsubscribe_router.post("/unsubscribe/{subscription_id}/{token}")
def unsubscribe(request: Request, subscription_id: PathInt, token: str, svc: ServicesDep) -> Response:
    svc.opportunities.unsubscribe(subscription_id, token)
    return render(request, "unsubscribe.html", subscription_id=subscription_id, token=token, done=True)
