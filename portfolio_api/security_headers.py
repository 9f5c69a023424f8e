"""Security headers on every response, set in one place (an ASGI middleware outside the app).

* HTML pages get a strict Content-Security-Policy: scripts, styles, fonts and images only from this node
  (the UI has no inline script or style, and must keep it that way), no plugins, no ``<base>``, forms
  posting only here, and ``frame-ancestors 'none'`` (with ``X-Frame-Options: DENY`` for old browsers), so
  no other site can frame a state-changing button (clickjacking).
* Every response: ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin`` (a share
  link's token never leaves in a Referer header).
* Anything that does not say how it may be cached gets ``Cache-Control: no-store``: share pages and
  every personal page or API answer stay out of shared and browser caches. Static assets and tiles set
  their own policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"))
_HTML = ((b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"))
_CACHEABLE = ("/static/", "/tile/")


class SecurityHeaders:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(_CACHEABLE)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {k.lower() for k, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                headers += [h for h in _ALWAYS if h[0] not in names]
                if content_type.startswith(b"text/html"):
                    headers += [h for h in _HTML if h[0] not in names]
                if b"cache-control" not in names and not cacheable:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
