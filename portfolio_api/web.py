"""The web layer's plumbing: services on app.state, who is signed in, roles, CSRF, pages.

* Sessions: cookie ``edu_session`` (HttpOnly, SameSite=Lax) holding a random token.
* CSRF: cookie ``edu_csrf`` (HttpOnly, SameSite=Strict) and the same value in a
  hidden ``csrf`` field of every form (or an ``X-CSRF-Token`` header for
  scripts); every unsafe request of the web and portfolio API routers is
  refused unless the two match (compared in constant time). Requests that
  carry an API token (``Authorization: Bearer``) do not use cookies and need no
  CSRF token.
* Roles: ``Role(...)`` dependencies; not signed in -> 401 (pages redirect to
  /login), wrong role -> 403.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ledger.errors import AuthorizationError, EduledgerError, MalformedError
from portfolio_api.i18n import DEFAULT_LANG, LANGS, catalogue_ids, message, ngettext, t
from portfolio_api.services.accounts import User

SESSION_COOKIE = "edu_session"
CSRF_COOKIE = "edu_csrf"
LANG_COOKIE = "edu_lang"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.add_extension("jinja2.ext.i18n")
# Gettext callables for Jinja2's i18n extension; render() binds them to the reader's language for each page.
templates.env.install_gettext_callables(lambda key: t(key, DEFAULT_LANG), lambda s, p, n: ngettext(s, p, n, DEFAULT_LANG), newstyle=True)
#: The flash messages a redirect may name (``?msg=<name>``): the catalogue's ``msg.<name>`` keys.
_FLASH_MESSAGES = frozenset(k[4:] for k in catalogue_ids() if k.startswith("msg."))


class LoginRequired(AuthorizationError):
    """Not signed in (401; pages redirect to the sign-in form)."""


class Forbidden(AuthorizationError):
    """Signed in, but this role or institution may not do this (403)."""


class RequestTooLarge(MalformedError):
    """The request body is over the route's size limit (413)."""

    kind = "too-large"


class CsrfError(AuthorizationError):
    """The form's CSRF token is missing or does not match the cookie (403)."""


async def services(request: Request) -> Any:
    return request.app.state.portfolio


ServicesDep = Annotated[Any, Depends(services)]


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, DEFAULT_LANG)
    return lang if lang in LANGS else DEFAULT_LANG


def _bound_csrf(request: Request) -> str | None:
    """With a session cookie, the CSRF token is derived from it (Vault.csrf_for_session); else None."""
    session = request.cookies.get(SESSION_COOKIE)
    portfolio = getattr(request.app.state, "portfolio", None)
    if not session or portfolio is None:
        return None
    return portfolio.ctx.vault.csrf_for_session(session)


def csrf_token(request: Request) -> str:
    """The double-submit token of this browser: a random one before sign-in, one bound to the session after."""
    tok = getattr(request.state, "csrf", None)
    if tok is None:
        cookie = request.cookies.get(CSRF_COOKIE) or ""
        tok = _bound_csrf(request) or (cookie if len(cookie) >= 32 else secrets.token_urlsafe(32))
        request.state.csrf_new = tok != cookie
        request.state.csrf = tok
    return tok


def set_session_csrf(response: Response, request: Request, session_token: str) -> None:
    """At sign-in: the CSRF cookie of the new session (the anonymous token stops working with it)."""
    token = request.app.state.portfolio.ctx.vault.csrf_for_session(session_token)
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")


async def csrf_protect(request: Request) -> None:
    """Router dependency: refuse unsafe requests whose CSRF token does not match the cookie."""
    if request.method not in UNSAFE or request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    bound = _bound_csrf(request)
    if bound is not None and not hmac.compare_digest(cookie.encode(), bound.encode()):
        cookie = ""  # a token that is not this session's: planted, or from before sign-in
    sent = request.headers.get("x-csrf-token", "")
    if not sent and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached by Starlette: the endpoint reads the same form
        value = form.get("csrf")
        sent = value if isinstance(value, str) else ""
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfError("CSRF token missing or wrong: reload the page and submit the form again")


async def csrf_protect_api(request: Request) -> None:
    """JSON API variant: only requests riding on a session cookie can be forged cross-site."""
    if request.cookies.get(SESSION_COOKIE):
        await csrf_protect(request)


def current_user(request: Request) -> User | None:
    if not hasattr(request.state, "user"):
        svc = request.app.state.portfolio
        request.state.user = svc.accounts.session_user(request.cookies.get(SESSION_COOKIE))
    return request.state.user


CurrentUser = Annotated[User | None, Depends(current_user)]


def Role(*roles: str):  # noqa: N802 - reads as a declaration: Depends(Role("staff"))
    def dep(request: Request) -> User:
        user = current_user(request)
        if user is None:
            raise LoginRequired("sign in to continue")
        if user.role not in roles:
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
        return user

    return Depends(dep)


HOLDER = ("student", "teacher")
STAFF = ("staff", "inst_admin")
Holder = Annotated[User, Role(*HOLDER)]
Staff = Annotated[User, Role(*STAFF)]
InstAdmin = Annotated[User, Role("inst_admin")]
NetAdmin = Annotated[User, Role("net_admin")]
AnyUser = Annotated[User, Role("student", "teacher", "staff", "inst_admin", "net_admin")]


def finish(request: Request, response: Response) -> Response:
    """Set the CSRF cookie on a response if this request created the token."""
    if getattr(request.state, "csrf_new", False):
        response.set_cookie(CSRF_COOKIE, request.state.csrf, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


def node_alerts(request: Request) -> list[dict[str, Any]]:
    """The node's storage and fork alerts, for the banner on every page (base.html).

    Read from the store's meta on each page: an alert another process of this
    institution recorded shows up too. A store that cannot be read shows none
    here; the page's own data would fail anyway."""
    node = getattr(request.app.state, "node", None)
    if node is None:
        return []
    try:
        alerts = [("storage", node.storage_alert()), ("fork", node.fork_alert()), ("sequencer", node.sequencer_alert())]
    except EduledgerError:
        return []
    return [{"kind": kind, **alert} for kind, alert in alerts if alert]


def mail_configured(request: Request) -> bool:
    """Whether this node sends e-mail (EDULEDGER_SMTP_HOST): pages that promise a message say when it does not."""
    mailer = getattr(getattr(request.app.state, "portfolio", None), "mailer", None)
    return bool(mailer is not None and mailer.configured)


UNREAD_SHOWN = 99  # the menu's counter shows "99+" past it


def unread_notices(request: Request, user: User | None) -> str:
    """The menu's counter of a student's or teacher's unread in-app notices: "" (none, no counter), "3", "99+"."""
    opportunities = getattr(getattr(request.app.state, "portfolio", None), "opportunities", None)
    if user is None or user.role not in HOLDER or opportunities is None:
        return ""
    n = opportunities.unread_count(user, limit=UNREAD_SHOWN + 1)
    return "" if n == 0 else f"{UNREAD_SHOWN}+" if n > UNREAD_SHOWN else str(n)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    lang = lang_of(request)
    user = current_user(request)
    ctx = {
        "request": request,
        "user": user,
        "lang": lang,
        # Jinja2's i18n extension: _() and ngettext() in templates speak the reader's language.
        "gettext": lambda key: t(key, lang),
        "ngettext": lambda singular, plural, n: ngettext(singular, plural, n, lang),
        "tr": lambda text: message(text, lang),
        "csrf": csrf_token(request),
        "node_alerts": node_alerts(request),
        "mail_configured": mail_configured(request),
        "unread_notices": unread_notices(request, user),
        "msg": request.query_params.get("msg", "") if request.query_params.get("msg", "") in _FLASH_MESSAGES else "",
        **context,
    }
    for key in ("error", "detail"):  # the services' and the verifier's English messages, in the reader's language
        if type(ctx.get(key)) is str:
            ctx[key] = message(ctx[key], lang)
    return finish(request, templates.TemplateResponse(request, name, ctx, status_code=status_code))


def redirect(request: Request, url: str, msg: str | None = None) -> Response:
    if msg:
        url += ("&" if "?" in url else "?") + "msg=" + msg
    return finish(request, RedirectResponse(url, status_code=303))


def wants_html(request: Request) -> bool:
    p = request.url.path
    return not p.startswith(("/api/", "/tile/", "/checkpoint")) and "text/html" in request.headers.get("accept", "text/html")


def render_error(request: Request, exc: EduledgerError, status: int) -> Response:
    """Error page for browser requests (installed as app.state.render_error, used by portfolio_api.errors)."""
    if isinstance(exc, LoginRequired):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    lang = lang_of(request)
    detail = t("err.csrf", lang) if isinstance(exc, CsrfError) else str(exc)
    if isinstance(exc, Forbidden):
        detail = t("err.forbidden", lang) + " " + str(exc)
    back = request.headers.get("referer", "/")
    return render(request, "error.html", status_code=status, detail=detail, back=back)


def page(request: Request, name: str, **context: Any) -> HTMLResponse:
    return render(request, name, **context)  # type: ignore[return-value]


class ErrorPages:
    """app.state.render_error: browser requests get an HTML page instead of JSON."""

    wants = staticmethod(wants_html)

    def __call__(self, request: Request, exc: EduledgerError, status: int) -> Response:
        return render_error(request, exc, status)


def public_base(request: Request) -> str:
    """The base of absolute links, ending in ``/``: the node's configured public URL (EDULEDGER_PUBLIC_URL),
    never the request's Host header, which any client can set (a share link or QR code pointing elsewhere);
    unset, the address the node listens on (portfolio_api/public_links.py, also used by every e-mail)."""
    return request.app.state.settings.links.root
