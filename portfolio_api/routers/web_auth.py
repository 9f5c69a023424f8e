"""Pages: home, sign-in (password or e-mailed one-time link), registration, sign-out, language, account (and its erasure).

Neither registration nor the sign-in link form tells whether an address has an account
(services/signin_links.py; docs/security.md, "Account enumeration")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from ledger.errors import AuthorizationError, ConflictError, EduledgerError, MalformedError, PushbackError
from portfolio_api.i18n import LANGS
from portfolio_api.routers.web_portfolio import CONFIRMED, say
from portfolio_api.services.accounts import User
from portfolio_api.web import (
    LANG_COOKIE,
    SESSION_COOKIE,
    AnyUser,
    CurrentUser,
    Holder,
    ServicesDep,
    csrf_protect,
    finish,
    public_base,
    redirect,
    render,
    set_session_csrf,
    templates,
)

router = APIRouter(tags=["web: accounts"], dependencies=[Depends(csrf_protect)], include_in_schema=False)

HOME = {"student": "/portfolio", "teacher": "/portfolio", "staff": "/staff", "inst_admin": "/staff", "net_admin": "/network/admin"}
#: Staff of these institution types land on their applicants, not on the (mostly empty) list of what they issued.
ADMISSIONS_TYPES = frozenset({"university"})
APPLICANTS = "/opportunities/applicants"


def landing(request: Request, user: User) -> str:
    """The page a user's work starts on, after sign-in and at ``/`` (issue 18): pupils and teachers their
    portfolio, a university's staff their applicants, other staff what their institution issued.
    Also a template global: base.html puts the landing page's links first in the menu."""
    if user.role in ("staff", "inst_admin") and user.institution_id:
        inst = request.app.state.portfolio.ctx.node.log.registry.institutions.get(user.institution_id)
        if inst is not None and inst.type in ADMISSIONS_TYPES:
            return APPLICANTS
    return HOME[user.role]


templates.env.globals["landing"] = landing


def _safe_next(url: str) -> str:
    return url if url.startswith("/") and not url.startswith("//") else ""


@router.get("/")
def home(request: Request, user: CurrentUser, svc: ServicesDep) -> Response:
    if user is not None:
        return redirect(request, landing(request, user))
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
    except (AuthorizationError, PushbackError, MalformedError) as e:
        code = 429 if isinstance(e, PushbackError) else 401 if isinstance(e, AuthorizationError) else 400
        return _refused(request, "login.html", e, code, email=email, next=_safe_next(next))
    return _signed_in(request, svc, user, _safe_next(next))


def _refused(request: Request, template: str, e: EduledgerError, code: int, **context: object) -> Response:
    response = render(request, template, status_code=code, error=str(e), **context)
    if isinstance(e, PushbackError):
        response.headers["Retry-After"] = str(e.retry_after)
    return response


def _signed_in(request: Request, svc: ServicesDep, user: User, next: str = "") -> Response:
    """Open a session for ``user``: its cookie, the CSRF token bound to it, and the way to their home page."""
    token = svc.accounts.open_session(user.id)
    response = redirect(request, next or landing(request, user))
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https", max_age=svc.ctx.session_seconds, path="/")
    set_session_csrf(response, request, token)
    return response


@router.get("/login/link")
def login_link_form(request: Request, svc: ServicesDep) -> Response:
    return render(request, "login_link.html", mail=svc.mailer.configured)


@router.post("/login/link")
def login_link_request(request: Request, svc: ServicesDep, email: Annotated[str, Form()]) -> Response:
    """Ask for a one-time sign-in link: the same answer whether or not the address has an account."""
    try:
        svc.links.request_login(email, _client_ip(request), mailer=svc.mailer, base=public_base(request))
    except (MalformedError, PushbackError) as e:
        return _refused(request, "login_link.html", e, 429 if isinstance(e, PushbackError) else 400, mail=svc.mailer.configured, email=email)
    if not svc.mailer.configured:
        return render(request, "login_link.html", mail=False)
    return render(request, "mail_sent.html", kind="link")


@router.get("/login/link/{token}")
def login_link_page(request: Request, svc: ServicesDep, token: str) -> Response:
    """Only a button: mail scanners that open links must not use them up."""
    valid = svc.links.peek("login", token)
    return render(request, "link_confirm.html", status_code=200 if valid else 400, purpose="login", valid=valid, action=f"/login/link/{token}")


@router.post("/login/link/{token}")
def login_link_use(request: Request, svc: ServicesDep, token: str) -> Response:
    try:
        user = svc.links.use_login(token)  # not subject to the password throttle: the owner's way in
    except MalformedError:
        return render(request, "link_confirm.html", status_code=400, purpose="login", valid=False)
    return _signed_in(request, svc, user)


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
    """The same answer for a new and an already registered address (services/signin_links.py):
    with mail, "check your mail"; without, a redirect to the sign-in form saying what to do in either case."""
    form = {"name": name, "email": email, "role": role}
    try:
        svc.links.register(email, password, name, role, _client_ip(request), mailer=svc.mailer, base=public_base(request))
    except (MalformedError, PushbackError) as e:
        return _refused(request, "register.html", e, 429 if isinstance(e, PushbackError) else 400, form=form)
    if svc.mailer.configured:
        return render(request, "mail_sent.html", kind="register")
    return redirect(request, "/login", "registered")


@router.get("/register/confirm/{token}")
def register_confirm_page(request: Request, svc: ServicesDep, token: str) -> Response:
    valid = svc.links.peek("register", token)
    return render(request, "link_confirm.html", status_code=200 if valid else 400, purpose="register", valid=valid,
                  action=f"/register/confirm/{token}")


@router.post("/register/confirm/{token}")
def register_confirm(request: Request, svc: ServicesDep, token: str) -> Response:
    try:
        user = svc.links.use_registration(token)
    except ConflictError as e:
        return render(request, "login.html", status_code=409, error=str(e), next="")
    except MalformedError:
        return render(request, "link_confirm.html", status_code=400, purpose="register", valid=False)
    return _signed_in(request, svc, user)


@router.get("/lang/{code}")
def set_lang(request: Request, code: str, next: str = "/") -> Response:
    response = redirect(request, _safe_next(next) or "/")
    if code in LANGS:
        response.set_cookie(LANG_COOKIE, code, samesite="lax", max_age=365 * 86400, path="/")
    return response


@router.get("/account")
def account(request: Request, user: AnyUser) -> Response:
    return render(request, "account.html")


def _erase_page(request: Request, svc: ServicesDep, user: User, *, status_code: int = 200, error: str | None = None) -> Response:
    counts = {"credentials": len(svc.credentials.held_by(user.id)), "uploads": len(svc.uploads.owned_by(user.id)), "shares": len(svc.portfolio.shares_of(user))}
    return render(request, "confirm_erase.html", status_code=status_code, error=error, counts=counts)


@router.get("/account/delete")
def delete_account_confirm(request: Request, user: Holder, svc: ServicesDep) -> Response:
    """Issue 18: says what erasure deletes and that it cannot be undone; its form (password, ``confirmed``) is the only way in."""
    return _erase_page(request, svc, user)


@router.post("/account/delete")
def delete_account(
    request: Request, user: Holder, svc: ServicesDep, password: Annotated[str, Form()] = "", confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Erase one's own account (students and teachers; staff accounts are managed by their institution).
    Acts only when posted from the confirmation page, with the password; anything else shows that page."""
    if confirmed != CONFIRMED:  # not from the confirmation page: nothing is erased, the page says what would be
        return _erase_page(request, svc, user, status_code=400)
    if not password:
        return _erase_page(request, svc, user, status_code=400, error=say(request, "err.password_required"))
    try:
        svc.accounts.authenticate(user.email, password, _client_ip(request))
    except AuthorizationError as e:
        return _erase_page(request, svc, user, status_code=400, error=str(e))
    svc.accounts.erase(user.id)
    response = redirect(request, "/", "deleted")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return finish(request, response)
