"""Pages of administrators: an institution's staff and API tokens; the network's institutions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from ledger.errors import EduledgerError
from ledger.model.entries import INSTITUTION_TYPES
from portfolio_api.deps import PathInt
from portfolio_api.routers.web_portfolio import fmt
from portfolio_api.web import InstAdmin, NetAdmin, ServicesDep, csrf_protect, redirect, render

router = APIRouter(tags=["web: administration"], dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _inst_page(request: Request, svc, user, **kw) -> Response:
    return render(request, "inst_admin.html", staff=svc.accounts.list_staff(user.institution_id), tokens=svc.admin.tokens(user), fmt=fmt, **kw)


@router.get("/institution/admin")
def inst_admin(request: Request, user: InstAdmin, svc: ServicesDep) -> Response:
    return _inst_page(request, svc, user)


@router.post("/institution/staff")
def add_staff(
    request: Request, user: InstAdmin, svc: ServicesDep, name: Annotated[str, Form()], email: Annotated[str, Form()],
    password: Annotated[str, Form()], role: Annotated[str, Form()] = "staff",
) -> Response:
    try:
        svc.admin.create_staff(user, email=email, password=password, name=name, role=role)
    except EduledgerError as e:
        return _inst_page(request, svc, user, status_code=400, error=str(e))
    return redirect(request, "/institution/admin", "saved")


@router.post("/institution/tokens")
def create_token(request: Request, user: InstAdmin, svc: ServicesDep, label: Annotated[str, Form()]) -> Response:
    token = svc.admin.create_token(user, label)
    return _inst_page(request, svc, user, new_token=token)


@router.post("/institution/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: PathInt, user: InstAdmin, svc: ServicesDep) -> Response:
    svc.admin.revoke_token(user, token_id)
    return redirect(request, "/institution/admin", "saved")


def _net_page(request: Request, svc, **kw) -> Response:
    return render(request, "net_admin.html", institutions=svc.admin.institutions(), types=sorted(INSTITUTION_TYPES), **kw)


@router.get("/network/admin")
def net_admin(request: Request, user: NetAdmin, svc: ServicesDep) -> Response:
    return _net_page(request, svc)


@router.post("/network/institutions")
def onboard(
    request: Request, user: NetAdmin, svc: ServicesDep, id: Annotated[str, Form()], name: Annotated[str, Form()], type: Annotated[str, Form()],
    admin_email: Annotated[str, Form()], admin_password: Annotated[str, Form()],
) -> Response:
    try:
        svc.admin.onboard(user, institution_id=id.strip(), name=name, type_=type, admin_email=admin_email, admin_password=admin_password)
    except EduledgerError as e:
        return _net_page(request, svc, status_code=400, error=str(e))
    return redirect(request, "/network/admin", "saved")


@router.post("/network/institutions/{institution_id}/suspend")
def suspend(request: Request, institution_id: str, user: NetAdmin, svc: ServicesDep, reason: Annotated[str, Form()]) -> Response:
    svc.admin.suspend(user, institution_id, reason)
    return redirect(request, "/network/admin", "saved")
