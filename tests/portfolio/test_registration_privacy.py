"""Registration that does not reveal whether an address has an account (issue 16), with and without mail,
and the one strict parser every e-mail address goes through (email-validator, no DNS)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from ledger.errors import MalformedError
from portfolio_api.db import tables as t
from portfolio_api.services.accounts import normalize_email
from tests.portfolio.helpers import PASSWORD, PEOPLE, Env, env, form, make_env  # noqa: F401 - env: the fixture
from tests.portfolio.test_opportunities import Inbox, free_port, smtp, use_smtp  # noqa: F401 - smtp: the fixture

NEW = {"name": "Иван Петров", "email": "ivan@example.org", "password": "a fresh passphrase 2026", "role": "student"}
TAKEN = {**NEW, "email": "maria@example.org", "password": "the attacker's own pass"}


def users(env: Env) -> int:
    with env.svc.ctx.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.users)).scalar()


def page_text(html: str) -> str:
    """What a person reads: the page without its per-browser CSRF token."""
    return re.sub(r'name="csrf" value="[^"]*"', "", html)


def signs_in(env: Env, email: str, password: str) -> bool:
    c = env.browser()
    return form(c, "/login", {"email": email, "password": password}).status_code == 303


# --- with mail: the same page, different mail ---


def test_with_mail_a_new_and_a_taken_address_get_the_same_page_and_different_mail(env, smtp):
    ctl, inbox = smtp
    use_smtp(env, ctl.port)
    before = users(env)
    fresh, taken = form(env.browser(), "/register", NEW), form(env.browser(), "/register", TAKEN)
    assert fresh.status_code == taken.status_code == 200
    assert page_text(fresh.text) == page_text(taken.text) and 'id="mail-sent"' in fresh.text
    assert users(env) == before  # nothing in pf_users until the link is used
    env.svc.mailer.flush()
    mails = {m["To"]: m for m in inbox.messages}
    assert set(mails) == {"ivan@example.org", "maria@example.org"}
    assert "/register/confirm/" in mails["ivan@example.org"].get_content()
    told = mails["maria@example.org"].get_content()
    assert "already has an account" in told and "/login/link/" in told and "/register/confirm/" not in told
    # the attacker's password did nothing to Maria's account
    assert signs_in(env, "maria@example.org", PASSWORD) and not signs_in(env, "maria@example.org", TAKEN["password"])


def test_the_registration_link_shows_a_button_then_creates_the_account_once(env, smtp):
    ctl, inbox = smtp
    use_smtp(env, ctl.port)
    form(env.browser(), "/register", NEW)
    env.svc.mailer.flush()
    link = re.search(r"\S+/register/confirm/\S+", inbox.messages[0].get_content()).group(0)
    assert link.startswith(env.app.state.settings.effective_public_url + "/")  # the configured base, not a Host header
    path = link[len(env.app.state.settings.effective_public_url):]
    c = env.browser()
    assert c.get(path).status_code == 200 and c.get(path).status_code == 200  # a mail scanner's GET uses nothing up
    assert env.svc.accounts.find_by_email(NEW["email"]) is None
    r = form(c, path)
    assert r.status_code == 303 and r.headers["location"] == "/portfolio"
    assert c.get("/portfolio").status_code == 200
    me = env.svc.accounts.find_by_email(NEW["email"])
    assert (me.name, me.role) == (NEW["name"], "student")
    assert form(env.browser(), path).status_code == 400  # single use
    assert signs_in(env, NEW["email"], NEW["password"])


def test_a_pending_registration_is_unreadable_without_its_link(env, smtp):
    ctl, _ = smtp
    use_smtp(env, ctl.port)
    form(env.browser(), "/register", {**NEW, "name": "Уникальное Имя Маркер"})
    with env.svc.ctx.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(t.login_links))]
    assert len(rows) == 1 and rows[0][1] == "register"
    raw = repr(rows).encode() + b"".join(v for v in rows[0] if isinstance(v, bytes))
    assert "Маркер".encode() not in raw and b"ivan@example.org" not in raw and b"argon2" not in raw


def test_at_most_three_mails_per_address_in_fifteen_minutes_and_the_page_does_not_change(env, smtp):
    ctl, inbox = smtp
    use_smtp(env, ctl.port)
    pages = [form(env.browser(), "/register", TAKEN) for _ in range(5)]
    assert {p.status_code for p in pages} == {200} and len({page_text(p.text) for p in pages}) == 1
    env.svc.mailer.flush()
    assert len(inbox.messages) == 3


# --- without mail: say plainly what to do, the same for both ---


def test_without_mail_both_answers_send_the_person_to_sign_in_with_the_same_words(env):
    assert not env.svc.mailer.configured
    fresh, taken = form(env.browser(), "/register", NEW), form(env.browser(), "/register", TAKEN)
    assert fresh.status_code == taken.status_code == 303
    assert fresh.headers["location"] == taken.headers["location"] == "/login?msg=registered"
    assert "edu_session" not in fresh.cookies and "edu_session" not in taken.cookies  # signing in would tell them apart
    page = env.browser().get("/login?msg=registered").text
    assert "Регистрация принята" in page
    assert signs_in(env, NEW["email"], NEW["password"])  # the new account works
    assert signs_in(env, "maria@example.org", PASSWORD) and not signs_in(env, "maria@example.org", TAKEN["password"])


# --- one strict parser for every address ---


@pytest.mark.parametrize("bad, words", [
    ("ivan\x00@example.org", "control characters"),
    ("ivan@exam\x00ple.org", "control characters"),
    ("ivan@example.org\x1b", "control characters"),
    ("ivan@example", "not valid"),
    ("ivan example@example.org", "not valid"),
    ("@example.org", "not valid"),
    ("x" * 250 + "@example.org", "1 to 254"),
])
def test_bad_addresses_are_refused_with_a_clear_400_and_nothing_stored(env, smtp, bad, words):
    ctl, inbox = smtp
    for configured in (False, True):
        if configured:
            use_smtp(env, ctl.port)
        before = users(env)
        r = form(env.browser(), "/register", {**NEW, "email": bad})
        assert r.status_code == 400 and words in r.text
        assert users(env) == before
    env.svc.mailer.flush()
    assert inbox.messages == []
    with pytest.raises(MalformedError, match=words):
        env.svc.admin.create_staff(env.users["olymp_admin"], email=bad, password=PASSWORD, name="Новый сотрудник", role="staff")


def test_a_nul_in_the_sign_in_address_is_a_400_not_a_guess(env):
    r = form(env.browser(), "/login", {"email": "maria@example.org\x00", "password": PASSWORD})
    assert r.status_code == 400 and "control characters" in r.text


def test_addresses_are_normalised_so_look_ups_find_the_account(env):
    assert normalize_email("  Ivan.Petrov@Example.ORG ") == "Ivan.Petrov@example.org"
    assert normalize_email("ivan@ПРИМЕР.рф") == "ivan@пример.рф"
    form(env.browser(), "/register", {**NEW, "email": "Ivan.Petrov@Example.ORG"})
    me = env.svc.accounts.find_by_email("ivan.petrov@example.org")
    assert me is not None and me.email == "Ivan.Petrov@example.org"
    assert signs_in(env, "IVAN.PETROV@EXAMPLE.ORG", NEW["password"])
    # staff creation goes through the same parser: a differently-cased address is the same account
    with pytest.raises(Exception, match="already exists"):
        env.svc.admin.create_staff(env.users["olymp_admin"], email="MARIA@example.org", password=PASSWORD, name="Двойник", role="staff")
