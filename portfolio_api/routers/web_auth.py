"""Pages: home, sign-in, registration, sign-out, language, account (and its erasure)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from ledger.errors import AuthorizationError, EduledgerError, PushbackError
from portfolio_api.i18n import LANGS
from portfolio_api.web import (
    LANG_COOKIE,
    SESSION_COOKIE,
    AnyUser,
    CurrentUser,
    Holder,
    ServicesDep,
    csrf_protect,
    finish,
    redirect,
    render,
    set_session_csrf,
)

router = APIRouter(tags=["web: accounts"], dependencies=[Depends(csrf_protect)], include_in_schema=False)

HOME = {"student": "/portfolio", "teacher": "/portfolio", "staff": "/staff", "inst_admin": "/staff", "net_admin": "/network/admin"}


def _safe_next(url: str) -> str:
    return url if url.startswith("/") and not url.startswith("//") else ""


@router.get("/")
def home(request: Request, user: CurrentUser, svc: ServicesDep) -> Response:
    if user is not None:
        return redirect(request, HOME[user.role])
    return render(request, "home.html", institutions=svc.credentials.institutions())


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    return render(request, "login.html", next=_safe_next(next))


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login")
def login(request: Request, svc: ServicesDep, email: Annotated[str, Form()], password: Annotated[str, Form()], next: Annotated[str, Form()] = "") -> Response:
    try:
        user = svc.accounts.authenticate(email, password, _client_ip(request))
    except (AuthorizationError, PushbackError) as e:
        code = 429 if isinstance(e, PushbackError) else 401
        response = render(request, "login.html", status_code=code, error=str(e), email=email, next=_safe_next(next))
        if isinstance(e, PushbackError):
            response.headers["Retry-After"] = str(e.retry_after)
        return response
    token = svc.accounts.open_session(user.id)
    response = redirect(request, _safe_next(next) or HOME[user.role])
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https", max_age=svc.ctx.session_seconds, path="/")
    set_session_csrf(response, request, token)
    return response


@router.post("/logout")
def logout(request: Request, svc: ServicesDep) -> Response:
    svc.accounts.close_session(request.cookies.get(SESSION_COOKIE))
    response = redirect(request, "/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/register")
def register_form(request: Request) -> Response:
    return render(request, "register.html", form={})


@router.post("/register")
def register(
    request: Request, svc: ServicesDep, name: Annotated[str, Form()], email: Annotated[str, Form()], password: Annotated[str, Form()],
    role: Annotated[str, Form()] = "student",
) -> Response:
    form = {"name": name, "email": email, "role": role}
    if role not in ("student", "teacher"):
        return render(request, "register.html", status_code=400, error="role must be student or teacher", form=form)
    try:
        user = svc.accounts.create(email, password, name, role)
    except EduledgerError as e:
        return render(request, "register.html", status_code=400 if "exists" not in str(e) else 409, error=str(e), form=form)
    token = svc.accounts.open_session(user.id)
    response = redirect(request, HOME[user.role])
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https", max_age=svc.ctx.session_seconds, path="/")
    set_session_csrf(response, request, token)
    return response


@router.get("/lang/{code}")
def set_lang(request: Request, code: str, next: str = "/") -> Response:
    response = redirect(request, _safe_next(next) or "/")
    if code in LANGS:
        response.set_cookie(LANG_COOKIE, code, samesite="lax", max_age=365 * 86400, path="/")
    return response


@router.get("/account")
def account(request: Request, user: AnyUser) -> Response:
    return render(request, "account.html")


@router.post("/account/delete")
def delete_account(request: Request, user: Holder, svc: ServicesDep, password: Annotated[str, Form()]) -> Response:
    """Erase one's own account (students and teachers; staff accounts are managed by their institution)."""
    try:
        svc.accounts.authenticate(user.email, password, _client_ip(request))
    except AuthorizationError as e:
        return render(request, "account.html", status_code=400, error=str(e))
    svc.accounts.erase(user.id)
    response = redirect(request, "/", "deleted")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return finish(request, response)
