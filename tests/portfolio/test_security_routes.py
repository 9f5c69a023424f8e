"""Every route, attacked: hostile bodies and path values against each route the app serves, found by walking
``app.routes`` (so a route added tomorrow is covered without touching this file) and checked against
``/openapi.json`` (so the API's published surface is a subset of what is attacked).

For each route and method, as an anonymous client and as a signed-in person of the role the route serves:

* an oversized body, declared (``Content-Length`` over the route's limit: refused having read nothing) and
  chunked without a ``Content-Length`` (cut at the limit: at most the limit plus one chunk was ever read);
* a gzip and a deflate ``Content-Encoding`` bomb (256 MiB of zeros in 256 KiB): never inflated;
* malformed JSON, JSON nested 100,000 deep, a malformed multipart body, a multipart body without a
  boundary, and wrong content types;
* path parameters filled with a huge integer, a negative one and a garbage string.

Asserted: no 5xx; a 4xx wherever the body is the route's input and is bad; the bytes the app pulled
through ``receive`` (counted by the test's own ASGI ``receive``) within the route's limit plus one chunk;
nothing written — every table's row count and the ledger's size unchanged, and no temporary file created
(``tempfile.tempdir`` points at a fresh, watched directory); and every HTML answer carries the security
headers (a CSP without ``'unsafe-inline'`` in ``script-src``, ``frame-ancestors 'none'``, ``nosniff``,
``Referrer-Policy: same-origin``).

Requests are ASGI calls made in-process, in the app's own event loop (the TestClient's portal), so the test
owns ``receive`` and sees exactly how many body bytes the app asked for. One app serves the whole module:
about 2,500 requests in well under a minute.
"""

from __future__ import annotations

import re
import struct
import tempfile
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.routing import Mount

from portfolio_api.app import create_app
from portfolio_api.bodylimit import limit_for
from portfolio_api.settings import Settings
from tests.portfolio.helpers import PASSWORD, PEOPLE, make_env

CHUNK = 64 * 1024
HUGE = "99999999999999999999"  # > 2^64: overflows every database integer
BOMB_INFLATED = 256 << 20
#: A request may allocate this much Python memory at most while it handles a compressed bomb: a tenth
#: of what inflating it would take (tracemalloc counts every allocation of the process while it runs).
BOMB_MEMORY_CEILING = 24 << 20


def _route_contexts(routes: list[Any]) -> Iterator[Any]:
    """The routes as served, with the prefixes of included routers applied (FastAPI ≥ 0.120 nests them)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        yield from routes
        return
    yield from iter_route_contexts(routes)


@dataclass(frozen=True)
class Target:
    method: str
    path: str  # the route's template, e.g. /staff/batches/{batch_id}
    params: tuple[tuple[str, bool], ...]  # (name, is an integer)
    takes_body: bool  # the route reads a body: body or form parameters, or the raw body/stream
    in_schema: bool

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, value: str | None = None) -> str:
        """The path with every parameter set to ``value`` (default: a plausible one, "1")."""
        out = self.path
        for name, _ in self.params:
            out = re.sub(r"\{" + name + r"(:[a-z]+)?\}", value or "1", out)
        return out


#: Routes that read their body themselves (request.body() or request.stream()), not through parameters.
RAW_BODY = {"/api/v1/verify", "/api/v1/ledger/entries", "/add-checkpoint", "/api/v1/credentials/bundle"}


def _body_params(dependant: Any) -> list[Any]:
    found = list(dependant.body_params)
    for sub in dependant.dependencies:
        found += _body_params(sub)
    return found


def _targets(app: Any) -> list[Target]:
    found: list[Target] = []
    for route in _route_contexts(app.routes):
        if isinstance(route.original_route if hasattr(route, "original_route") else route, Mount) or route.methods is None:
            found.append(Target("GET", route.path + "/{path}", (("path", False),), False, False))  # e.g. /static
            continue
        dependant = getattr(route, "dependant", None)
        params: list[tuple[str, bool]] = []
        if dependant is not None:
            params = [(p.name, p.field_info.annotation is int or getattr(p, "type_", None) is int) for p in dependant.path_params]
        else:
            params = [(name, False) for name in re.findall(r"\{(\w+)", route.path)]
        takes_body = route.path in RAW_BODY or bool(dependant is not None and _body_params(dependant))
        for method in sorted(route.methods - {"HEAD"}):
            found.append(Target(method, route.path, tuple(params), takes_body, bool(getattr(route, "include_in_schema", False))))
    return found


# The routes are collected from an app that is never started (routing needs no node): the test ids name them.
TARGETS = _targets(create_app(Settings(data_dir=Path(tempfile.gettempdir()) / "eduledger-route-listing")))


def _owner(path: str) -> str:
    """The person whose role the route serves (helpers.PEOPLE), so the request passes authorization and
    reaches the parsing of its body. Routes of no one in particular are tried as a pupil."""
    for prefix, who in (
        ("/staff", "olymp"), ("/api/v1/institution", "olymp"), ("/institution", "olymp_admin"), ("/network/", "net"),
        ("/opportunities/new", "olymp"), ("/opportunities/applicants", "olymp"),
    ):
        if path.startswith(prefix):
            return who
    if re.match(r"^/opportunities/\{\w+\}/results", path):
        return "olymp"
    return "maria"


# --- the in-process ASGI call ----------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    pulled: int  # body bytes the app asked for through receive
    peak: int | None = None  # Python memory allocated at the peak while handling it, when measured


class Body:
    """A request body: its bytes (or a generator of chunks, for an endless stream) and its headers."""

    def __init__(self, name: str, content_type: str | None, data: bytes | None = None, *, declared: int | None = None,
                 stream_bytes: int | None = None, encoding: str | None = None, measure: bool = False, refused: bool = True) -> None:
        self.name, self.content_type, self.data = name, content_type, data
        #: False for a body a lenient parser still reads as a form (Starlette takes a multipart body cut before
        #: its closing boundary, and url-encoding takes any bytes): a route whose fields all have defaults sees
        #: an empty form, which is valid input. No 5xx and nothing written still hold.
        self.refused = refused
        self.declared, self.stream_bytes, self.encoding, self.measure = declared, stream_bytes, encoding, measure

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = []
        if self.content_type:
            out.append((b"content-type", self.content_type.encode()))
        if self.encoding:
            out.append((b"content-encoding", self.encoding.encode()))
        if self.declared is not None:
            out.append((b"content-length", str(self.declared).encode()))
        elif self.data is not None:
            out.append((b"content-length", str(len(self.data)).encode()))
        return out

    def chunks(self) -> Iterator[bytes]:
        if self.stream_bytes is not None:  # chunked: the client would go on far past the limit
            sent = 0
            while sent < self.stream_bytes:
                n = min(CHUNK, self.stream_bytes - sent)
                sent += n
                yield b"\0" * n
        elif self.declared is not None:  # the declared size, were the app to read it
            sent = 0
            while sent < self.declared:
                n = min(CHUNK, self.declared - sent)
                sent += n
                yield b"-" * n
        else:
            data = self.data or b""
            for i in range(0, max(len(data), 1), CHUNK):
                yield data[i : i + CHUNK]


class Caller:
    """Calls the running app in its own event loop with a receive the test owns."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app = client.app

    def call(self, method: str, path: str, body: Body | None = None, headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
        chunks = (body.chunks() if body is not None else iter([b""]))
        pending = [next(chunks, b"")]
        pulled = 0
        status, head, out = 500, {}, []
        all_headers = list(headers or []) + (body.headers() if body is not None else [])
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": all_headers,
            "client": ("203.0.113.7", 50000), "server": ("127.0.0.1", 8000), "state": {},
        }

        async def receive() -> dict[str, Any]:
            nonlocal pulled
            if not pending:
                return {"type": "http.disconnect"}
            chunk = pending.pop()
            pulled += len(chunk)
            following = next(chunks, None)
            if following is not None:
                pending.append(following)
            return {"type": "http.request", "body": chunk, "more_body": following is not None}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, head
            if message["type"] == "http.response.start":
                status = message["status"]
                head = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except Exception as e:  # the server would have answered 500 (ServerErrorMiddleware re-raises)
                out.append(repr(e).encode())
                nonlocal status
                status = 500

        peak = None
        if body is not None and body.measure:
            tracemalloc.start()
            try:
                self.client.portal.call(run)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        else:
            self.client.portal.call(run)
        return Answer(status, head, b"".join(out), pulled, peak)


# --- the world the requests hit ---------------------------------------------------------------------


@dataclass
class World:
    app: Any
    caller: Caller
    data: Path
    spool: Path
    sessions: dict[str, list[tuple[bytes, bytes]]]  # who -> cookie and CSRF headers

    def written(self) -> dict[str, int]:
        """Every table's row count, the ledger's size, and the files in the data directory and the spool."""
        counts: dict[str, int] = {}
        engine = self.app.state.portfolio.ctx.engine
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                counts[table] = conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()
        counts["ledger size"] = self.app.state.node.log.size
        counts["spooled files"] = sum(1 for _ in self.spool.rglob("*"))
        counts["data directory files"] = sum(1 for p in self.data.rglob("*") if not p.name.endswith(("-wal", "-shm", "-journal")))
        return counts


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    app, data = make_env(tmp_path_factory.mktemp("security"))
    spool = tmp_path_factory.mktemp("spool")
    mp = pytest.MonkeyPatch()
    mp.setattr(tempfile, "tempdir", str(spool))  # every temporary file (multipart spooling included) lands here
    mp.setenv("TMPDIR", str(spool))
    try:
        with TestClient(app, follow_redirects=False) as client:
            svc = app.state.portfolio
            sessions: dict[str, list[tuple[bytes, bytes]]] = {}
            anonymous = TestClient(app, follow_redirects=False)
            anonymous.get("/login")
            token = anonymous.cookies["edu_csrf"]
            sessions["anonymous"] = [(b"cookie", f"edu_csrf={token}".encode()), (b"x-csrf-token", token.encode())]
            for who in {_owner(t.path) for t in TARGETS}:
                email, name, role, inst = PEOPLE[who]
                svc.accounts.create(email, PASSWORD, name, role, inst)
            for who in {_owner(t.path) for t in TARGETS}:
                c = TestClient(app, follow_redirects=False)
                c.get("/login")
                r = c.post("/login", data={"email": PEOPLE[who][0], "password": PASSWORD, "csrf": c.cookies.get("edu_csrf")})
                assert r.status_code == 303, r.text
                cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
                sessions[who] = [(b"cookie", cookie.encode()), (b"x-csrf-token", c.cookies["edu_csrf"].encode())]
            yield World(app, Caller(client), data, spool, sessions)
    finally:
        mp.undo()


# --- the hostile bodies -------------------------------------------------------------------------------


def _bombs() -> tuple[bytes, bytes]:
    """A gzip and a zlib ("deflate") stream of BOMB_INFLATED zero bytes, about 1,000 times smaller.

    Built without compressing 256 MiB: after a full flush the compressor starts afresh, so each MiB of
    zeros compresses to the same bytes; the stream is that piece repeated, framed by hand."""
    mib = 1 << 20
    zeros = bytes(mib)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate: the framing is added below
    piece = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    raw = piece * (BOMB_INFLATED // mib) + packer.flush(zlib.Z_FINISH)
    crc, adler = 0, 1
    for _ in range(BOMB_INFLATED // mib):
        crc, adler = zlib.crc32(zeros, crc), zlib.adler32(zeros, adler)
    gzip_bomb = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw + struct.pack("<II", crc, BOMB_INFLATED & 0xFFFFFFFF)  # RFC 1952
    zlib_bomb = b"\x78\xda" + raw + struct.pack(">I", adler)  # RFC 1950
    return gzip_bomb, zlib_bomb


GZIP_BOMB, DEFLATE_BOMB = _bombs()
CUT_MULTIPART = (
    b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.json\"\r\nContent-Type: application/json\r\n\r\n"
    b"{\"format\": \"eduledger-bundle/v1\"\r\n--xy"  # the closing boundary is cut
)
BROKEN_MULTIPART = b"--xyz\r\nnot a header line\r\n\r\nx\r\n--xyz--\r\n"


def hostile_bodies(limit: int) -> list[Body]:
    over = limit + 1
    return [
        Body("declared over the limit", "multipart/form-data; boundary=xyz", declared=over),
        Body("chunked past the limit (multipart)", "multipart/form-data; boundary=xyz", stream_bytes=limit + 8 * CHUNK),
        Body("chunked past the limit (JSON)", "application/json", stream_bytes=limit + 8 * CHUNK),
        Body("gzip bomb", "application/json", GZIP_BOMB, encoding="gzip", measure=True),
        Body("deflate bomb", "multipart/form-data; boundary=xyz", DEFLATE_BOMB, encoding="deflate", measure=True),
        Body("malformed JSON", "application/json", b'{"entries": [1, 2,'),
        Body("JSON nested 100,000 deep", "application/json", b"[" * 100_000),
        Body("multipart with a broken part header", "multipart/form-data; boundary=xyz", BROKEN_MULTIPART),
        Body("multipart cut before its end", "multipart/form-data; boundary=xyz", CUT_MULTIPART, refused=False),
        Body("multipart without a boundary", "multipart/form-data", b"--\r\n\r\nzzz"),
        Body("XML", "application/xml", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>"),
        Body("binary form", "application/x-www-form-urlencoded", b"%ZZ&\xff\xfe=%&&==csrf=%00" * 64, refused=False),
        Body("no content type", None, b"\x00\x01garbage"),
    ]


def _to_sign_in(a: Answer) -> bool:
    """An anonymous browser sent to the sign-in page: refused, the HTML way."""
    return a.status == 303 and a.headers.get("location", "").startswith("/login")


def _check_headers(target: str, a: Answer) -> None:
    assert a.headers.get("x-content-type-options") == "nosniff", target
    assert a.headers.get("referrer-policy") == "same-origin", target
    if a.headers.get("content-type", "").startswith("text/html"):
        csp = a.headers.get("content-security-policy", "")
        script_src = next((d for d in csp.split(";") if d.strip().startswith("script-src")), "")
        assert script_src and "unsafe-inline" not in script_src and "'unsafe-eval'" not in script_src, (target, csp)
        assert "frame-ancestors 'none'" in csp, (target, csp)


def _attack(world: World, target: Target, who: str, refused: bool) -> list[str]:
    """Send the hostile bodies (those to be refused, or the lenient ones) to ``target`` as ``who``; the list of
    what went wrong."""
    problems: list[str] = []
    path = target.url()
    limit = limit_for(target.method, path, world.app.state.settings)
    session = world.sessions[who]
    # A route that reads no body (sign out, mark read, ...) does what it does whatever the body says: it gets
    # no CSRF header, so it refuses (403) instead of acting. The CSRF check still parses a form, so its
    # parser is attacked as well.
    headers = session if target.takes_body else [h for h in session if h[0] != b"x-csrf-token"]
    headers = headers + [(b"accept", b"application/json" if path.startswith("/api/") else b"text/html")]
    for body in hostile_bodies(limit):
        if body.refused != refused:
            continue
        a = world.caller.call(target.method, path, body, headers)
        what = f"{target.id} as {who}, {body.name}: {a.status} {a.body[:300]!r}"
        if a.status >= 500:
            problems.append("5xx: " + what)
            continue
        if body.declared is not None and a.pulled != 0:
            problems.append(f"read {a.pulled} bytes of a body declared over the limit: " + what)
        if a.pulled > limit + CHUNK:
            problems.append(f"read {a.pulled} bytes, limit {limit} + one chunk: " + what)
        if body.declared is not None and a.status != 413:
            problems.append("not a 413: " + what)
        if target.takes_body and body.refused and not (400 <= a.status < 500 or _to_sign_in(a)):
            problems.append("bad input not refused with a 4xx: " + what)
        if a.peak is not None and a.peak > BOMB_MEMORY_CEILING:
            problems.append(f"{a.peak >> 20} MiB allocated for a {len(body.data or b'') >> 10} KiB body: " + what)
        try:
            _check_headers(what, a)
        except AssertionError as e:
            problems.append(f"security headers missing: {e}")
    return problems


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_hostile_bodies_are_refused_bounded_and_write_nothing(world, target):
    owner = _owner(target.path)
    before = world.written()
    problems = _attack(world, target, "anonymous", True) + _attack(world, target, owner, True)
    after = world.written()
    # Last, and with no claim on what they write: the bodies a lenient parser reads as a (possibly empty) form.
    problems += _attack(world, target, "anonymous", False) + _attack(world, target, owner, False)
    assert not problems, "\n".join(problems)
    assert after == before, {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}


BAD_PATH_VALUES = (HUGE, "-1", "-" + HUGE, "%00zz'\"<x>", "1e309", "0x10")


@pytest.mark.parametrize("target", [t for t in TARGETS if t.params], ids=[t.id for t in TARGETS if t.params])
def test_out_of_range_and_garbage_path_values_are_a_4xx_never_a_5xx(world, target):
    before = world.written()
    problems = []
    for who in ("anonymous", _owner(target.path)):
        # No CSRF header: a path that names something real must not be acted on here (the CSRF check would
        # refuse it); a path that names nothing is refused before that, with a 404.
        headers = [h for h in world.sessions[who] if h[0] != b"x-csrf-token"]
        for value in BAD_PATH_VALUES:
            a = world.caller.call(target.method, target.url(value), None, headers + [(b"accept", b"text/html")])
            what = f"{target.method} {target.url(value)} as {who}: {a.status} {a.body[:200]!r}"
            if a.status >= 500:
                problems.append("5xx: " + what)
            elif who != "anonymous" and any(is_int for _, is_int in target.params) and not 400 <= a.status < 500:
                problems.append("not a 4xx: " + what)
            try:
                _check_headers(what, a)
            except AssertionError as e:
                problems.append(f"security headers missing: {e}")
    assert not problems, "\n".join(problems)
    assert world.written() == before


def test_every_route_in_the_openapi_schema_is_attacked(world):
    """The published API is a subset of what this module attacks (a route is never left out by accident)."""
    r = world.caller.call("GET", "/openapi.json", None, [])
    import json

    schema = json.loads(r.body)
    published = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    attacked = {(t.method, re.sub(r":[a-z]+\}", "}", t.path)) for t in TARGETS}
    assert published and published <= attacked, published - attacked
    assert len(attacked) > len(published)  # the HTML routes too


def test_the_spool_directory_stayed_empty(world):
    """Nothing of all those bodies reached the disk as a temporary file (multipart spooling included)."""
    assert list(world.spool.iterdir()) == []


@pytest.mark.parametrize("bomb, wbits", [(GZIP_BOMB, 16 + zlib.MAX_WBITS), (DEFLATE_BOMB, zlib.MAX_WBITS)], ids=["gzip", "deflate"])
def test_the_bombs_are_bombs(bomb, wbits):
    """What the routes were sent really inflates about a thousandfold (checked on its first 32 MiB, and its end)."""
    inflater = zlib.decompressobj(wbits)
    first = inflater.decompress(bomb, 32 << 20)
    assert first == bytes(32 << 20) and len(bomb) - len(inflater.unconsumed_tail) < (32 << 20) // 500
    assert len(bomb) < BOMB_INFLATED // 500
    tail = zlib.decompressobj(wbits)
    assert tail.decompress(bomb[:64], 1) == b"\0"  # a valid header, and the checksum trailer is the last 4 or 8 bytes
