"""Batch issuance from the CSV files Excel writes in Russia (issue 18): encodings, delimiters, dates, kinds, check-only.

The parser is tested directly (bytes and a fixed today in), and through /staff/batch as a staff member of a
test network: what the page says, in which language, and that a check or a refused file changes nothing.
"""

# ruff: noqa: F811 - the ``env`` fixture is imported from helpers and taken as an argument, as in every portfolio test

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portfolio_api.db import tables as t
from portfolio_api.services import batches
from portfolio_api.services.batches import MAX_CSV_BYTES, MAX_ROWS, CsvRefused, parse_csv, template_csv
from portfolio_api.services.credentials import KINDS
from portfolio_api.services.dates import server_today
from tests.portfolio.helpers import env, form  # noqa: F401
from tests.portfolio.test_portfolio_documents import _wait_batch

TODAY = date(2026, 11, 21)


def _post(c, data: bytes, mode: str = "issue", idem: str = "excel-form-0001"):
    return form(c, "/staff/batch", {"idem": idem, "mode": mode}, files={"file": ("список.csv", data, "text/csv")})


def _state(env) -> dict:
    """Every portfolio row and the ledger size: what a check or a refused file must leave as it was."""
    with env.svc.ctx.engine.connect() as conn:
        rows = {tb.name: sorted(map(tuple, conn.execute(sa.select(tb))), key=repr) for tb in t.metadata.sorted_tables}
    return {"rows": rows, "ledger": env.node.log.size}


def _issued(env) -> dict[str, tuple[str, str, str]]:
    """Credentials olymp issued: title -> (kind, achieved_on, holder name)."""
    return {c.title: (c.kind, c.achieved_on, name) for c, name in env.svc.credentials.issued_by("olymp")}


def _today(env) -> date:
    return server_today(env.svc.ctx.now())


# --- the parser alone ---


def test_cp1251_semicolons_russian_headers_dates_and_kinds_parse():
    text = ("Эл. почта;Вид;Название;Дата;Описание\r\n"
            "maria@example.org;олимпиада;Призёр, 2 место;21.11.2026;\r\n"
            "petr@example.org;Повышение  квалификации;Курсы;1.9.2026;72 часа\r\n"
            "anna@example.org;грамота;Грамота за проект;2026-05-20;\r\n")
    good, bad = parse_csv(text.encode("cp1251"), today=TODAY)
    assert bad == []
    assert [(n, r.holder_email, r.kind, r.title, r.achieved_on, r.description) for n, r in good] == [
        (2, "maria@example.org", "olympiad", "Призёр, 2 место", "2026-11-21", ""),
        (3, "petr@example.org", "professional-development", "Курсы", "2026-09-01", "72 часа"),
        (4, "anna@example.org", "school-certificate", "Грамота за проект", "2026-05-20", ""),
    ]


def test_utf8_with_bom_and_without_header_and_columns_in_any_order_parse():
    bom = "\ufeffmaria@example.org,contest,Лауреат,2026-03-02\n".encode()
    assert [r.kind for _, r in parse_csv(bom, today=TODAY)[0]] == ["contest"]
    reordered = "дата;название;эл.почта;вид\n01.03.2026;Диплом;maria@example.org;Диплом\n".encode()
    ((n, r),), bad = parse_csv(reordered, today=TODAY)
    assert bad == [] and (n, r.kind, r.achieved_on, r.holder_email) == (2, "diploma", "2026-03-01", "maria@example.org")


def test_every_kind_is_accepted_by_identifier_and_by_its_name_in_both_languages():
    from portfolio_api.i18n import t as msg

    for k in KINDS:
        for spelling in (k, msg(f"kind.{k}", "ru"), msg(f"kind.{k}", "en").upper()):
            good, bad = parse_csv(f"email;kind;title;date\nm@example.org;{spelling};Название;01.01.2026\n".encode(), today=TODAY)
            assert bad == [] and good[0][1].kind == k, spelling


def test_a_semicolon_file_whose_title_has_commas_is_split_on_semicolons():
    good, bad = parse_csv("m@example.org;olympiad;Призёр, 1 место, финал;01.02.2026\n".encode(), today=TODAY)
    assert bad == [] and good[0][1].title == "Призёр, 1 место, финал"


def test_each_bad_row_gets_its_code_and_the_good_rows_still_parse():
    rows = [
        "email;kind;title;date",
        "m@example.org;olympiad;Призёр;22.11.2026",  # 2 tomorrow
        "m@example.org;полёт в космос;Призёр;01.02.2026",  # 3
        "m@example.org;olympiad;Призёр;31.02.2026",  # 4 no such day
        "m@example.org;olympiad;Призёр;21.11.26",  # 5 two-digit year
        "not-an-address;olympiad;Призёр;01.02.2026",  # 6
        ";olympiad;Призёр;01.02.2026",  # 7
        "m@example.org;olympiad;Я;01.02.2026",  # 8 title too short
        "m@example.org;olympiad;Призёр;21.11.2026",  # 9 today: fine
        "m@example.org;olympiad;призёр;2026-11-21",  # 10 the same as 9
        "m@example.org;olympiad;Призёр;01.02.2026;описание;лишнее",  # 11
        "",
        "m@example.org;olympiad;Призёр;",  # 13
    ]
    good, bad = parse_csv("\n".join(rows).encode(), today=TODAY)
    assert [n for n, _ in good] == [9]
    assert [(r.row, r.code) for r in bad] == [
        (2, "date-future"), (3, "kind-unknown"), (4, "date-format"), (5, "date-format"), (6, "email-invalid"), (7, "email-empty"),
        (8, "title-length"), (10, "duplicate"), (11, "no-column"), (13, "date-empty"),
    ]
    assert "in the future" in bad[0].message and bad[7].params == {"other": 9}


@pytest.mark.parametrize("data, code", [
    (b"PK\x03\x04" + b"\x00" * 100, "xlsx"),
    ("email;kind".encode("utf-16"), "utf16"),
    (b"%PDF-1.4\n\x00\x01\x02binary", "binary"),
    (b"email,kind,title,date\n", "empty"),
    ("email;вид;название;дата;ФИО\n".encode(), "header-unknown"),
    ("email;вид;название\n".encode(), "header-missing"),
    ("email;почта;вид;название;дата\n".encode(), "header-duplicate"),
    (b"x" * (MAX_CSV_BYTES + 1), "too-large"),
    (("email;kind;title;date\n" + "m@example.org;olympiad;Призёр;01.01.2026\n" * (MAX_ROWS + 1)).encode(), "too-many-rows"),
])
def test_a_file_that_cannot_be_read_is_refused_whole_with_a_reason(data, code):
    with pytest.raises(CsvRefused) as e:
        parse_csv(data, today=TODAY)
    assert e.value.code == code


def test_the_template_is_utf8_with_bom_semicolons_and_russian_headers_and_parses_back():
    data = template_csv()
    assert data.startswith(b"\xef\xbb\xbf")
    header = data[3:].decode().splitlines()[0]
    assert header == ";".join(batches.TEMPLATE_HEADER) and "эл. почта" in header
    good, bad = parse_csv(data, today=TODAY)
    assert bad == [] and len(good) == 1 and good[0][1].kind == "olympiad" and good[0][1].achieved_on == "2026-03-15"


# --- through the page ---


def test_cp1251_semicolon_file_with_russian_dates_and_kinds_issues_every_row(env):
    staff = env.browser("olymp")
    text = ("Эл. почта;Вид;Название;Дата;Описание\r\n"
            "maria@example.org;Олимпиада;Призёр регионального этапа по физике;21.11.2026;\r\n"
            "petr@example.org;конкурс;Лауреат конкурса «Юный химик»;02.03.2026;за проект\r\n"
            "anna@example.org;Повышение квалификации;Курсы учителей информатики;15.09.2026;72 часа\r\n")
    r = _post(staff, text.encode("cp1251"))
    assert r.status_code == 303, r.text
    page = _wait_batch(staff, r.headers["location"])
    assert "3/3" in page and page.count('class="ok"') == 3 and "выдано, запись реестра №" in page
    assert _issued(env) == {
        "Призёр регионального этапа по физике": ("olympiad", "2026-11-21", "Мария Иванова"),
        "Лауреат конкурса «Юный химик»": ("contest", "2026-03-02", "Пётр Смирнов"),
        "Курсы учителей информатики": ("professional-development", "2026-09-15", "Анна Кузнецова"),
    }
    # The same form again (idempotency per form, as before): the same batch, nothing issued twice.
    size = env.node.log.size
    again = _post(staff, text.encode("cp1251"))
    assert again.headers["location"] == r.headers["location"] and env.node.log.size == size and len(_issued(env)) == 3


def test_utf8_bom_file_issues(env):
    staff = env.browser("olymp")
    r = _post(staff, "\ufeffemail,kind,title,date\nmaria@example.org,diploma,Диплом победителя,2026-03-01\n".encode(), idem="excel-form-bom1")
    assert r.status_code == 303, r.text
    _wait_batch(staff, r.headers["location"])
    assert _issued(env) == {"Диплом победителя": ("diploma", "2026-03-01", "Мария Иванова")}


def test_check_only_reports_every_row_and_writes_nothing(env):
    staff = env.browser("olymp")
    before = _state(env)
    text = ("эл. почта;вид;название;дата\n"
            "maria@example.org;олимпиада;Победитель олимпиады;01.03.2026\n"
            "nobody@example.org;олимпиада;Призёр;01.03.2026\n"
            "petr@example.org;конкурс;Лауреат;02.03.2026\n")
    r = _post(staff, text.encode("cp1251"), mode="check")
    assert r.status_code == 200
    assert 'data-bad="1"' in r.text and r.text.count('class="ok"') == 2 and r.text.count('class="fail"') == 1
    assert "<td>3</td><td>✗</td><td>нет ученика или учителя с эл. почтой nobody@example.org" in r.text
    assert "<td>2</td><td>✓</td><td>в порядке</td>" in r.text and "<td>4</td><td>✓</td>" in r.text
    assert _state(env) == before  # no batch, no audit record, no credential, nothing on the ledger
    good = _post(staff, text.replace("nobody", "anna").encode("cp1251"), mode="check")
    assert good.status_code == 200 and 'data-bad="0"' in good.text and "Все строки (3) в порядке" in good.text
    assert _state(env) == before


def test_a_file_with_one_bad_row_issues_nothing_and_lists_the_bad_row(env):
    staff = env.browser("olymp")
    before = _state(env)
    text = ("email;kind;title;date\n"
            "maria@example.org;olympiad;Победитель олимпиады;01.03.2026\n"
            "petr@example.org;olympiad;Призёр олимпиады;01.03.2026\n"
            "maria@example.org;рыбалка;Призёр;01.03.2026\n")
    r = _post(staff, text.encode())
    assert r.status_code == 400
    assert "Ничего не выдано: ошибки в 1 из 3 строк" in r.text
    assert "<td>4</td><td>✗</td><td>неизвестный вид «рыбалка»; допустимые виды: Олимпиада, Конкурс" in r.text
    assert _state(env) == before and _issued(env) == {}
    # Fixed, the next form issues it.
    fixed = _post(staff, text.replace("рыбалка", "конкурс").encode(), idem="excel-form-0002")
    assert fixed.status_code == 303
    _wait_batch(staff, fixed.headers["location"])
    assert len(_issued(env)) == 3


def test_a_date_in_the_future_is_refused_with_the_reason(env):
    staff = env.browser("olymp")
    before = _state(env)
    tomorrow = (_today(env) + timedelta(days=1)).strftime("%d.%m.%Y")
    r = _post(staff, f"maria@example.org;олимпиада;Призёр олимпиады;{tomorrow}\n".encode())
    assert r.status_code == 400
    assert f"дата {tomorrow} ещё не наступила: документ выдают за уже состоявшееся достижение" in r.text
    assert _state(env) == before


def test_a_file_over_the_size_limit_is_refused_and_changes_nothing(env):
    staff = env.browser("olymp")
    before = _state(env)
    r = _post(staff, b"m@example.org;olympiad;x;01.01.2026\n" * (MAX_CSV_BYTES // 30))
    assert r.status_code == 400 and f"Файл больше {MAX_CSV_BYTES // 1024} КБ" in r.text
    assert _state(env) == before


def test_a_workbook_is_refused_with_what_to_save_instead(env):
    r = _post(env.browser("olymp"), b"PK\x03\x04" + b"\x00" * 200, mode="check")
    assert r.status_code == 400 and "Это книга Excel, а не CSV" in r.text


def test_the_page_lists_the_kinds_and_offers_the_template(env):
    staff = env.browser("olymp")
    page = staff.get("/staff/batch").text
    assert "Только проверить" in page and 'href="/staff/batch/template.csv"' in page
    for k in KINDS:
        assert f"<code>{k}</code>" in page
    assert "<td>Олимпиада</td><td><code>olympiad</code></td>" in page
    r = staff.get("/staff/batch/template.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    good, bad = parse_csv(r.content, today=_today(env))
    assert bad == [] and len(good) == 1
    assert env.browser("maria").get("/staff/batch/template.csv").status_code == 403


def test_the_english_ui_shows_english_messages(env):
    staff = env.browser("olymp")
    staff.get("/lang/en")
    tomorrow = (_today(env) + timedelta(days=1)).isoformat()
    text = ("email,kind,title,date\n"
            "maria@example.org,olympiad,Winner,2026-03-01\n"
            f"petr@example.org,olympiad,Winner,{tomorrow}\n"
            "petr@example.org,fishing,Winner,2026-03-01\n"
            "nobody@example.org,olympiad,Winner,2026-03-01\n")
    r = _post(staff, text.encode(), mode="check")
    assert r.status_code == 200 and "Check only" in r.text and "Nothing was issued: 3 of 4 rows have problems" in r.text
    assert f"the date {tomorrow} is in the future" in r.text and "unknown kind “fishing”; kinds: Olympiad, Contest" in r.text
    assert "no student or teacher with e-mail nobody@example.org" in r.text and "<td>2</td><td>✓</td><td>ok</td>" in r.text
    assert "ещё не наступила" not in r.text and "неизвестный вид" not in r.text and "в порядке" not in r.text
    refused = _post(staff, text.encode())
    assert refused.status_code == 400 and "Nothing was issued: 3 of 4 rows have problems. Fix them" in refused.text
