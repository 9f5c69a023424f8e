"""Hostile requests: every body is bounded before it is read (portfolio_api/bodylimit.py): a declared size over the
route's limit is refused having read nothing, a chunked body is cut at the limit, and nothing is written;
and the security headers every answer carries (portfolio_api/security_headers.py)."""

from __future__ import annotations

import asyncio
import json

import pytest

from portfolio_api.bodylimit import DEFAULT_LIMIT, limit_for
from tests.portfolio.helpers import PASSWORD, PEOPLE, env  # noqa: F401 - the fixture

PEOPLE_MARIA = PEOPLE["maria"][0]

CHUNK = 64 * 1024


def _call(app, method: str, path: str, *, declared: int | None, total: int, headers: dict[str, str] | None = None):
    """Send ``total`` bytes (lazily, in 64 KiB chunks) to the ASGI app; (status, body, bytes the app pulled)."""
    return asyncio.run(_acall(app, method, path, declared=declared, total=total, headers=headers))[:3]


async def _acall(app, method: str, path: str, *, declared: int | None, total: int, headers: dict[str, str] | None = None):
    """:func:`_call` on the running event loop; also the response headers (lower-case names)."""
    pulled = 0
    sent = {"status": None, "body": b"", "headers": {}}
    hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if declared is not None:
        hdrs.append((b"content-length", str(declared).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http", "path": path,
        "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": hdrs, "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive():
        nonlocal pulled
        n = min(CHUNK, total - pulled)
        pulled += n
        return {"type": "http.request", "body": b"\0" * n, "more_body": pulled < total}

    async def send(message):
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
            sent["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return sent["status"], sent["body"], pulled, sent["headers"]


ROUTES = [
    ("POST", "/api/v1/ledger/entries"),
    ("POST", "/api/v1/credentials/bundle"),
    ("POST", "/add-checkpoint"),
    ("POST", "/api/v1/verify"),
    ("POST", "/verify"),
    ("POST", "/verify/bulk"),
    ("POST", "/portfolio/upload"),
    ("POST", "/staff/batch"),
    ("POST", "/login"),
]


@pytest.mark.parametrize("method, path", ROUTES)
def test_a_declared_size_over_the_limit_is_refused_having_read_nothing(env, method, path):
    limit = limit_for(method, path, env.app.state.settings)
    status, body, pulled = _call(env.app, method, path, declared=300 << 20, total=300 << 20, headers={"accept": "application/json"})
    assert status == 413 and pulled == 0
    assert json.loads(body)["error"] == "too-large" and str(limit) in json.loads(body)["detail"]


@pytest.mark.parametrize("method, path", ROUTES)
def test_a_chunked_body_is_cut_at_the_limit(env, method, path):
    limit = limit_for(method, path, env.app.state.settings)
    status, _, pulled = _call(
        env.app, method, path, declared=None, total=300 << 20,
        headers={"accept": "application/json", "content-type": "multipart/form-data; boundary=xyz"},
    )
    assert status in (413, 400, 403, 422)  # cut at the limit, or refused earlier for what it is
    assert pulled <= limit + CHUNK


def test_an_anonymous_multipart_post_without_csrf_token_is_refused_before_anything_is_spooled(env, tmp_path_factory, monkeypatch):
    import tempfile

    spool = tmp_path_factory.mktemp("spool")
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    status, _, pulled = _call(env.app, "POST", "/verify", declared=300 << 20, total=300 << 20,
                              headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert status == 413 and pulled == 0 and list(spool.iterdir()) == []


def test_a_content_length_that_is_not_a_number_is_a_400(env):
    status, body, pulled = _call(env.app, "POST", "/api/v1/ledger/entries", declared=None, total=10,
                                 headers={"content-length": "12abc", "accept": "application/json"})
    assert status == 400 and pulled == 0 and json.loads(body)["error"] == "malformed"


def test_a_browser_gets_the_error_page_and_ordinary_requests_pass(env):
    status, body, _ = _call(env.app, "POST", "/login", declared=DEFAULT_LIMIT + 1, total=DEFAULT_LIMIT + 1, headers={"accept": "text/html"})
    assert status == 413 and b"<html" in body.lower()
    assert env.client.get("/api/v1/ledger/status").status_code == 200
    assert env.client.post("/api/v1/ledger/entries", json={"entries": []}).status_code in (400, 422)


# --- security headers (portfolio_api/security_headers.py) ----------------------------------------


def test_html_pages_carry_a_strict_csp_and_every_answer_the_basic_headers(env):
    page = env.client.get("/verify")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    api = env.client.get("/api/v1/ledger/status")
    assert api.headers["x-content-type-options"] == "nosniff" and api.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in api.headers and api.headers["cache-control"] == "no-store"
    static = env.client.get("/static/style.css")
    assert static.status_code == 200 and static.headers.get("cache-control") != "no-store"


def test_no_template_has_inline_script_or_style_the_csp_would_block():
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "portfolio_api" / "templates"
    for page in templates.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<style" not in html and ' style="' not in html and " on" + "click=" not in html, page.name
        for tag in html.split("<script")[1:]:
            assert 'src="' in tag.split(">", 1)[0], f"{page.name}: an inline <script>"


# --- integers in paths -----------------------------------------------------------------------------

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "who, method, path",
    [
        (None, "GET", f"/opportunities/{HUGE}"),
        (None, "GET", f"/opportunities/unsubscribe/{HUGE}/x"),
        (None, "POST", f"/opportunities/unsubscribe/{HUGE}/x"),
        ("maria", "GET", f"/portfolio/uploads/{HUGE}/file"),
        ("olymp", "GET", f"/staff/batches/{HUGE}"),
        (None, "GET", f"/api/v1/ledger/entries/{HUGE}"),
        (None, "GET", f"/api/v1/ledger/blocks/{HUGE}"),
        (None, "GET", "/api/v1/ledger/entries/-1"),
        (None, "GET", "/opportunities/abc"),
    ],
)
def test_an_integer_out_of_range_in_a_path_is_a_404_not_a_500(env, who, method, path):
    from tests.portfolio.helpers import form

    c = env.browser(who)
    r = form(c, path) if method == "POST" else c.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text[:200])


# --- absolute links come from the public URL setting, never from the Host header --------------------


def test_share_links_and_qr_codes_ignore_a_forged_host_header(env):
    from tests.portfolio.helpers import form

    c = env.browser("maria")
    assert form(c, "/portfolio/shares", {"days": "7", "label": "для вуза", "scope": "all", "confirmed": "yes"}).status_code == 303
    page = c.get("/portfolio/shares", headers={"host": "evil.example"})
    public = env.app.state.settings.effective_public_url
    assert "evil.example" not in page.text and f"{public}/s/" in page.text
    import io

    import segno

    share = env.svc.portfolio.shares_of(env.users["maria"])[0]
    qr = c.get(f"/portfolio/shares/{share.id}/qr.svg", headers={"host": "evil.example"})
    want = io.BytesIO()
    segno.make(f"{public}/s/{share.token}", error="m").save(want, kind="svg", scale=4, border=2)
    assert qr.status_code == 200 and qr.content == want.getvalue()  # the QR code encodes the public URL


def test_the_public_url_defaults_to_the_listening_address_and_follows_the_environment(monkeypatch):
    from portfolio_api.settings import Settings

    assert Settings(host="0.0.0.0", port=8123).effective_public_url == "http://0.0.0.0:8123"
    monkeypatch.setenv("EDULEDGER_PUBLIC_URL", "https://edu.example.org/")
    assert Settings().effective_public_url == "https://edu.example.org"


# --- CSRF tokens are bound to the session ---------------------------------------------------------


def test_a_csrf_token_from_before_sign_in_or_planted_does_not_work_for_a_session(env):
    c = env.browser()
    anonymous = c.cookies.get("edu_csrf")
    r = c.post("/login", data={"email": PEOPLE_MARIA, "password": PASSWORD, "csrf": anonymous})
    assert r.status_code == 303
    bound = c.cookies.get("edu_csrf")
    assert bound and bound != anonymous  # sign-in issued the session's token
    assert c.post("/portfolio/shares", data={"days": "7", "scope": "all", "confirmed": "yes", "csrf": bound}).status_code == 303
    # An attacker who plants a CSRF cookie of their choosing (a sibling subdomain can) gets nowhere:
    planted = "p" * 43
    c.cookies.set("edu_csrf", planted)
    r = c.post("/portfolio/shares", data={"days": "7", "csrf": planted})
    assert r.status_code == 403


def test_a_sequencer_alert_shows_its_banner_in_both_languages(env):
    import json as _json

    env.node.store.set_meta(env.node.SEQUENCER_ALERT_KEY, _json.dumps({"reason": "witness uni-1 has cosigned size 15, beyond 13"}))
    ru = env.client.get("/verify")
    assert 'id="sequencer-alert"' in ru.text and "Узел-секвенсор остановил запись." in ru.text
    env.client.cookies.set("edu_lang", "en")
    assert "The sequencer stopped writing." in env.client.get("/verify").text


def test_large_bodies_share_one_byte_budget_and_small_requests_never_wait_for_it():
    """However many clients send large bodies at once, what the node holds is bounded by the budget: a large
    body that does not fit is answered 503 with Retry-After before a byte is read; small requests pass."""
    from portfolio_api.bodylimit import BodyLimit
    from portfolio_api.settings import Settings

    settings = Settings(body_budget_bytes=30 << 20)  # one chunked /api/v1/verify (24 MiB limit) fits, two do not
    release = asyncio.Event()

    async def handler(scope, receive, send):  # reads its body, then holds it until told
        while (await receive()).get("more_body"):
            pass
        if scope["path"] == "/slow":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = BodyLimit(handler, settings)

    async def call(path: str, *, declared: int | None, total: int) -> tuple[int, int, dict]:
        status, _, pulled, headers = await _acall(app, "POST", path, declared=declared, total=total)
        return status, pulled, headers

    import portfolio_api.bodylimit as bl

    async def scenario():
        real = bl.limit_for
        bl.limit_for = lambda method, path, s: real(method, "/api/v1/verify" if path == "/slow" else path, s)
        try:
            first = asyncio.create_task(call("/slow", declared=None, total=5 << 20))  # chunked: reserves the route's 24 MiB
            while app.budget.used == 0:
                await asyncio.sleep(0)
            status, pulled, headers = await call("/api/v1/verify", declared=None, total=5 << 20)
            assert (status, pulled, headers.get("retry-after")) == (503, 0, "2")
            assert (await call("/api/v1/verify", declared=10 << 20, total=10 << 20))[:2] == (503, 0)  # 24 + 10 > 30
            assert (await call("/api/v1/verify", declared=4 << 20, total=4 << 20))[0] == 200  # 24 + 4 fits
            assert (await call("/api/v1/verify", declared=900_000, total=900_000))[0] == 200  # small: never counted
            release.set()
            assert (await first)[0] == 200
            assert app.budget.used == 0
            assert (await call("/api/v1/verify", declared=None, total=5 << 20))[0] == 200
        finally:
            bl.limit_for = real

    asyncio.run(scenario())
