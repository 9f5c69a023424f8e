"""The e-mailed one-time sign-in link (issue 16), through a real SMTP server (aiosmtpd): the same answer
for every address, a confirm button before use, single use, 15 minutes, bound to its account, stored
only as a hash, the owner's way in while password guesses are throttled, and no mail flood."""

from __future__ import annotations

import hashlib
import re

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from portfolio_api.db import tables as t
from tests.portfolio.helpers import PASSWORD, PEOPLE, Env, env, form, make_env  # noqa: F401 - env: the fixture
from tests.portfolio.test_opportunities import Inbox, free_port, use_smtp

MARIA = PEOPLE["maria"][0]


@pytest.fixture
def inbox(env):
    box = Inbox()
    ctl = Controller(box, hostname="127.0.0.1", port=free_port())
    ctl.start()
    use_smtp(env, ctl.port)
    yield box
    ctl.stop()


@pytest.fixture
def clock(env, monkeypatch):
    now = [int(env.svc.ctx.now())]
    monkeypatch.setattr(env.svc.ctx, "clock", lambda: now[0])
    return now


def ask(env: Env, email: str, **kw):
    return form(env.browser(), "/login/link", {"email": email}, **kw)


def mailed_paths(env: Env, box: Inbox) -> list[str]:
    env.svc.mailer.flush()
    base = env.app.state.settings.effective_public_url
    links = [re.search(r"\S+/login/link/\S+", m.get_content()).group(0) for m in box.messages]
    assert all(link.startswith(base + "/login/link/") for link in links)
    return [link[len(base):] for link in links]


def page_text(html: str) -> str:
    return re.sub(r'name="csrf" value="[^"]*"', "", html)


def test_every_address_gets_the_same_page_and_only_an_account_gets_mail(env, inbox):
    known, unknown = ask(env, MARIA), ask(env, "nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    assert page_text(known.text) == page_text(unknown.text) and 'id="mail-sent"' in known.text
    env.svc.mailer.flush()
    assert [m["To"] for m in inbox.messages] == [MARIA]


def test_the_link_uses_the_public_url_never_the_host_header(env, inbox):
    ask(env, MARIA, headers={"host": "evil.example"})
    (path,) = mailed_paths(env, inbox)  # asserts the configured base
    assert "evil.example" not in inbox.messages[0].get_content()
    assert path.startswith("/login/link/")


def test_opening_shows_a_button_and_the_post_signs_in_once(env, inbox):
    ask(env, MARIA)
    (path,) = mailed_paths(env, inbox)
    c = env.browser()
    for _ in range(2):  # a mail scanner's prefetch uses nothing up
        r = c.get(path)
        assert r.status_code == 200 and f'action="{path}"' in r.text
    r = form(c, path)
    assert r.status_code == 303 and r.headers["location"] == "/portfolio"
    assert c.get("/portfolio").status_code == 200
    assert c.cookies.get("edu_csrf") == env.svc.ctx.vault.csrf_for_session(c.cookies.get("edu_session"))  # CSRF bound to the session
    again = env.browser()
    assert form(again, path).status_code == 400 and again.get(path).status_code == 400
    assert "edu_session" not in again.cookies


def test_a_link_is_stored_only_as_its_hash_and_bound_to_its_account(env, inbox):
    ask(env, MARIA)
    (path,) = mailed_paths(env, inbox)
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    with env.svc.ctx.engine.connect() as conn:
        rows = list(conn.execute(sa.select(t.login_links)))
    assert [(r.token_hash, r.user_id, r.purpose) for r in rows] == [(hashlib.sha256(token.encode()).hexdigest(), env.users["maria"].id, "login")]
    assert token not in repr([tuple(r) for r in rows])
    c = env.browser()
    form(c, path)
    assert env.svc.accounts.session_user(c.cookies.get("edu_session")).id == env.users["maria"].id


def test_a_link_expires_after_fifteen_minutes(env, inbox, clock):
    ask(env, MARIA)
    ask(env, PEOPLE["petr"][0])
    maria, petr = mailed_paths(env, inbox)
    clock[0] += 15 * 60 - 1
    assert form(env.browser(), maria).status_code == 303
    clock[0] += 1
    assert env.browser().get(petr).status_code == 400
    assert form(env.browser(), petr).status_code == 400


def test_the_owner_gets_in_by_link_while_password_guesses_are_throttled(env, inbox):
    stranger = env.browser()
    codes = [form(stranger, "/login", {"email": MARIA, "password": f"guess {i}"}).status_code for i in range(8)]
    assert 429 in codes
    assert form(env.browser(), "/login", {"email": MARIA, "password": PASSWORD}).status_code == 429  # Maria's password waits too
    ask(env, MARIA)
    (path,) = mailed_paths(env, inbox)
    assert form(env.browser(), path).status_code == 303  # the link does not


def test_no_mail_flood_three_links_per_account_in_fifteen_minutes(env, inbox, clock):
    pages = [ask(env, MARIA) for _ in range(5)] + [ask(env, "MARIA@Example.org")]
    assert {p.status_code for p in pages} == {200} and len({page_text(p.text) for p in pages}) == 1
    assert len(mailed_paths(env, inbox)) == 3
    clock[0] += 15 * 60
    ask(env, MARIA)
    assert len(mailed_paths(env, inbox)) == 4


def test_one_client_address_is_answered_429_past_its_limit(env, inbox):
    codes = [ask(env, f"person{i}@example.org").status_code for i in range(31)]
    assert codes[:30] == [200] * 30
    r = ask(env, "person-last@example.org")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_an_erased_account_cannot_use_its_link(env, inbox):
    ask(env, MARIA)
    (path,) = mailed_paths(env, inbox)
    env.svc.accounts.erase(env.users["maria"].id)
    assert form(env.browser(), path).status_code == 400


def test_bad_addresses_are_refused_and_nothing_is_sent(env, inbox):
    for bad in ("maria@example.org\x00", "not-an-address"):
        r = ask(env, bad)
        assert r.status_code == 400
    env.svc.mailer.flush()
    assert inbox.messages == []


def test_a_forged_or_overlong_token_is_refused(env, inbox):
    c = env.browser()
    assert c.get("/login/link/" + "A" * 43).status_code == 400
    assert form(c, "/login/link/" + "A" * 43).status_code == 400
    assert form(c, "/login/link/" + "A" * 500).status_code == 400
    assert form(c, "/register/confirm/" + "A" * 43).status_code == 400


def test_without_mail_the_page_says_what_to_do_instead_and_nothing_is_stored(env):
    assert not env.svc.mailer.configured
    assert 'id="no-mail"' in env.browser().get("/login/link").text
    r = ask(env, MARIA)
    assert r.status_code == 200 and 'id="no-mail"' in r.text
    with env.svc.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.login_links)).scalar() == 0


def test_the_sign_in_page_offers_the_link_in_both_languages(env):
    c = env.browser()
    assert 'href="/login/link"' in c.get("/login").text and "Войти по ссылке из письма" in c.get("/login").text
    c.get("/lang/en")
    assert "Sign in with an e-mailed link" in c.get("/login").text
