"""Issue 18, point 6: every absolute link the node hands out — in notification, sign-in and registration
e-mails received by a real SMTP server (aiosmtpd), share links and their QR codes — starts with the
configured public URL (EDULEDGER_PUBLIC_URL), whatever Host header a client sends; unset, with the address
the node listens on as ``eduledger run`` prints it (a real node process on a port that is not 8000), never a
built-in one. SMTP login (EDULEDGER_SMTP_USER/_PASSWORD) works and a refused login delays, never drops; and
without SMTP the pages that promise an e-mail say that mail is not set up on this node."""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import httpx
import pytest
import segno
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ledger.node.datadir import InstitutionSpec, init_network
from portfolio_api.db import tables as t
from portfolio_api.public_links import PublicLinks, listening_url
from portfolio_api.services.notify import MailSettings
from portfolio_api.settings import Settings
from tests.nodeproc import FAST_KDF, PASSPHRASE, NodeProcess
from tests.portfolio.helpers import PASSWORD, PEOPLE, Env, form, make_env
from tests.portfolio.test_opportunities import Inbox, draft
from tests.ports import free_port

PUBLIC = "https://edu.example.org/portfolio"  # with a path prefix: a reverse proxy in front of the node
REGISTRATION = "https://olymp.example.org/reg"  # the organiser's own link in an announcement (draft())
URL = re.compile(r"https?://[^\s<>]+")


@pytest.fixture
def smtp():
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield ctl.port, inbox
    ctl.stop()


@contextmanager
def _env(tmp_path, monkeypatch, variables: dict[str, str]) -> Iterator[Env]:
    """The portfolio test network, its settings read from the environment as a deployed node reads them."""
    for name in ("EDULEDGER_PUBLIC_URL", "EDULEDGER_SMTP_HOST", "EDULEDGER_SMTP_USER", "EDULEDGER_SMTP_PASSWORD", "EDULEDGER_SMTP_TLS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    app, data = make_env(tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        e = Env(app, client, data)
        e.svc.mailer.background = False  # the tests deliver themselves
        for key, (mail, name, role, inst) in PEOPLE.items():
            e.users[key] = e.svc.accounts.create(mail, PASSWORD, name, role, inst)
        yield e


@pytest.fixture
def env(tmp_path, monkeypatch, smtp):
    with _env(tmp_path, monkeypatch, {"EDULEDGER_PUBLIC_URL": PUBLIC + "/", "EDULEDGER_SMTP_HOST": "127.0.0.1",
                                      "EDULEDGER_SMTP_PORT": str(smtp[0]), "EDULEDGER_NOTIFY_RATE_PER_SECOND": "1000"}) as e:
        yield e


@pytest.fixture
def mailless(tmp_path, monkeypatch):
    with _env(tmp_path, monkeypatch, {}) as e:
        yield e


def links_of(msg) -> list[str]:
    """Every absolute URL in a message: its text and its List-Unsubscribe header."""
    return URL.findall(msg.get_content()) + URL.findall(msg.get("List-Unsubscribe", ""))


def path_of(link: str) -> str:
    assert link.startswith(PUBLIC + "/"), link
    return link[len(PUBLIC):]


# --- links in e-mails, through a real SMTP server ---


def test_a_notice_email_links_only_under_the_public_url_and_the_links_work(env, smtp):
    _, inbox = smtp
    opp, u = env.svc.opportunities, env.users
    sub = opp.subscribe(u["maria"], subject="физика", level="", region="", audience="pupils")
    aid, _ = opp.publish(u["olymp"], draft())
    assert env.svc.mailer.deliver_all().sent == 1
    (msg,) = inbox.messages
    ours = [link for link in links_of(msg) if link != REGISTRATION]
    assert len(ours) == 3  # the announcement, the unsubscribe link in the text and in the header
    assert all(link.startswith(PUBLIC + "/") for link in ours), ours
    assert "127.0.0.1" not in msg.get_content() and ":8000" not in msg.get_content()
    anon = env.browser()
    assert path_of(ours[0]) == f"/opportunities/{aid}" and anon.get(path_of(ours[0])).status_code == 200
    unsubscribe = msg["List-Unsubscribe"].strip("<>")
    assert path_of(unsubscribe).startswith(f"/opportunities/unsubscribe/{sub}/")
    assert anon.post(path_of(unsubscribe)).status_code == 200  # one-click: the link works on this node
    assert opp.subscriptions_of(u["maria"]) == []


def test_sign_in_and_registration_emails_link_under_the_public_url_whatever_the_host_header(env, smtp):
    _, inbox = smtp
    forged = {"host": "evil.example"}
    c = env.browser()
    assert form(c, "/login/link", {"email": PEOPLE["maria"][0]}, headers=forged).status_code == 200
    new = {"name": "Ирина Новикова", "email": "irina@example.org", "password": PASSWORD, "role": "student"}
    assert form(c, "/register", new, headers=forged).status_code == 200
    taken = {**new, "email": PEOPLE["petr"][0]}  # "you already have an account": a sign-in page and a one-time link
    assert form(c, "/register", taken, headers=forged).status_code == 200
    env.svc.mailer.flush()
    kinds = sorted(m["X-Eduledger-Kind"] for m in inbox.messages)
    assert kinds == ["already-registered", "registration", "sign-in-link"]
    links = [link for m in inbox.messages for link in links_of(m)]
    assert len(links) == 4 and all(link.startswith(PUBLIC + "/") for link in links), links
    assert not any("evil.example" in m.as_string() for m in inbox.messages)
    for link in links:
        assert env.browser().get(path_of(link)).status_code == 200  # each one opens a page of this node


# --- share links and QR codes ---


def test_share_links_and_their_qr_codes_use_the_public_url(env):
    c = env.browser("maria")
    assert form(c, "/portfolio/shares", {"days": "7", "label": "для вуза", "scope": "all", "confirmed": "yes"}).status_code == 303
    share = env.svc.portfolio.shares_of(env.users["maria"])[0]
    page = c.get("/portfolio/shares", headers={"host": "evil.example"}).text
    assert f'value="{PUBLIC}/s/{share.token}"' in page and "evil.example" not in page
    qr = c.get(f"/portfolio/shares/{share.id}/qr.svg", headers={"host": "evil.example"})
    want = io.BytesIO()
    segno.make(f"{PUBLIC}/s/{share.token}", error="m").save(want, kind="svg", scale=4, border=2)
    assert qr.status_code == 200 and qr.content == want.getvalue()
    assert env.browser().get(path_of(f"{PUBLIC}/s/{share.token}")).status_code == 200


# --- the base itself ---


def test_without_a_public_url_the_base_is_the_listening_address_and_never_a_built_in_one():
    assert Settings(host="10.0.0.7", port=9123, public_url=None).mail_settings.base_url == "http://10.0.0.7:9123"
    assert Settings(host="::1", port=9123, public_url=None).effective_public_url == "http://[::1]:9123"
    assert Settings(host="10.0.0.7", port=9123, public_url=" ").effective_public_url == "http://10.0.0.7:9123"  # an empty variable is unset
    assert Settings(public_url="https://edu.example.org/p/").links.to("/s/abc") == "https://edu.example.org/p/s/abc"
    with pytest.raises(TypeError):
        MailSettings(host="127.0.0.1")  # type: ignore[call-arg] - no default address to fall back on
    assert listening_url("edu-node", 8443) == "http://edu-node:8443"


def test_the_node_warns_at_start_when_mail_is_off_or_its_links_would_only_work_on_this_machine(tmp_path, monkeypatch, caplog, smtp):
    with caplog.at_level(logging.WARNING, logger="eduledger.notify"):
        with _env(tmp_path / "off", monkeypatch, {}):
            pass
        with _env(tmp_path / "local", monkeypatch, {"EDULEDGER_SMTP_HOST": "127.0.0.1", "EDULEDGER_SMTP_PORT": str(smtp[0])}):
            pass
    assert "no SMTP server (EDULEDGER_SMTP_HOST unset): notification e-mails wait in the outbox" in caplog.text
    assert "e-mails link to http://127.0.0.1:8000, which their readers cannot open: set EDULEDGER_PUBLIC_URL" in caplog.text
    local = ["http://127.0.0.1:8000", "http://localhost:8000", "http://0.0.0.0:8000", "http://[::]:8000", "http://[::1]:8000"]
    assert not any(PublicLinks(u).reachable_from_elsewhere for u in local)
    assert PublicLinks(PUBLIC).reachable_from_elsewhere and PublicLinks("http://10.0.0.7:9123").reachable_from_elsewhere


@pytest.mark.parametrize("bad", ["edu.example.org", "ftp://edu.example.org", "https://edu.example.org/?x=1", "https://user@edu.example.org",
                                 "https://edu.example.org:99999", "https:///path"])
def test_a_public_url_that_cannot_start_a_link_is_refused_when_settings_are_read(bad):
    with pytest.raises(ValidationError):
        Settings(public_url=bad)
    with pytest.raises(ValueError):
        PublicLinks(bad)


def test_a_real_node_mails_links_to_the_address_it_listens_on_and_prints(tmp_path, smtp):
    """``eduledger run --port P`` with no EDULEDGER_PUBLIC_URL: the links mailed are the URL it printed."""
    port, inbox = smtp
    data = tmp_path / "node"
    init_network(data, network="mail.example/net", sequencer="olymp", quorum=1, passphrase=PASSPHRASE.encode(), created=int(time.time()) - 60,
                 institutions=[InstitutionSpec("olymp", "Центр олимпиад", "olympiad-organiser"), InstitutionSpec("school-1", "Школа № 1", "school")],
                 kdf_params=FAST_KDF)
    node = NodeProcess(data, env={"EDULEDGER_PUBLIC_URL": "", "EDULEDGER_SMTP_HOST": "127.0.0.1", "EDULEDGER_SMTP_PORT": str(port),
                                  "EDULEDGER_VERIFY_PROCESS": "0"})
    assert node.port != 8000
    node.start()
    try:
        with httpx.Client(base_url=node.url, timeout=10, follow_redirects=False) as c:
            c.get("/login")
            new = {"name": "Ирина Новикова", "email": "irina@example.org", "password": PASSWORD, "role": "student", "csrf": c.cookies["edu_csrf"]}
            assert c.post("/register", data=new, headers={"host": "evil.example"}).status_code == 200
            deadline = time.monotonic() + 20
            while not inbox.messages and time.monotonic() < deadline:  # the node mails from a background thread
                time.sleep(0.05)
            (msg,) = inbox.messages
            (link,) = links_of(msg)
            assert link.startswith(f"{node.url}/register/confirm/")
            assert c.get(link[len(node.url):]).status_code == 200
    finally:
        node.stop()
    assert f"eduledger node running at {node.url}/" in node.log_path.read_text()


# --- SMTP login ---


def _authenticating_server(user: str, password: str):
    inbox = Inbox()

    def text(v: bytes | str) -> str:
        return v.decode() if isinstance(v, bytes) else v

    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (text(auth_data.login), text(auth_data.password)) == (user, password)
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=check, auth_required=True, auth_require_tls=False)
    ctl.start()
    return ctl, inbox


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_sender_logs_in_and_a_refused_login_delays_the_notices_without_leaking_the_password(env, caplog):
    ctl, inbox = _authenticating_server("notices", "s3cret-pass")
    try:
        opp, u, mailer = env.svc.opportunities, env.users, env.svc.mailer
        opp.subscribe(u["maria"], subject="физика", level="", region="", audience="pupils")
        mailer.settings = replace(mailer.settings, port=ctl.port, user="notices", password="wrong-pass")
        opp.publish(u["olymp"], draft())
        with caplog.at_level(logging.WARNING, logger="eduledger.notify"):
            d = mailer.deliver_all()
        assert (d.sent, d.retried) == (0, 1) and inbox.messages == []
        with env.svc.ctx.engine.connect() as conn:
            row = conn.execute(sa.select(t.outbox)).one()
        assert row.status == "queued" and row.last_error.startswith("SMTP login refused: 535")
        assert "wrong-pass" not in caplog.text + row.last_error + repr(mailer.settings)
        mailer.settings = replace(mailer.settings, password="s3cret-pass")
        assert mailer.deliver_all(now=row.next_attempt_at).sent == 1
        assert [m["To"] for m in inbox.messages] == [PEOPLE["maria"][0]]
        assert all(link.startswith(PUBLIC + "/") for link in links_of(inbox.messages[0]) if link != REGISTRATION)
    finally:
        ctl.stop()


def test_smtp_settings_come_from_the_environment(monkeypatch):
    for name, value in {"EDULEDGER_SMTP_HOST": "mail.example.org", "EDULEDGER_SMTP_PORT": "587", "EDULEDGER_SMTP_USER": "edu",
                        "EDULEDGER_SMTP_PASSWORD": "pw", "EDULEDGER_SMTP_TLS": "starttls", "EDULEDGER_SMTP_SENDER": "edu@example.org"}.items():
        monkeypatch.setenv(name, value)
    m = Settings().mail_settings
    assert (m.host, m.port, m.user, m.password, m.tls, m.sender) == ("mail.example.org", 587, "edu", "pw", "starttls", "edu@example.org")
    assert "pw" not in repr(Settings().smtp_password) and "'pw'" not in repr(m)
    monkeypatch.setenv("EDULEDGER_SMTP_TLS", "yes")
    with pytest.raises(ValidationError):
        Settings()


# --- without SMTP: the pages say so, in-app notices still work ---


@pytest.mark.parametrize("lang, words", [("ru", "Эл. почта на этом узле не настроена"), ("en", "E-mail is not set up on this node")])
def test_pages_that_promise_an_email_say_when_mail_is_not_set_up(mailless, lang, words):
    e = mailless
    assert not e.svc.mailer.configured
    aid, _ = e.svc.opportunities.publish(e.users["olymp"], draft())
    pages = {"/register": None, "/opportunities/subscriptions": "maria", "/opportunities/new": "olymp", f"/opportunities/{aid}": "olymp"}
    for path, who in pages.items():
        c = e.browser(who)
        c.cookies.set("edu_lang", lang)
        page = c.get(path).text
        assert 'id="mail-off"' in page and words in page, path
    login_link = e.browser().get("/login/link").text  # issue 16: it says so already, and offers the password form
    assert 'id="no-mail"' in login_link


def test_pages_say_nothing_about_mail_when_it_is_set_up(env):
    aid, _ = env.svc.opportunities.publish(env.users["olymp"], draft())
    for path, who in {"/register": None, "/opportunities/subscriptions": "maria", "/opportunities/new": "olymp", f"/opportunities/{aid}": "olymp"}.items():
        assert 'id="mail-off"' not in env.browser(who).get(path).text, path


def test_without_smtp_notices_wait_in_the_queue_and_show_in_the_app(mailless):
    e = mailless
    opp, u = e.svc.opportunities, e.users
    opp.subscribe(u["maria"], subject="физика", level="", region="", audience="pupils")
    opp.publish(u["olymp"], draft())
    assert e.svc.mailer.deliver_all().claimed == 0  # nothing leaves, nothing is dropped
    with e.svc.ctx.engine.connect() as conn:
        assert [r.status for r in conn.execute(sa.select(t.outbox))] == ["queued"]
    page = e.browser("maria").get("/opportunities/subscriptions").text
    assert "Олимпиада по физике" in page
