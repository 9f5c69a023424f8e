"""The node's public base URL: the one place where absolute links are made (issues 16 and 18).

Every link the node hands out — in notification, sign-in and registration e-mails, share links and
their QR codes, the verify link printed on a diploma PDF — is ``PublicLinks.to(path)`` of one base:

* ``EDULEDGER_PUBLIC_URL`` when it is set (a reverse proxy's name, possibly with a path prefix);
* otherwise the address the node listens on, exactly as ``eduledger run`` prints it
  (``listening_url(host, port)``, from ``EDULEDGER_HOST``/``--host`` and ``EDULEDGER_PORT``/``--port``).

Never a request's Host header (any client sets it: a share link or a sign-in link pointing at another
site) and never a built-in address such as ``http://127.0.0.1:8000`` (a node on another port or host
would mail links to nowhere). The base is parsed once, when settings are read: a value that cannot
be the start of a link (no scheme, a query, credentials in it) is refused there, not in a mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["PublicLinks", "listening_url"]


def listening_url(host: str, port: int) -> str:
    """``http://<host>:<port>``, the address a node started with ``host`` and ``port`` answers on
    (an IPv6 address in brackets, RFC 3986 3.2.2). ``eduledger run`` prints it."""
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1..65535, got {port}")
    host = host.strip()
    if not host:
        raise ValueError("empty host")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class PublicLinks:
    """An absolute base URL, ``http(s)://host[:port][/prefix]`` without a trailing slash.

    The constructor enforces it (ValueError otherwise), so every link made from it is well formed."""

    base: str

    def __post_init__(self) -> None:
        raw = self.base.strip()
        parts = urlsplit(raw)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
        except ValueError as e:
            raise ValueError(f"public URL {raw!r}: {e}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"public URL {raw!r} must look like https://host[:port][/path]")
        if parts.query or parts.fragment or parts.username is not None or parts.password is not None:
            raise ValueError(f"public URL {raw!r} must have no query, fragment or user name in it")
        object.__setattr__(self, "base", raw.rstrip("/"))

    @classmethod
    def of(cls, public_url: str | None, host: str, port: int) -> PublicLinks:
        """The configured public URL, or the listening address when it is unset or empty."""
        return cls(public_url if public_url and public_url.strip() else listening_url(host, port))

    @property
    def reachable_from_elsewhere(self) -> bool:
        """False for a loopback or wildcard host (``127.0.0.1``, ``localhost``, ``0.0.0.0``, ``::``): links that only
        work on this machine, if at all — a mailed one is useless to its reader (the node warns at start)."""
        host = urlsplit(self.base).hostname or ""
        return not (host in ("localhost", "0.0.0.0", "::", "::1") or host.startswith("127."))

    @property
    def root(self) -> str:
        """The base with its trailing slash (``https://edu.example.org/``): the node's home page."""
        return self.base + "/"

    def to(self, path: str) -> str:
        """The absolute URL of ``path``, which starts with ``/`` (a programmer's mistake otherwise)."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        return self.base + path
