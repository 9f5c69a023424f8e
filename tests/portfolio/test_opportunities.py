"""Opportunities: announcements, subscriptions, fan-out to the outbox, e-mail through a real
in-process SMTP server (aiosmtpd), outage and recovery, unsubscribe links, discovery opt-in on
SQLite and PostgreSQL full text, following applicants with consent, announcement results."""

from __future__ import annotations

import email
import email.policy
import time
from dataclasses import replace
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from ledger.errors import MalformedError, NotFoundError
from portfolio_api.db import tables as t
from portfolio_api.services.credentials import IssueRequest
from portfolio_api.services.limits import RateLimited
from portfolio_api.services.opportunities import AnnouncementDraft
from tests.portfolio.helpers import PASSWORD, PEOPLE, Env, form, make_env
from tests.ports import free_port

TODAY = date.today()


def draft(**kw) -> AnnouncementDraft:
    base = dict(kind="olympiad", title="Олимпиада по физике «Перспектива»", body="Отборочный тур онлайн.", subject="Физика", level="regional",
                region="Москва", audience="pupils", starts_on=(TODAY + timedelta(days=10)).isoformat(),
                ends_on=(TODAY + timedelta(days=12)).isoformat(), registration_url="https://olymp.example.org/reg", grade_min=7, grade_max=11)
    base.update(kw)
    return AnnouncementDraft(**base)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield ctl, inbox
    ctl.stop()


def use_smtp(env: Env, port: int, **kw) -> None:
    m = env.svc.mailer
    m.settings = replace(m.settings, host="127.0.0.1", port=port, base_url="http://testserver", rate_per_second=1000, **kw)


@pytest.fixture
def env(tmp_path):
    app, data = make_env(tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        e = Env(app, client, data)
        e.svc.mailer.background = False  # these tests drive delivery themselves; one test turns it back on
        for key, (mail, name, role, inst) in PEOPLE.items():
            e.users[key] = e.svc.accounts.create(mail, PASSWORD, name, role, inst)
        yield e


def outbox(env: Env) -> list[sa.Row]:
    with env.svc.ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id)))


# --- announcements: bad input ---


@pytest.mark.parametrize("bad", [
    dict(ends_on=(TODAY + timedelta(days=5)).isoformat()),  # ends before it starts
    dict(starts_on="2026-02-30"),
    dict(starts_on=(TODAY - timedelta(days=30)).isoformat(), ends_on=(TODAY - timedelta(days=20)).isoformat()),
    dict(grade_min=9, grade_max=5),
    dict(grade_min=0),
    dict(body="спам " * 5000),
    dict(title=" \x00\x01 "),  # nothing but control characters and spaces: empty
    dict(registration_url="javascript:alert(1)"),
    dict(audience="everyone"),
])
def test_impossible_or_spam_sized_announcements_are_refused(env, bad):
    with pytest.raises(MalformedError):
        env.svc.opportunities.publish(env.users["olymp"], draft(**bad))


def test_markup_is_stored_as_typed_and_escaped_on_the_page(env):
    typed = 'Приходите!<script>alert("x")</script><img src=x onerror=alert(1)> <b>Жюри</b> &amp; призы'
    aid, _ = env.svc.opportunities.publish(env.users["olymp"], draft(body=typed))
    assert env.svc.opportunities.get(aid).body == typed  # text, never parsed or decoded
    page = env.browser().get(f"/opportunities/{aid}").text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>Жюри" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page and "&amp;amp; призы" in page


def test_typed_entities_stay_literal_in_the_store_the_json_api_and_the_email(env, smtp):
    """Issue 16: ``&lt;script&gt;`` typed into an announcement came back as a raw ``<script>``
    in /api/v1/opportunities and in e-mails, which do not escape; now every consumer gets what was typed."""
    ctl, inbox = smtp
    opp, u = env.svc.opportunities, env.users
    opp.subscribe(u["maria"], subject="физика", level="", region="", audience="pupils")
    use_smtp(env, ctl.port)
    title, body = "Олимпиада &lt;script&gt; по физике", "Текст &lt;script&gt;alert(1)&lt;/script&gt; и <b>жирный</b>"
    aid, notices = opp.publish(u["olymp"], draft(title=title, body=body))
    assert notices == 1
    a = opp.get(aid)
    assert (a.title, a.body) == (title, body)
    listed = [x for x in env.browser().get("/api/v1/opportunities").json() if x["id"] == aid]
    assert listed[0]["title"] == title  # JSON: the literal text; a client escapes it for its own output
    assert env.svc.mailer.deliver_all().sent == 1
    mail = inbox.messages[0]
    assert mail["Subject"].startswith(title) and body in mail.get_content() and "<script>" not in mail.get_content()
    page = env.browser().get(f"/opportunities/{aid}").text
    assert "&amp;lt;script&amp;gt;" in page and "<script>" not in page and "&lt;b&gt;жирный&lt;/b&gt;" in page


def test_only_staff_publish_and_the_form_publishes(env):
    c = env.browser("olymp")
    r = form(c, "/opportunities", {k: str(v) for k, v in draft().__dict__.items()})
    assert r.status_code == 303 and r.headers["location"].startswith("/opportunities/")
    assert "Олимпиада по физике" in env.browser().get("/opportunities").text
    r = form(c, "/opportunities", {k: str(v) for k, v in draft(ends_on="2000-01-01").__dict__.items()})
    assert r.status_code == 400


def test_the_publishing_form_submitted_twice_publishes_one_announcement(env):
    opp, u = env.svc.opportunities, env.users
    opp.subscribe(u["maria"], subject="физика", level="", region="", audience="pupils")
    c = env.browser("olymp")
    page = c.get("/opportunities/new").text
    idem = page.split('name="idem" value="')[1].split('"')[0]
    data = {**{k: str(v) for k, v in draft().__dict__.items()}, "idem": idem}
    first, second = form(c, "/opportunities", data), form(c, "/opportunities", data)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(opp.list()) == 1 and len(outbox(env)) == 1
    assert form(c, "/opportunities", {**data, "idem": "another-form-key"}).status_code == 303  # a new form is a new announcement
    assert len(opp.list()) == 2
    # the key is per institution: another organiser's form with the same key is its own announcement
    aid, _ = opp.publish(u["school"], draft(), idem_key=idem)
    assert len(opp.list()) == 3 and opp.get(aid).institution_id == "school-1"
    assert form(c, "/opportunities", {**data, "idem": "bad key!"}).status_code == 400


# --- subscriptions, fan-out, notices ---


def test_fan_out_records_one_notice_per_matching_person_and_never_twice(env):
    opp, u = env.svc.opportunities, env.users
    opp.subscribe(u["maria"], subject="физика", level="", region="", audience="pupils")
    opp.subscribe(u["maria"], subject="", level="regional", region="москва", audience="pupils")  # matches too: still one notice
    opp.subscribe(u["petr"], subject="химия", level="", region="", audience="pupils")  # other subject
    opp.subscribe(u["anna"], subject="физика", level="", region="", audience="teachers")  # other audience
    aid, n = opp.publish(u["olymp"], draft())
    assert n == 1
    with env.svc.ctx.engine.begin() as conn:
        assert opp.fan_out(conn, aid, env.svc.ctx.now()) == 1  # a repeated fan-out adds nothing
    rows = outbox(env)
    assert [(r.user_id, r.status) for r in rows] == [(u["maria"].id, "queued")]
    page = env.browser("maria").get("/opportunities/subscriptions").text
    assert "Олимпиада по физике" in page
    assert "Олимпиада по физике" not in env.browser("petr").get("/opportunities/subscriptions").text


def test_subscription_endpoint_is_rate_limited_with_429_and_retry_after(env):
    c = env.browser("maria")
    answers = [form(c, "/opportunities/subscriptions", {"audience": "pupils", "subject": f"s{i}"}) for i in range(31)]
    assert [r.status_code for r in answers[:30]] == [303] * 30
    assert answers[30].status_code == 429 and 1 <= int(answers[30].headers["retry-after"]) <= 3600  # the user's excess, not the node's pushback
    assert len(env.svc.opportunities.subscriptions_of(env.users["maria"])) == 30


# --- e-mail through a real SMTP server ---


def test_notices_are_mailed_once_with_a_working_unsubscribe_link(env, smtp):
    ctl, inbox = smtp
    opp, u = env.svc.opportunities, env.users
    opp.subscribe(u["maria"], subject="физика", level="", region="", audience="pupils")
    opp.subscribe(u["petr"], subject="физика", level="", region="", audience="pupils")
    use_smtp(env, ctl.port)
    opp.publish(u["olymp"], draft())
    d = env.svc.mailer.deliver_all()
    assert d.sent == 2
    assert env.svc.mailer.deliver_all().sent == 0  # nothing twice
    assert sorted(m["To"] for m in inbox.messages) == ["maria@example.org", "petr@example.org"]
    msg = next(m for m in inbox.messages if m["To"] == "maria@example.org")
    body = msg.get_content()
    assert "Олимпиада по физике" in body and "https://olymp.example.org/reg" in body
    link = msg["List-Unsubscribe"].strip("<>")
    assert link in body
    path = link.removeprefix("http://testserver")
    anon = env.browser()
    assert anon.get(path).status_code == 200
    assert anon.get(path[:-4] + "0000").status_code == 404  # a forged token is refused
    assert anon.post(path).status_code == 200  # one-click, no session needed
    opp.publish(u["olymp"], draft(title="Вторая олимпиада по физике"))
    env.svc.mailer.deliver_all()
    assert sorted(m["To"] for m in inbox.messages[2:]) == ["petr@example.org"]  # maria unsubscribed


def test_smtp_outage_delays_notices_without_losing_or_duplicating_them(env):
    opp, u, mailer = env.svc.opportunities, env.users, env.svc.mailer
    for who in ("maria", "petr"):
        opp.subscribe(u[who], subject="физика", level="", region="", audience="pupils")
    port = free_port()
    use_smtp(env, port)  # nothing listens there yet: the outage
    opp.publish(u["olymp"], draft())
    now = env.svc.ctx.now()
    d = mailer.deliver_due(now)
    assert (d.sent, d.retried) == (0, 2)
    rows = outbox(env)
    assert {r.status for r in rows} == {"queued"} and {r.attempts for r in rows} == {1}
    assert all(r.next_attempt_at == now + mailer.backoff(0) for r in rows) and rows[0].last_error.startswith("SMTP server unreachable")
    assert mailer.deliver_due(now + 1).claimed == 0  # backing off
    mailer.deliver_due(now + mailer.backoff(0))  # still down: the wait doubles
    assert {r.next_attempt_at for r in outbox(env)} == {now + mailer.backoff(0) + mailer.backoff(1)}
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        d = mailer.deliver_all(now + 10_000)
        assert d.sent == 2
        assert mailer.deliver_all(now + 100_000).sent == 0
        assert sorted(m["To"] for m in inbox.messages) == ["maria@example.org", "petr@example.org"]
        assert {r.status for r in outbox(env)} == {"sent"}
    finally:
        ctl.stop()


class RefusingInbox(Inbox):
    """Refuses some recipients at RCPT: ``refuse`` maps an address to the reply (e.g. 550 or 451)."""

    def __init__(self, refuse: dict[str, str]) -> None:
        super().__init__()
        self.refuse = refuse
        self.rcpt_attempts: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook name
        self.rcpt_attempts.append(address)
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _refusing_server(refuse: dict[str, str]):
    inbox = RefusingInbox(refuse)
    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    return ctl, inbox


def test_a_permanently_refused_address_fails_alone_and_everyone_else_is_mailed_once(env):
    opp, u, mailer = env.svc.opportunities, env.users, env.svc.mailer
    for who in ("maria", "petr", "anna"):
        opp.subscribe(u[who], subject="физика", level="", region="", audience="teachers" if who == "anna" else "pupils")
    # maria's notice is claimed first (lowest id): before the fix her refusal rescheduled petr too
    ctl, inbox = _refusing_server({"maria@example.org": "550 5.1.1 mailbox unavailable"})
    try:
        use_smtp(env, ctl.port)
        aid, _ = opp.publish(u["olymp"], draft())
        opp.publish(u["olymp"], draft(title="Олимпиада для учителей физики", audience="teachers"))
        now = env.svc.ctx.now()
        d = mailer.deliver_all(now)
        assert (d.sent, d.failed, d.retried) == (2, 1, 0)
        assert sorted(m["To"] for m in inbox.messages) == ["anna@example.org", "petr@example.org"]
        rows = {r.user_id: r for r in outbox(env)}
        maria = rows[u["maria"].id]
        assert maria.status == "failed" and maria.last_error.startswith("550") and maria.attempts == 1
        assert rows[u["petr"].id].status == "sent"
        # never again: not at the next pass, not after any backoff
        for later in (now + 1, now + 10 * mailer.settings.retry_max):
            assert mailer.deliver_all(later).claimed == 0
        assert inbox.rcpt_attempts.count("maria@example.org") == 1 and len(inbox.messages) == 2
        # visible to the person and to the organiser
        assert "почтовый сервер отклонил адрес" in env.browser("maria").get("/opportunities/subscriptions").text
        assert env.svc.opportunities.delivery_of(aid) == {"sent": 1, "failed": 1}
        page = env.browser("olymp").get(f"/opportunities/{aid}").text
        assert "не доставлено (адрес отклонён) 1" in page
        assert "не доставлено" not in env.browser().get(f"/opportunities/{aid}").text  # only the organiser sees delivery
    finally:
        ctl.stop()


def test_a_transient_refusal_backs_off_that_notice_only_and_it_is_sent_once_later(env):
    opp, u, mailer = env.svc.opportunities, env.users, env.svc.mailer
    for who in ("maria", "petr"):
        opp.subscribe(u[who], subject="физика", level="", region="", audience="pupils")
    ctl, inbox = _refusing_server({"maria@example.org": "451 4.3.0 try again later"})
    try:
        use_smtp(env, ctl.port)
        opp.publish(u["olymp"], draft())
        now = env.svc.ctx.now()
        d = mailer.deliver_all(now)
        assert (d.sent, d.retried, d.failed) == (1, 1, 0)
        rows = {r.user_id: r for r in outbox(env)}
        assert rows[u["maria"].id].status == "queued" and rows[u["maria"].id].next_attempt_at == now + mailer.backoff(0)
        assert rows[u["maria"].id].last_error.startswith("SMTP error: 451")
        assert mailer.deliver_all(now + 1).claimed == 0  # backing off, and petr is not touched again
        del inbox.refuse["maria@example.org"]
        assert mailer.deliver_all(now + mailer.backoff(0)).sent == 1
        assert mailer.deliver_all(now + 100_000).claimed == 0
        assert sorted(m["To"] for m in inbox.messages) == ["maria@example.org", "petr@example.org"]
    finally:
        ctl.stop()


def test_the_background_sender_delivers_after_publishing_and_respects_the_rate(env, smtp):
    ctl, inbox = smtp
    opp, u, mailer = env.svc.opportunities, env.users, env.svc.mailer
    opp.subscribe(u["maria"], subject="физика", level="", region="", audience="pupils")
    opp.subscribe(u["petr"], subject="физика", level="", region="", audience="pupils")
    use_smtp(env, ctl.port)
    mailer.settings = replace(mailer.settings, rate_per_second=4)
    mailer.background = True
    started = time.monotonic()
    opp.publish(u["olymp"], draft())  # wakes the sender task of the app's lifespan
    deadline = time.monotonic() + 10
    while len(inbox.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(inbox.messages) == 2
    assert time.monotonic() - started >= 0.2  # two messages at 4/s: at least one gap of 0.25 s (minus polling slack)


# --- discovery ---


def _issue(env: Env, who: str, title: str, kind: str = "olympiad", staff: str = "olymp") -> str:
    c = env.svc.credentials.issue(env.users[staff], IssueRequest(PEOPLE[who][0], kind, title, "2026-03-01"))
    assert c.status == "verified"
    return c.id


def _discovery_setup(env: Env) -> None:
    _issue(env, "maria", "Победитель олимпиады по физике")
    _issue(env, "petr", "Победитель олимпиады по физике")  # petr matches but never opts in
    _issue(env, "anna", "Повышение квалификации: физика, 72 часа", kind="professional-development", staff="school")
    env.svc.discovery.set_profile(env.users["maria"], discoverable=True, region="Москва", headline="Физика и математика")
    env.svc.discovery.set_profile(env.users["anna"], discoverable=True, region="Казань")
    env.svc.discovery.set_profile(env.users["petr"], discoverable=False, region="Москва")


def _every_search_path(env: Env) -> list[set[str]]:
    """Names found by every way an institution can search."""
    uni = env.users["uni"]
    svc = env.svc.discovery
    found = []
    for q, region in [("физика", ""), ("победитель физике", ""), ("физ", "москва"), ("", "москва"), ("", ""), ("олимп", "")]:
        found.append({c.name for c in svc.search(uni, q, region=region, limit=100)})
    c = env.browser("uni")
    for params in ({"q": "физика"}, {"region": "Москва"}, {"q": "победитель"}):
        page = c.get("/opportunities/discover", params=params).text
        found.append({n for n in ("Мария Иванова", "Пётр Смирнов", "Анна Кузнецова") if n in page})
        r = c.get("/api/v1/opportunities/discover", params=params)
        assert r.status_code == 200
        found.append({p["name"] for p in r.json()})
    return found


def _discovery_checks(env: Env) -> None:
    _discovery_setup(env)
    results = _every_search_path(env)
    assert all("Пётр Смирнов" not in names for names in results), results
    assert "Анна Кузнецова" in results[0] and "Мария Иванова" in results[1]  # her headline "Физика и математика" is not evidence
    assert "Мария Иванова" in results[0]  # "физика" finds her "…по физике…" (Russian word forms, issue 18)
    # her headline "Физика и математика" is not evidence: "математика" finds no one
    assert {c.name for c in env.svc.discovery.search(env.users["uni"], "математика", limit=100)} == set()
    assert {c.name for c in env.svc.discovery.search(env.users["uni"], "физика", region="Казань")} == {"Анна Кузнецова"}
    # opting out removes the profile from every path at once
    env.svc.discovery.set_profile(env.users["maria"], discoverable=False)
    assert all("Мария Иванова" not in names for names in _every_search_path(env))


def test_discovery_finds_only_opted_in_profiles_on_every_search_path_sqlite(env):
    _discovery_checks(env)


@pytest.mark.postgres
def test_discovery_finds_only_opted_in_profiles_on_every_search_path_postgresql(tmp_path, pg_store_url):
    app, data = make_env(tmp_path, database_url=pg_store_url)
    with TestClient(app, follow_redirects=False) as client:
        e = Env(app, client, data)
        for key, (mail, name, role, inst) in PEOPLE.items():
            e.users[key] = e.svc.accounts.create(mail, PASSWORD, name, role, inst)
        with e.svc.ctx.engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
        _discovery_checks(e)


def test_only_verified_items_count_as_evidence_and_self_reported_ones_are_labelled(env):
    from tests.portfolio.helpers import PDF

    env.svc.uploads.add(env.users["maria"], data=PDF, filename="d.pdf", kind="contest", title="Призёр конкурса по астрономии",
                        issued_on="2025-05-01", issuer_id=None, ask_confirmation=False)
    env.svc.discovery.set_profile(env.users["maria"], discoverable=True, region="Москва")
    assert env.svc.discovery.search(env.users["uni"], "астрономии") == []  # self-reported text is not searched as evidence
    cid = _issue(env, "maria", "Победитель олимпиады по физике")
    env.svc.discovery.refresh_stale()
    (card,) = env.svc.discovery.search(env.users["uni"], "физике")
    assert any("физике" in e for e in card.evidence) and any("астрономии" in s for s in card.self_reported)
    page = env.browser("uni").get("/opportunities/discover", params={"q": "физике"}).text
    assert "Со слов владельца" in page
    env.svc.credentials.revoke(env.users["olymp"], cid, "issued-in-error")
    assert env.svc.discovery.search(env.users["uni"], "физике") == []  # a revoked item matches nothing, at once
    assert env.svc.discovery.card(env.users["maria"].id).evidence == ()


def _names(env: Env, q: str, region: str = "") -> set[str]:
    return {c.name for c in env.svc.discovery.search(env.users["uni"], q, region=region, limit=100)}


def _evidence_only_checks(env: Env) -> None:
    u, disc, creds = env.users, env.svc.discovery, env.svc.credentials
    # petr has not a single credential: his self-written headline and region are no evidence
    disc.set_profile(u["petr"], discoverable=True, region="Москва", headline="Победитель олимпиады по физике, призёр по химии")
    assert _names(env, "победитель физ") == set() and _names(env, "москва") == set()
    card = disc.card(u["petr"].id)
    assert card.headline.startswith("Победитель") and card.evidence == ()  # shown, labelled, not counted
    page = env.browser("uni").get("/opportunities/discover", params={"region": "Москва"}).text
    assert "Победитель олимпиады по физике, призёр по химии" in page and "не учитывается в поиске" in page
    # maria's verified items are found, and stop matching the moment they stop being public verified evidence
    physics = _issue(env, "maria", "Победитель олимпиады по физике")
    chemistry = _issue(env, "maria", "Призёр олимпиады по химии")
    biology = _issue(env, "maria", "Участник конференции по биологии", kind="conference")
    disc.set_profile(u["maria"], discoverable=True, region="Москва")
    assert _names(env, "победитель физ") == _names(env, "химии") == _names(env, "участник биолог") == {"Мария Иванова"}
    creds.set_public(u["maria"], physics, False)  # made private
    assert _names(env, "победитель физ") == set()
    creds.revoke(u["olymp"], chemistry, "issued-in-error")  # revoked
    assert _names(env, "химии") == set()
    creds.supersede(u["olymp"], biology, title="Призёр конференции по биологии", achieved_on="2026-03-01")  # superseded
    assert _names(env, "участник биолог") == set()
    disc.refresh_stale()
    assert _names(env, "призёр биолог") == {"Мария Иванова"}
    (card,) = disc.search(u["uni"], "призёр биолог")
    assert card.evidence == ("conference · Призёр конференции по биологии · Центр олимпиад «Перспектива» · 2026",)
    # erased: gone from every query
    env.svc.accounts.erase(u["maria"].id)
    assert _names(env, "призёр биолог") == set() and "Мария Иванова" not in _names(env, "")


def test_only_public_ledger_verified_items_are_searched_sqlite(env):
    _evidence_only_checks(env)


@pytest.mark.postgres
def test_only_public_ledger_verified_items_are_searched_postgresql(tmp_path, pg_store_url):
    app, data = make_env(tmp_path, database_url=pg_store_url)
    with TestClient(app, follow_redirects=False) as client:
        e = Env(app, client, data)
        for key, (mail, name, role, inst) in PEOPLE.items():
            e.users[key] = e.svc.accounts.create(mail, PASSWORD, name, role, inst)
        with e.svc.ctx.engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
        _evidence_only_checks(e)


def test_search_is_rate_limited_and_refuses_absurd_queries(env):
    with pytest.raises(MalformedError):
        env.svc.discovery.search(env.users["uni"], " ".join(["слово"] * 20))
    for _ in range(60):
        env.svc.discovery.search(env.users["uni"], "физика")
    with pytest.raises(RateLimited):
        env.svc.discovery.search(env.users["uni"], "физика")
    for path, accept in (("/api/v1/opportunities/discover", "application/json"), ("/opportunities/discover", "text/html")):
        r = env.browser("uni").get(path, params={"q": "физика"}, headers={"Accept": accept})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and accept in r.headers["content-type"], path


# --- following applicants ---


def test_a_university_follows_with_consent_and_sees_nothing_after_withdrawal(env):
    u, f = env.users, env.svc.follows
    _issue(env, "maria", "Победитель олимпиады по физике")
    fid = f.grant(u["maria"], "uni-1")
    feed = f.feed(u["uni"])
    assert [p.name for _, p, _ in feed] == ["Мария Иванова"] and len(feed[0][2]) == 1
    _issue(env, "maria", "Призёр олимпиады по математике")  # arrives while followed
    assert len(f.feed(u["uni"])[0][2]) == 2
    assert "Призёр олимпиады по математике" in env.browser("uni").get("/opportunities/applicants").text
    r = form(env.browser("maria"), f"/opportunities/consents/{fid}/withdraw")
    assert r.status_code == 303
    _issue(env, "maria", "Победитель конференции")
    assert f.feed(u["uni"]) == []
    page = env.browser("uni").get("/opportunities/applicants").text
    assert "Мария Иванова" not in page and "Победитель конференции" not in page
    with pytest.raises(NotFoundError):
        f.withdraw(u["petr"], fid)  # only the student withdraws their own consent


def test_following_by_share_link_ends_when_the_link_is_revoked(env):
    u = env.users
    _issue(env, "maria", "Победитель олимпиады по физике")
    share = env.svc.portfolio.create_share(u["maria"], label="ГУ", items=None, days=30)
    r = form(env.browser("uni"), "/opportunities/applicants", {"link": f"http://testserver/s/{share.token}"})
    assert r.status_code == 303
    assert [p.name for _, p, _ in env.svc.follows.feed(u["uni"])] == ["Мария Иванова"]
    env.svc.portfolio.revoke_share(u["maria"], share.id)
    assert env.svc.follows.feed(u["uni"]) == []


def test_following_by_a_link_to_chosen_items_shows_those_items_only(env):
    u = env.users
    chosen = _issue(env, "maria", "Победитель олимпиады по физике")
    _issue(env, "maria", "Призёр олимпиады по химии")  # public, verified, but not in the link
    share = env.svc.portfolio.create_share(u["maria"], label="ГУ", items=[f"c:{chosen}"], days=30)
    env.svc.follows.follow_by_share(u["uni"], f"http://testserver/s/{share.token}")
    _issue(env, "maria", "Победитель конференции")  # arrives later: not chosen either
    ((_, person, items),) = env.svc.follows.feed(u["uni"])
    assert person.name == "Мария Иванова" and [c.id for c in items] == [chosen]
    page = env.browser("uni").get("/opportunities/applicants").text
    assert "Победитель олимпиады по физике" in page and "химии" not in page and "Победитель конференции" not in page
    # a whole-portfolio link still shows every public verified item, new ones included
    whole = env.svc.portfolio.create_share(u["maria"], label="все", items=None, days=30)
    env.svc.follows.follow_by_share(u["school"], f"http://testserver/s/{whole.token}")
    assert len(env.svc.follows.feed(u["school"])[0][2]) == 3


# --- participation on the record ---


def test_results_link_to_their_announcement_and_show_in_the_portfolio(env):
    u = env.users
    aid, _ = env.svc.opportunities.publish(u["olymp"], draft())
    cid = _issue(env, "maria", "Победитель олимпиады по физике")
    r = form(env.browser("olymp"), f"/opportunities/{aid}/results", {"credential_id": cid})
    assert r.status_code == 303
    assert env.svc.opportunities.results_of(aid) == 1
    page = env.browser("maria").get("/opportunities/subscriptions").text
    assert "Олимпиада по физике «Перспектива»" in page and "Победитель олимпиады по физике" in page
    other = env.svc.credentials.issue(u["school"], IssueRequest("maria@example.org", "olympiad", "Школьный тур", "2026-03-01"))
    with pytest.raises(NotFoundError):
        env.svc.opportunities.link_result(u["olymp"], aid, other.id)  # not this organiser's credential


def test_the_portfolio_and_the_shared_view_show_announcement_then_result(env):
    u = env.users
    aid, _ = env.svc.opportunities.publish(u["olymp"], draft())
    cid = _issue(env, "maria", "Победитель олимпиады по физике")
    other = _issue(env, "maria", "Призёр олимпиады по химии")  # not linked: no path shown
    env.svc.opportunities.link_result(u["olymp"], aid, cid)
    items = {i.ref: i for i in env.svc.portfolio.timeline(u["maria"].id)}
    assert items[f"c:{cid}"].announcement.id == aid and items[f"c:{other}"].announcement is None
    path = f'По объявлению: <a href="/opportunities/{aid}">Олимпиада по физике «Перспектива»</a>'
    page = env.browser("maria").get("/portfolio").text
    assert path in page and "→ Победитель олимпиады по физике" in page and page.count("По объявлению") == 1
    share = env.svc.portfolio.create_share(u["maria"], label="ГУ", items=None, days=30)
    shared = env.browser().get(f"/s/{share.token}").text  # the university's view, no account
    assert path in shared and "→ Победитель олимпиады по физике" in shared
