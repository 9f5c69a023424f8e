"""Russian morphology in discovery search (issue 18), on SQLite and on a real PostgreSQL.

Every case and number form of a word finds the verified evidence written in another form ("физика"
finds "…по физике…"), both engines answer every query with the same profiles, rows indexed before
migration 0006 are re-lemmatised by ``refresh_stale``, and an empty result says what was searched and
what to try. The pure lemmatiser is tested in test_search_morphology_lemmas.py.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from portfolio_api.db import alembic_config
from portfolio_api.db import tables as t
from portfolio_api.services.credentials import IssueRequest
from portfolio_api.services.morphology import lemmas, words
from tests.portfolio.helpers import PASSWORD, PEOPLE, Env, make_env

# holder key -> (e-mail, name, role, discoverable, [(issuing staff, kind, title)])
HOLDERS = {
    "maria": (PEOPLE["maria"][0], "Мария Иванова", "student", True,
              [("olymp", "olympiad", "Победитель всероссийской олимпиады школьников по физике")]),
    "petr": (PEOPLE["petr"][0], "Пётр Смирнов", "student", True,
             [("school", "olympiad", "Призёр олимпиад по математике и информатике")]),
    "anna": (PEOPLE["anna"][0], "Анна Кузнецова", "teacher", True,
             [("school", "conference", "Наставник призёров научно-практической конференции по химии")]),
    "lena": ("lena@example.org", "Елена Соколова", "student", True,
             [("school", "contest", "Участница IT-школы «Кванториум»: Café-lab v2, 9А класс, Санкт-Петербург, COVID19, ёлка 2025/26")]),
    # the same physics win as maria's, but never opted in: no query may find her
    "ivan": ("ivan@example.org", "Иван Петров", "student", False,
             [("olymp", "olympiad", "Победитель олимпиады по физике")]),
}
TEXTS = {key: " ".join(title for _, _, title in h[4]) for key, h in HOLDERS.items()}
M, P, A, L = "Мария Иванова", "Пётр Смирнов", "Анна Кузнецова", "Елена Соколова"

# (query, names expected). Rows marked FORM use a form that appears in no text: found only through the lemma.
FORM = True
TABLE: list[tuple[str, set[str], bool]] = [
    # физика: the text says "по физике"
    ("физика", {M}, FORM), ("физикой", {M}, FORM), ("физики", {M}, FORM), ("физикам", {M}, FORM),
    # олимпиада: "олимпиады" (maria), "олимпиад" (petr)
    ("олимпиада", {M, P}, FORM), ("олимпиадах", {M, P}, FORM), ("олимпиадой", {M, P}, FORM), ("олимпиадам", {M, P}, FORM),
    # победитель: "Победитель"
    ("победителя", {M}, FORM), ("победители", {M}, FORM), ("победителем", {M}, FORM), ("победителей", {M}, FORM),
    # призёр: "Призёр" (petr), "призёров" (anna); with and without ё
    ("призер", {P, A}, FORM), ("призёры", {P, A}, FORM), ("призёра", {P, A}, FORM), ("призерами", {P, A}, FORM),
    # математика: "по математике"
    ("математика", {P}, FORM), ("математикой", {P}, FORM), ("математики", {P}, FORM),
    # конференция, химия: "конференции по химии"
    ("конференция", {A}, FORM), ("конференциях", {A}, FORM), ("химия", {A}, FORM), ("химией", {A}, FORM),
    # several words: every one is required
    ("олимпиада физика", {M}, FORM), ("победители олимпиад", {M}, not FORM), ("призёры олимпиады", {P}, FORM),
    ("ФИЗИКА химия", set(), FORM), ("призёры по математике", {P}, not FORM),
    # hyphenated words are their parts
    ("научно-практическая", {A}, FORM), ("научно-практические конференции", {A}, not FORM), ("Санкт-Петербурге", {L}, FORM),
    # Latin words and digits, lower-cased; diacritics off Latin letters; ё as е
    ("OLYMPIAD", {M, P}, not FORM), ("it", {L}, not FORM), ("cafe", {L}, FORM), ("Кванториуме", {L}, FORM),
    ("9а", {L}, not FORM), ("елки", {L}, FORM), ("2026", {M, P, A, L}, not FORM), ("v2", {L}, not FORM),
    # half-typed words still match as prefixes
    ("олимп", {M, P}, not FORM), ("физ", {M}, not FORM), ("победит", {M}, not FORM),
    # nothing
    ("астрономия", set(), not FORM),
]
# more queries for the engines to agree on: punctuation, case, odd tokens, a region filter
EXTRA = ["«Физике»!", "ФИЗИКЕ, олимпиаде", "covid", "covid19", "CAFÉ-LAB", "2025", "26", "1e5", "по", "а", "e", "ё", "", "—"]


def _world(tmp_path: Path, database_url: str | None = None) -> Iterator[Env]:
    """A network with the holders above, their credentials issued and their profiles saved."""
    app, data = make_env(tmp_path, database_url=database_url)
    app.state.settings.notify_poll_seconds = 3600  # the idle sender's refresh_stale must not race the tests that call it
    with TestClient(app, follow_redirects=False) as client:
        e = Env(app, client, data)
        for key, (mail, name, role, inst) in PEOPLE.items():
            if key not in HOLDERS:
                e.users[key] = e.svc.accounts.create(mail, PASSWORD, name, role, inst)
        for key, (mail, name, role, _, _) in HOLDERS.items():
            e.users[key] = e.svc.accounts.create(mail, PASSWORD, name, role, None)
        for key, (mail, _, _, discoverable, items) in HOLDERS.items():
            for staff, kind, title in items:
                assert e.svc.credentials.issue(e.users[staff], IssueRequest(mail, kind, title, "2026-03-01")).status == "verified"
            e.svc.discovery.set_profile(e.users[key], discoverable=discoverable, region="Москва" if key == "maria" else "Казань")
        yield e


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from _world(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="module")
def pg_world(tmp_path_factory: pytest.TempPathFactory, postgres_server) -> Iterator[Env]:
    from tests.conftest import fresh_database

    with contextlib.contextmanager(fresh_database)(postgres_server) as url:
        world = _world(tmp_path_factory.mktemp("pg"), database_url=url)
        e = next(world)
        with e.svc.ctx.engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
        yield e
        world.close()  # leaves the app (and its connections) before the database is dropped


def _names(e: Env, query: str, region: str = "") -> set[str]:
    return {c.name for c in e.svc.discovery.search(e.users["uni"], query, region=region, limit=100, rate_key=f"t:{query}:{region}")}


def _ids(e: Env, query: str, region: str = "") -> list[int]:
    return sorted(e.svc.discovery.search_ids(query, region=region, limit=100))


def _check_table(e: Env) -> None:
    for query, expected, form in TABLE:
        if form:  # the row proves morphology only if no text has the query's words as written
            written = {w for text in TEXTS.values() for w in re.findall(r"\w+", text.lower())}
            assert not set(re.findall(r"\w+", query.lower())) <= written, query
        assert _names(e, query) == expected, query


def test_the_table_has_at_least_three_unwritten_forms_of_each_of_five_words():
    forms = [q for q, _, form in TABLE if form and len(words(q)) == 1]
    per_word = {w: [q for q in forms if set(lemmas(q)) & set(lemmas(w))] for w in ("физика", "олимпиада", "победитель", "призёр", "математика")}
    assert sum(len(f) for f in per_word.values()) >= 15 and all(len(f) >= 3 for f in per_word.values()), per_word


def test_every_word_form_finds_evidence_written_in_another_form_sqlite(sqlite_world):
    _check_table(sqlite_world)


@pytest.mark.postgres
def test_every_word_form_finds_evidence_written_in_another_form_postgresql(pg_world):
    _check_table(pg_world)


@pytest.mark.postgres
def test_sqlite_and_postgresql_return_the_same_ids_for_the_same_queries(sqlite_world, pg_world):
    assert {k: u.id for k, u in sqlite_world.users.items()} == {k: u.id for k, u in pg_world.users.items()}
    queries = [q for q, _, _ in TABLE] + EXTRA
    for query in queries:
        assert _ids(sqlite_world, query) == _ids(pg_world, query), query
        assert _ids(sqlite_world, query, region="Казань") == _ids(pg_world, query, region="Казань"), query
    assert _ids(sqlite_world, "физике") == [sqlite_world.users["maria"].id]


def test_the_card_shows_the_evidence_as_written_and_the_index_holds_lemmas(sqlite_world):
    (card,) = sqlite_world.svc.discovery.search(sqlite_world.users["uni"], "физика", rate_key="t:card")
    assert card.evidence == ("olympiad · Победитель всероссийской олимпиады школьников по физике · Центр олимпиад «Перспектива» · 2026",)
    with sqlite_world.svc.ctx.engine.connect() as conn:
        row = conn.execute(sa.select(t.profiles).where(t.profiles.c.user_id == card.user_id)).one()
    assert row.evidence == card.evidence[0]
    assert {"победитель", "олимпиада", "физика", "olympiad", "2026"} <= set(row.evidence_lemmas.split()) and "физике" not in row.evidence_lemmas


# --- rows indexed before migration 0006 ---


def _rows_from_before_0006_are_relemmatised(e: Env) -> None:
    engine, disc = e.svc.ctx.engine, e.svc.discovery
    with engine.begin() as conn:  # back to the word-form index, then forward: the state an upgraded node starts in
        command.downgrade(alembic_config(conn), "0005")
        assert "evidence_lemmas" not in {c["name"] for c in sa.inspect(conn).get_columns("pf_profiles")}
        command.upgrade(alembic_config(conn), "head")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(t.profiles.c.evidence_lemmas.is_not(None))).scalar() == 0
    assert disc.search_ids("физика") == []  # marked stale: not found on word forms it was never lemmatised from
    assert disc.refresh_stale() == 4  # every discoverable profile (ivan's is not), never-lemmatised ones first
    assert _names(e, "физикой") == {M} and _names(e, "призёры") == {P, A}
    with engine.connect() as conn:
        left = conn.execute(sa.select(t.profiles.c.user_id).where(t.profiles.c.evidence_lemmas.is_(None))).scalars().all()
    assert left == [e.users["ivan"].id]  # not discoverable: re-indexed when she opts in (set_profile)
    e.svc.discovery.set_profile(e.users["ivan"], discoverable=True)
    assert _names(e, "физиками победителями") == {M, "Иван Петров"}


def test_rows_indexed_before_migration_0006_are_relemmatised_by_refresh_stale_sqlite(tmp_path):
    for e in _world(tmp_path):
        _rows_from_before_0006_are_relemmatised(e)


@pytest.mark.postgres
def test_rows_indexed_before_migration_0006_are_relemmatised_by_refresh_stale_postgresql(tmp_path, pg_store_url):
    for e in _world(tmp_path, database_url=pg_store_url):
        _rows_from_before_0006_are_relemmatised(e)


# --- the empty result ---


def test_an_empty_result_says_what_was_searched_and_what_to_try(sqlite_world):
    c = sqlite_world.browser("uni")
    page = c.get("/opportunities/discover", params={"q": "астрономия олимпиада", "region": "Тверь"}).text
    assert "Ничего не найдено" in page and "по запросу «астрономия олимпиада»" in page and "в регионе «Тверь»" in page
    assert "подтверждённым в реестре" in page and "Уберите одно из слов" in page and "Поищите без региона" in page
    assert "Пока ничего нет" not in page
    c.cookies.set("edu_lang", "en")
    page = c.get("/opportunities/discover", params={"q": "астрономия"}).text
    assert "Nothing found" in page and "for «астрономия»" in page and "Type the beginning of a word" in page
    assert "Search without the region" not in page and "Remove a word" not in page  # one word, no region: those hints do not apply
    page = c.get("/opportunities/discover", params={"q": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    page = c.get("/opportunities/discover", params={"q": "физикой"}).text
    assert M in page and "Nothing found" not in page
