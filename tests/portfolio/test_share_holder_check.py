"""On a shared portfolio a viewer types the applicant's e-mail and sees, for each credential, whether it was issued
to the person with that e-mail (its salted, hashed OB 3.0 identifier), without the credential revealing it."""

from __future__ import annotations

import re

import pytest

from ledger.errors import MalformedError
from portfolio_api.services.clr_export import holder_checks
from portfolio_api.services.credentials import IssueRequest
from tests.portfolio import helpers
from tests.portfolio.helpers import PNG, form
from verifier.credentials import build_credential

env = helpers.env  # the fixture (a binding, not an import: test parameters named env use it)


@pytest.fixture
def link(env):
    """Petr's link: two credentials issued to petr@example.org, one upload (no credential, nothing to check)."""
    u, svc = env.users, env.svc
    a = svc.credentials.issue(u["olymp"], IssueRequest("petr@example.org", "olympiad", "Призёр олимпиады по физике", "2026-02-10"))
    b = svc.credentials.issue(u["school"], IssueRequest("petr@example.org", "school-certificate", "Похвальная грамота", "2025-05-25"))
    up = svc.uploads.add(u["petr"], data=PNG, filename="d.png", kind="diploma", title="Диплом", issued_on="2025-01-20", issuer_id="olymp",
                         ask_confirmation=False)
    share = svc.portfolio.create_share(u["petr"], label="ГУ", items=[f"c:{a.id}", f"c:{b.id}", f"u:{up.id}"], days=30)
    return share, [a, b], up


def _answers(page: str) -> dict[str, str]:
    """Item ref -> the answer in its row ("" for an upload: nothing to check)."""
    return dict(re.findall(r'data-ref="([^"]+)".*?data-holder="([^"]*)"', page, re.S))


def test_the_applicants_own_email_matches_every_credential_issued_to_her(env, link):
    share, creds, up = link
    viewer = env.browser()
    page = viewer.get(f"/s/{share.token}").text
    assert 'name="holder_email"' in page and "data-holder" not in page  # the form, no answers yet
    r = form(viewer, f"/s/{share.token}/holder", {"holder_email": " Petr@Example.org "})
    assert r.status_code == 200
    assert _answers(r.text) == {f"c:{creds[0].id}": "match", f"c:{creds[1].id}": "match", f"u:{up.id}": ""}
    assert r.text.count("да, выдан человеку с этим e-mail") == 2


def test_another_email_does_not_match(env, link):
    share, creds, up = link
    r = form(env.browser(), f"/s/{share.token}/holder", {"holder_email": "maria@example.org"})
    assert r.status_code == 200
    assert _answers(r.text) == {f"c:{creds[0].id}": "mismatch", f"c:{creds[1].id}": "mismatch", f"u:{up.id}": ""}
    assert "нет: в документе указан другой e-mail" in r.text


def test_answers_in_english(env, link):
    share, _, _ = link
    viewer = env.browser()
    viewer.cookies.set("edu_lang", "en")
    r = form(viewer, f"/s/{share.token}/holder", {"holder_email": "petr@example.org"})
    assert "yes: issued to the person with this e-mail" in r.text and "Issued to this e-mail?" in r.text


def test_a_credential_without_an_email_identifier_says_so(env, link, monkeypatch):
    share, creds, _ = link
    stored = env.svc.credentials.credential_json
    legacy = build_credential(kind="generic", issuer_id="olymp", issuer_name="Центр олимпиад", holder_name="Пётр Смирнов", title="Грамота",
                              issued_at=1_700_000_000)  # issued before holders were identified by e-mail
    monkeypatch.setattr(env.svc.credentials, "credential_json", lambda cid: legacy if cid == creds[0].id else stored(cid))
    r = form(env.browser(), f"/s/{share.token}/holder", {"holder_email": "petr@example.org"})
    answers = _answers(r.text)
    assert answers[f"c:{creds[0].id}"] == "none" and answers[f"c:{creds[1].id}"] == "match"
    assert "в документе нет e-mail — сверьте имя" in r.text


def test_what_is_not_an_address_is_refused_with_the_page(env, link):
    share, _, _ = link
    r = form(env.browser(), f"/s/{share.token}/holder", {"holder_email": "petr at example"})
    assert r.status_code == 400 and "Это не адрес эл. почты" in r.text and "data-holder" not in r.text


def test_the_check_needs_the_forms_csrf_token_and_a_live_link(env, link):
    share, _, _ = link
    viewer = env.browser()
    r = viewer.post(f"/s/{share.token}/holder", data={"holder_email": "petr@example.org"}, headers={"Accept": "text/html"})
    assert r.status_code == 403
    env.svc.portfolio.revoke_share(env.users["petr"], share.id)
    r = form(viewer, f"/s/{share.token}/holder", {"holder_email": "petr@example.org"})
    assert r.status_code == 410
    assert form(viewer, "/s/" + "A" * 43 + "/holder", {"holder_email": "petr@example.org"}).status_code == 404


def test_the_typed_email_is_not_kept(env, link):
    share, _, _ = link
    form(env.browser(), f"/s/{share.token}/holder", {"holder_email": "someone.else@example.org"})
    (mine,) = env.svc.portfolio.shares_of(env.users["petr"])
    assert all("someone.else" not in a.user_agent + a.who for a in mine.accesses)


def test_holder_checks_refuses_a_bad_address(env, link):
    share, _, _ = link
    _, _, items = env.svc.portfolio.open_share(share.token, viewer="", user_agent="test")
    with pytest.raises(MalformedError):
        holder_checks(env.svc.credentials, items, "not-an-address")
    assert set(holder_checks(env.svc.credentials, items, "petr@example.org").values()) == {"match"}
