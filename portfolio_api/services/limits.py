"""Per-user rate limits of the portfolio (subscriptions, searches, sign-in).

``RateLimited`` is the caller's own excess, answered 429 Too Many Requests with
``Retry-After`` (RFC 6585 section 4), and kept apart from the node's pushback:
a full sequencing queue is the node's state, answered 503 (``PushbackError``).
It subclasses ``PushbackError`` because both carry ``retry_after`` and mean
"the same request will work later"; ``portfolio_api.errors`` maps the subclass
first. Limits are per process (in memory), like the sign-in limiter.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from typing import Any

from ledger.errors import PushbackError


class RateLimited(PushbackError):
    """This caller made too many requests of one kind; try again after ``retry_after`` seconds (→ 429)."""

    kind = "rate-limited"


class RateLimit:
    """At most ``limit`` calls per key in ``window`` seconds, else RateLimited (429 with Retry-After)."""

    def __init__(self, ctx: Any, *, limit: int, window: int, what: str) -> None:
        self.ctx, self.limit, self.window, self.what = ctx, limit, window, what
        self._hits: dict[str, deque[int]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        now = self.ctx.now()
        with self._lock:
            q = self._hits[key]
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                raise RateLimited(f"too many {self.what}; try again later", retry_after=max(1, q[0] + self.window - now))
            q.append(now)


__all__ = ["RateLimit", "RateLimited"]
