"""Issue 18, point 6: the menu counts a student's or teacher's unread in-app notices on every page, shows
nothing when there are none, and opening the notices page clears it — without any mail set up (in-app
notices never depend on SMTP). A notice fanned out while that page was being made stays unread."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from portfolio_api import web
from tests.portfolio.helpers import PASSWORD, PEOPLE, Env, make_env
from tests.portfolio.test_opportunities import draft

NOTICES = "/opportunities/subscriptions"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.delenv("EDULEDGER_SMTP_HOST", raising=False)  # in-app notices, with no mail at all
    app, data = make_env(tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        e = Env(app, client, data)
        for key, (mail, name, role, inst) in PEOPLE.items():
            e.users[key] = e.svc.accounts.create(mail, PASSWORD, name, role, inst)
        yield e


def counter(page: str) -> str | None:
    """The menu's counter, or None when the page shows none."""
    m = re.search(r'<span class="unread-count" id="unread-notices"[^>]*>([^<]*)</span>', page)
    return m.group(1) if m else None


def subscribe(env, who: str = "maria") -> None:
    env.svc.opportunities.subscribe(env.users[who], subject="физика", level="", region="", audience="pupils")


def publish(env, title: str = "Олимпиада по физике «Перспектива»") -> int:
    aid, _ = env.svc.opportunities.publish(env.users["olymp"], draft(title=title))
    return aid


def test_the_menu_counts_unread_notices_with_no_mail_set_up(env):
    assert not env.svc.mailer.configured
    maria, petr, staff = env.browser("maria"), env.browser("petr"), env.browser("olymp")
    assert counter(maria.get("/portfolio").text) is None  # nothing unread: no counter at all
    subscribe(env)
    publish(env)
    assert counter(maria.get("/portfolio").text) == "1"
    publish(env, "Второй тур олимпиады по физике")
    assert counter(maria.get("/opportunities").text) == "2"  # on every page, not only the portfolio
    assert counter(petr.get("/portfolio").text) is None  # not subscribed: nothing for him
    assert counter(staff.get("/staff").text) is None  # staff get no notices


def test_opening_the_notices_page_clears_the_counter_and_marks_what_was_new_once(env):
    subscribe(env)
    publish(env)
    publish(env, "Второй тур олимпиады по физике")
    maria = env.browser("maria")
    page = maria.get(NOTICES).text
    assert counter(page) is None  # cleared on the page that shows them
    assert page.count('<li class="unread">') == 2 and "Второй тур олимпиады по физике" in page
    assert counter(maria.get("/portfolio").text) is None
    assert '<li class="unread">' not in maria.get(NOTICES).text  # highlighted once
    publish(env, "Третий тур олимпиады по физике")
    assert counter(maria.get("/portfolio").text) == "1"  # a new notice counts again


def test_a_notice_fanned_out_while_the_page_was_made_stays_unread(env):
    opp, maria = env.svc.opportunities, env.users["maria"]
    subscribe(env)
    publish(env)
    shown = opp.notices(maria)  # what the page read
    publish(env, "Второй тур олимпиады по физике")  # arrives before the page marks them read
    opp.mark_read(maria, through=shown[0].id)
    assert opp.unread_count(maria) == 1
    assert counter(env.browser("maria").get("/portfolio").text) == "1"


def test_the_counter_marks_read_only_for_the_person_who_opened_the_page(env):
    subscribe(env, "maria")
    subscribe(env, "petr")
    publish(env)
    env.browser("maria").get(NOTICES)
    assert counter(env.browser("petr").get("/portfolio").text) == "1"


def test_the_counter_is_bounded(env, monkeypatch):
    subscribe(env)
    for n in range(3):
        publish(env, f"Олимпиада по физике, тур {n + 1}")
    assert env.svc.opportunities.unread_count(env.users["maria"], limit=2) == 2  # the count stops at its limit
    monkeypatch.setattr(web, "UNREAD_SHOWN", 2)
    assert counter(env.browser("maria").get("/portfolio").text) == "2+"


@pytest.mark.parametrize("lang, label", [("ru", "Непрочитанные уведомления"), ("en", "Unread notifications")])
def test_the_counter_is_labelled_in_both_languages(env, lang, label):
    subscribe(env)
    publish(env)
    maria = env.browser("maria")
    maria.cookies.set("edu_lang", lang)
    page = maria.get("/portfolio").text
    assert counter(page) == "1" and f'aria-label="{label}: 1"' in page and f'title="{label}"' in page
