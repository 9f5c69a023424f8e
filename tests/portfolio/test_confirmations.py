"""Issue 18: irreversible actions ask first, share links say what they show, forms keep what was typed.

Revoking, superseding, revoking a share link and erasing an account act only when posted from their
confirmation page (hidden ``confirmed``); anything else shows that page and changes nothing. A share
link shows only the ticked items unless the whole public portfolio is chosen explicitly, and a page
says what it will show before it is created. Dates after the server's today are refused.
"""

# ruff: noqa: F811 - the ``env`` fixture is imported from helpers and taken as an argument, as in every portfolio test

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portfolio_api.services.credentials import IssueRequest
from portfolio_api.services.dates import FutureDate, server_today
from portfolio_api.services.shares import NothingChosen
from tests.portfolio.helpers import PASSWORD, PNG, env, form  # noqa: F401


def _issue(env, who: str = "maria", title: str = "Победитель олимпиады по математике"):
    return env.svc.credentials.issue(env.users["olymp"], IssueRequest(f"{who}@example.org", "olympiad", title, "2026-03-01"))


def _visible(html: str) -> str:
    """The page's text as a reader sees it (no tags, so no attribute values)."""
    return re.sub(r"<[^>]+>", " ", html)


def _status(env, c) -> str:
    return env.node.log.registry.status(c.digest)


# --- revoking ---------------------------------------------------------------------------------------


def test_a_revoke_posted_without_the_confirmation_page_or_without_a_reason_changes_nothing_and_says_why(env):
    c = _issue(env)
    staff = env.browser("olymp")
    size = env.node.log.size
    r = form(staff, f"/staff/credentials/{c.id}/revoke", {"reason": "fraud"})  # the old one-click form
    assert r.status_code == 200 and "Отозвать документ?" in r.text
    assert "checked" not in r.text.split('id="revoke-reasons"')[1].split("</fieldset>")[0]  # the posted reason is not carried over
    r = form(staff, f"/staff/credentials/{c.id}/revoke", {"confirmed": "yes"})
    assert r.status_code == 400 and "Выберите причину отзыва" in r.text and "Ничего не изменено" in r.text
    assert 'id="confirm"' in r.text  # still on the confirmation page
    r = form(staff, f"/staff/credentials/{c.id}/revoke", {"confirmed": "yes", "reason": "because-i-said-so"})
    assert r.status_code == 400 and "Выберите причину отзыва" in r.text
    assert _status(env, c) == "valid" and env.node.log.size == size


@pytest.mark.parametrize("lang, words", [
    ("ru", ("Отозвать документ?", "Это нельзя отменить.", "Выдан по ошибке", "Получен обманом", "Мария Иванова", "Отозвать навсегда")),
    ("en", ("Revoke this credential?", "This cannot be undone.", "Issued in error", "Fraud (obtained dishonestly)", "Мария Иванова", "Revoke for good")),
])
def test_the_revoke_confirmation_page_shows_the_credential_and_the_reasons_in_words(env, lang, words):
    c = _issue(env)
    staff = env.browser("olymp")
    staff.cookies.set("edu_lang", lang)
    r = staff.get(f"/staff/credentials/{c.id}/revoke")
    assert r.status_code == 200
    text = _visible(r.text)
    for w in (*words, "Победитель олимпиады по математике", "2026-03-01"):
        assert w in text, w
    assert not re.search(r"issued-in-error|key-compromise|\bfraud\b", text)  # codes only as the radios' values
    radios = re.findall(r'<input type="radio" name="reason"[^>]*>', r.text)
    assert len(radios) == 6 and not [x for x in radios if "checked" in x]  # no reason preselected


def test_the_issued_list_links_to_the_confirmation_and_posts_nothing_itself(env):
    c = _issue(env)
    page = env.browser("olymp").get("/staff").text
    assert f'action="/staff/credentials/{c.id}/revoke"' in page and 'name="reason"' not in page
    assert not re.search(r'method="post" action="/staff/credentials/[^"]+/(revoke|supersede)"', page)


def test_revoking_from_the_confirmation_page_revokes_and_the_reason_is_shown_in_words(env):
    c = _issue(env)
    staff = env.browser("olymp")
    r = form(staff, f"/staff/credentials/{c.id}/revoke", {"confirmed": "yes", "reason": "issued-in-error"})
    assert r.status_code == 303 and r.headers["location"] == "/staff?msg=revoked"
    assert _status(env, c) == "revoked"
    page = staff.get("/staff").text
    assert "Выдан по ошибке" in page and "issued-in-error" not in page
    again = staff.get(f"/staff/credentials/{c.id}/revoke").text  # no form for what is no longer valid
    assert "сейчас не действует" in again and 'name="confirmed"' not in again


def test_another_institutions_credential_has_no_confirmation_page(env):
    c = _issue(env)
    school = env.browser("school")
    assert school.get(f"/staff/credentials/{c.id}/revoke").status_code == 404
    assert school.get(f"/staff/credentials/{c.id}/supersede").status_code == 404
    assert form(school, f"/staff/credentials/{c.id}/revoke", {"confirmed": "yes", "reason": "fraud"}).status_code == 404
    assert _status(env, c) == "valid"


def test_superseding_asks_first_keeps_typed_values_and_refuses_a_future_date(env):
    c = _issue(env)
    staff = env.browser("olymp")
    page = staff.get(f"/staff/credentials/{c.id}/supersede")
    assert page.status_code == 200 and "Заменить документ исправленным?" in page.text and "Это нельзя отменить." in page.text
    assert 'value="Победитель олимпиады по математике"' in page.text  # prefilled with the current details
    r = form(staff, f"/staff/credentials/{c.id}/supersede", {"title": "Победитель олимпиады (исправлено)", "achieved_on": "2026-03-02"})
    assert r.status_code == 200 and _status(env, c) == "valid"  # not from the confirmation page: asks, acts not
    r = form(staff, f"/staff/credentials/{c.id}/supersede", {"confirmed": "yes", "title": "Победитель олимпиады (исправлено)", "achieved_on": "2031-01-01"})
    assert r.status_code == 400 and "ещё не наступила" in r.text
    assert 'value="Победитель олимпиады (исправлено)"' in r.text and 'value="2031-01-01"' in r.text
    assert _status(env, c) == "valid"
    r = form(staff, f"/staff/credentials/{c.id}/supersede", {"confirmed": "yes", "title": "Победитель олимпиады (исправлено)", "achieved_on": "2026-03-02"})
    assert r.status_code == 303 and _status(env, c) == "superseded"


# --- share links -----------------------------------------------------------------------------------


def _two_items(env):
    """Maria's verified credential (public) and an uploaded diploma she hid."""
    c = _issue(env)
    up = env.svc.uploads.add(env.users["maria"], data=PNG, filename="d.png", kind="diploma", title="Личный диплом", issued_on="2025-05-20",
                             issuer_id=None, ask_confirmation=False)
    env.svc.uploads.set_public(env.users["maria"], up.id, False)
    return f"c:{c.id}", f"u:{up.id}"


def test_the_share_form_defaults_to_the_ticked_items_with_clear_labels(env):
    _two_items(env)
    page = env.browser("maria").get("/portfolio/shares").text
    radios = dict(re.findall(r'<input type="radio" name="scope" value="(\w+)" ?(checked)?>', page))
    assert radios == {"selected": "checked", "all": ""}
    assert "Только то, что я отмечу ниже" in page and "включая то, что я добавлю или сделаю публичным позже" in page
    assert "↓" not in page


def test_ticking_nothing_is_refused_and_what_was_typed_stays(env):
    _two_items(env)
    maria = env.browser("maria")
    r = form(maria, "/portfolio/shares", {"days": "14", "label": "Приёмная комиссия МГУ"})  # the default scope, nothing ticked
    assert r.status_code == 400 and "Отметьте хотя бы один пункт" in r.text
    assert 'value="Приёмная комиссия МГУ"' in r.text and 'value="14"' in r.text
    r = form(maria, "/portfolio/shares", {"days": "14", "scope": "selected", "confirmed": "yes"})
    assert r.status_code == 400
    assert env.svc.portfolio.shares_of(env.users["maria"]) == []
    with pytest.raises(NothingChosen):
        env.svc.portfolio.preview_share(env.users["maria"], label="", items=[], days=5)


def test_a_link_of_ticked_items_is_shown_before_it_is_created_and_shows_only_them(env):
    cred, upload = _two_items(env)
    maria = env.browser("maria")
    data = {"days": "30", "label": "Олимпиадная школа", "items": [upload]}
    r = form(maria, "/portfolio/shares", data)
    assert r.status_code == 200 and "Проверьте, что покажет ссылка" in r.text
    assert "Ссылка покажет только эти пункты" in r.text and "Олимпиадная школа" in r.text
    assert "Личный диплом" in r.text and "по этой ссылке будет видно" in r.text  # hidden, yet shown: said plainly
    assert "Победитель олимпиады" not in r.text
    assert env.svc.portfolio.shares_of(env.users["maria"]) == []  # nothing created by the preview
    back = form(maria, "/portfolio/shares", {**data, "edit": "1"})  # "Change": the form as it was filled in
    assert back.status_code == 200 and 'value="Олимпиадная школа"' in back.text and f'value="{upload}" checked' in back.text
    assert form(maria, "/portfolio/shares", {**data, "confirmed": "yes"}).status_code == 303
    (share,) = env.svc.portfolio.shares_of(env.users["maria"])
    assert share.items == (upload,)
    shown = env.browser().get(f"/s/{share.token}").text
    assert "Личный диплом" in shown and "Победитель олимпиады" not in shown


def test_the_whole_portfolio_needs_the_explicit_choice_and_says_it_includes_later_items(env):
    cred, upload = _two_items(env)
    maria = env.browser("maria")
    maria.cookies.set("edu_lang", "en")
    r = form(maria, "/portfolio/shares", {"days": "7", "label": "University", "scope": "all"})
    assert r.status_code == 200 and "whole public portfolio as it is when opened" in r.text and "items you add or make public later too" in r.text
    assert "Победитель олимпиады" in r.text and "Личный диплом" not in r.text  # public items now; the hidden one is not shown
    assert env.svc.portfolio.shares_of(env.users["maria"]) == []
    assert form(maria, "/portfolio/shares", {"days": "7", "label": "University", "scope": "all", "confirmed": "yes"}).status_code == 303
    (share,) = env.svc.portfolio.shares_of(env.users["maria"])
    assert share.items is None
    later = _issue(env, title="Призёр конкурса, выданный позже")
    assert later.title in env.browser().get(f"/s/{share.token}").text  # as the confirmation said


def test_revoking_a_share_link_asks_first(env):
    share = env.svc.portfolio.create_share(env.users["maria"], label="Для лицея", items=None, days=10)
    maria = env.browser("maria")
    assert f'action="/portfolio/shares/{share.id}/revoke"' in maria.get("/portfolio/shares").text
    r = form(maria, f"/portfolio/shares/{share.id}/revoke")  # the old one-click form
    assert r.status_code == 200 and "Отозвать ссылку?" in r.text and "Для лицея" in r.text and "Это нельзя отменить." in r.text
    assert env.browser().get(f"/s/{share.token}").status_code == 200
    page = maria.get(f"/portfolio/shares/{share.id}/revoke")
    assert page.status_code == 200 and 'name="confirmed" value="yes"' in page.text
    assert maria.get("/portfolio/shares/999/revoke").status_code == 404
    assert form(maria, f"/portfolio/shares/{share.id}/revoke", {"confirmed": "yes"}).status_code == 303
    assert env.browser().get(f"/s/{share.token}").status_code == 410


# --- uploads and dates -----------------------------------------------------------------------------


UPLOAD = {"kind": "conference", "title": "Доклад на конференции «Шаг в будущее»", "issued_on": "2025-11-03", "issuer_id": "school-1", "ask": ""}


def test_an_upload_error_keeps_everything_typed_and_asks_for_the_file_again(env):
    maria = env.browser("maria")
    r = form(maria, "/portfolio/upload", UPLOAD, files={"file": ("d.pdf", b"MZ not a pdf", "application/pdf")})
    assert r.status_code == 400 and "не является PDF, JPEG или PNG" in r.text
    assert 'value="Доклад на конференции «Шаг в будущее»"' in r.text and 'value="2025-11-03"' in r.text
    assert '<option value="conference" selected>' in r.text and '<option value="school-1" selected>' in r.text
    assert not re.search(r'name="ask" value="1" checked', r.text)  # left unticked, stays unticked
    assert "Выберите файл ещё раз" in r.text
    assert env.svc.uploads.owned_by(env.users["maria"].id) == []


def test_an_upload_dated_in_the_future_is_refused_with_the_reason_and_today_is_allowed(env):
    maria = env.browser("maria")
    r = form(maria, "/portfolio/upload", {**UPLOAD, "issued_on": "2031-01-01"}, files={"file": ("d.png", PNG, "image/png")})
    assert r.status_code == 400 and "Дата 2031-01-01 ещё не наступила" in r.text and 'value="2031-01-01"' in r.text
    assert env.svc.uploads.owned_by(env.users["maria"].id) == []
    today = server_today(env.svc.ctx.now())
    with pytest.raises(FutureDate):
        env.svc.uploads.add(env.users["maria"], data=PNG, filename="d.png", kind="diploma", title="Завтрашний диплом",
                            issued_on=(today + timedelta(days=1)).isoformat(), issuer_id=None, ask_confirmation=False)
    r = form(maria, "/portfolio/upload", {**UPLOAD, "issued_on": today.isoformat()}, files={"file": ("d.png", PNG, "image/png")})
    assert r.status_code == 303
    assert f'max="{today.isoformat()}"' in maria.get("/portfolio/upload").text  # the browser's date picker stops at today too


def test_the_staff_issue_form_refuses_a_future_date_and_keeps_what_was_typed(env):
    staff = env.browser("olymp")
    data = {"holder_email": "maria@example.org", "kind": "contest", "title": "Победитель конкурса эссе", "description": "Эссе о физике",
            "achieved_on": "2031-01-01", "idem": "future-date-0001"}
    r = form(staff, "/staff/issue", data)
    assert r.status_code == 400 and "Дата 2031-01-01 ещё не наступила" in r.text
    for kept in ('value="maria@example.org"', 'value="Победитель конкурса эссе"', ">Эссе о физике<", 'value="2031-01-01"', '<option value="contest" selected>'):
        assert kept in r.text, kept
    assert env.svc.credentials.held_by(env.users["maria"].id) == []
    staff.cookies.set("edu_lang", "en")
    assert "The date 2031-01-01 is in the future" in form(staff, "/staff/issue", data).text
    today = server_today(env.svc.ctx.now()).isoformat()
    assert form(staff, "/staff/issue", {**data, "achieved_on": today}).status_code == 303


# --- erasing an account ----------------------------------------------------------------------------


def test_erasing_an_account_needs_the_confirmation_page_and_the_password(env):
    _issue(env)
    maria = env.browser("maria")
    account = maria.get("/account").text
    assert 'method="post" action="/account/delete"' not in account and 'action="/account/delete"' in account
    r = form(maria, "/account/delete", {"password": PASSWORD})  # the old form: asks, erases nothing
    assert r.status_code == 400 and "Удалить аккаунт?" in r.text and "Это нельзя отменить." in r.text
    assert "Мария Иванова" in r.text and "Документы от организаций: 1" in _visible(r.text)
    r = form(maria, "/account/delete", {"confirmed": "yes"})
    assert r.status_code == 400 and "Введите пароль" in r.text
    r = form(maria, "/account/delete", {"confirmed": "yes", "password": "wrong password!"})
    assert r.status_code == 400 and 'id="confirm"' in r.text
    assert env.svc.accounts.get(env.users["maria"].id).name == "Мария Иванова"
    maria.cookies.set("edu_lang", "en")
    assert "Delete your account?" in maria.get("/account/delete").text
    r = form(maria, "/account/delete", {"confirmed": "yes", "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/?msg=deleted"
    assert env.svc.accounts.get(env.users["maria"].id).name == "—"
