"""One request-size policy for every route, enforced before any body byte reaches a handler.

A node faces the open internet: a handler that reads a body and only then checks its size has already
spent the memory (or the disk, for a spooled multipart upload). This ASGI middleware sits outside the
app, so it runs before routing, before CSRF checks, before multipart parsing:

* a declared ``Content-Length`` over the route's limit is answered 413 at once, and nothing is read;
* an undeclared (chunked) body is counted as it streams: the first chunk past the limit ends the
  request with 413, so at most ``limit`` bytes were ever read (and spooled);
* a ``Content-Length`` that is not a decimal number is answered 400;
* a body that may be larger than ``DEFAULT_LIMIT`` (a large declared size, or any chunked body on a
  route that allows large ones) first reserves its size — declared, else the route's limit — from one
  byte budget shared by all requests (``Settings.body_budget_bytes``). When the budget is spent the
  request is answered 503 with ``Retry-After`` before a byte is read, so however many clients send
  large bodies at once, the bodies held in memory or spooled never add up to more than the budget.
  Small requests never wait for it: a verification of an ordinary bundle answers during such a flood.

The limits, route by route (``limit_for``), are in docs/security.md. The answer is the app's usual
error shape: ``{"error": "too-large", "detail": ...}`` for the API, the error page for a browser.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Every route not named in ``limit_for``: forms, JSON requests, and bodies that GETs should not have.
DEFAULT_LIMIT = 1 << 20


class _TooLarge(Exception):
    """Raised from ``receive`` when the body passes the limit (caught by the middleware, never by routes)."""


def limit_for(method: str, path: str, settings: Any) -> int:
    """The largest body ``method path`` may send, in bytes."""
    if method != "POST":
        return DEFAULT_LIMIT
    if path == "/api/v1/ledger/entries":
        return settings.max_body_bytes
    if path in ("/api/v1/verify", "/verify"):
        return settings.verify_max_bytes
    if path == "/verify/bulk":
        return settings.bulk_max_bytes
    if path == "/portfolio/upload":
        return settings.upload_max_bytes + DEFAULT_LIMIT  # the file, and the form around it
    if path == "/staff/batch":
        return settings.batch_max_bytes + DEFAULT_LIMIT
    return DEFAULT_LIMIT


class ByteBudget:
    """Bytes that large request bodies may hold at once; reservations are all-or-nothing (single event loop)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0

    def reserve(self, n: int) -> bool:
        if self.used + n > self.total:
            return False
        self.used += n
        return True

    def release(self, n: int) -> None:
        self.used -= n


class BodyLimit:
    """ASGI middleware: bounds every request body by ``limit_for`` before a handler reads it."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], settings: Any) -> None:
        self.app = app
        self.settings = settings
        self.budget = ByteBudget(getattr(settings, "body_budget_bytes", 64 << 20))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["method"], scope["path"], self.settings)
        declared = _content_length(scope)
        if declared == -1:
            await _answer(scope, send, 400, "malformed", "the Content-Length header is not a number of bytes")
            return
        if declared is not None and declared > limit:
            await _answer(scope, send, 413, "too-large", f"the request is {declared} bytes, limit {limit}")
            return
        reserved = 0
        if limit > DEFAULT_LIMIT and (declared is None or declared > DEFAULT_LIMIT):
            reserved = limit if declared is None else declared
            if not self.budget.reserve(reserved):
                await _answer(scope, send, 503, "busy", "the node is receiving too many large uploads right now; try again in a few seconds")
                return
        try:
            await self._bounded(scope, receive, send, limit)
        finally:
            if reserved:
                self.budget.release(reserved)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        seen = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _answer(scope, send, 413, "too-large", f"the request is larger than the limit of {limit} bytes")


def _content_length(scope: Scope) -> int | None:
    """The declared body size; None when absent, -1 when it is not a plain decimal number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) <= 19 else -1
    return None


async def _answer(scope: Scope, send: Send, status: int, kind: str, detail: str) -> None:
    async def no_body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    request = Request(scope, no_body)
    render_error = getattr(scope.get("app") and scope["app"].state, "render_error", None)
    response: Response
    if render_error is not None and render_error.wants(request):
        from ledger.errors import MalformedError, PushbackError
        from portfolio_api.web import RequestTooLarge

        error = RequestTooLarge(detail) if status == 413 else PushbackError(detail) if status == 503 else MalformedError(detail)
        response = render_error(request, error, status)
    else:
        response = JSONResponse({"error": kind, "detail": detail}, status_code=status)
    if status == 503:
        response.headers["Retry-After"] = "2"
    response.headers["Connection"] = "close"  # the rest of the body is not read: do not reuse the connection
    await response(scope, no_body, send)
