"""The one place where domain errors become HTTP responses.

Every route lets ``ledger.errors`` exceptions propagate; this module maps each
subclass to a status code and a JSON body ``{"error": <kind>, "detail": <sentence>}``.
User mistakes are 4xx; only StorageError (our fault) is 500, and it is logged.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger import errors

log = logging.getLogger("eduledger.http")

def _portfolio_statuses() -> list[tuple[type[errors.EduledgerError], int]]:
    # The e-portfolio's own subclasses, checked before their parents.
    from portfolio_api.services.limits import RateLimited
    from portfolio_api.services.shares import ShareGone
    from portfolio_api.web import CsrfError, Forbidden, LoginRequired, RequestTooLarge

    return [(LoginRequired, 401), (Forbidden, 403), (CsrfError, 403), (ShareGone, 410), (RateLimited, 429), (RequestTooLarge, 413)]


STATUS: list[tuple[type[errors.EduledgerError], int]] = _portfolio_statuses() + [
    (errors.MalformedError, 400),
    (errors.InconsistencyError, 422),
    (errors.SignatureError, 403),
    (errors.VerificationError, 422),
    (errors.AuthorizationError, 403),
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
    (errors.PushbackError, 503),
    (errors.HaltedError, 503),
    (errors.FetchError, 502),
    (errors.KeyFileError, 500),
    (errors.StorageError, 500),
]


def status_for(exc: errors.EduledgerError) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def kind_of(exc: errors.EduledgerError) -> str:
    """The ``error`` field: a class's own ``kind`` if it names one, else its name without "Error", lowercased."""
    if isinstance(kind := getattr(type(exc), "kind", None), str):
        return kind
    return type(exc).__name__.removesuffix("Error").lower() or "error"


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.EduledgerError)
    async def _domain(request: Request, exc: errors.EduledgerError) -> JSONResponse:
        code = status_for(exc)
        if code >= 500 and not isinstance(exc, errors.PushbackError):
            log.error("internal error on %s %s: %s", request.method, request.url.path, exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, errors.PushbackError) else None
        render_error = getattr(request.app.state, "render_error", None)
        if render_error is not None and render_error.wants(request):
            response = render_error(request, exc, code)
            if headers:
                response.headers.update(headers)
            return response
        return JSONResponse({"error": kind_of(exc), "detail": str(exc)}, status_code=code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
            # /items/99999999999999999999 or /items/abc names nothing: not found, like any absent id.
            return await _domain(request, errors.NotFoundError(f"nothing at {request.url.path}"))
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}" for e in exc.errors()
        )
        return JSONResponse({"error": "malformed", "detail": problems or "invalid request"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse | PlainTextResponse:
        return JSONResponse({"error": "http", "detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))
