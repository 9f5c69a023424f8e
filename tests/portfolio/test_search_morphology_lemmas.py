"""The lemmatiser of discovery search (portfolio_api/services/morphology.py), without a database.

Forms of one word share a lemma; Latin words and digits are lower-cased and kept; ё is е; a hyphenated
word is its parts; every lemma is a token both FTS5 and PostgreSQL's ``simple`` parser read as one word;
the analyser is created once, lazily, even when threads race for it.
"""

from __future__ import annotations

import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_api.services import morphology
from portfolio_api.services.discovery import alternatives, terms
from portfolio_api.services.morphology import MAX_WORD, lemmas, word_lemmas, words

# (lemma, forms): every form's lemmas include the lemma
FORMS = [
    ("физика", ["физика", "физике", "физикой", "физики", "физику", "физикам"]),
    ("олимпиада", ["олимпиада", "олимпиады", "олимпиадах", "олимпиаде", "олимпиадой", "олимпиад"]),
    ("победитель", ["победитель", "победителя", "победители", "победителем", "победителей"]),
    ("призер", ["призёр", "призер", "призёра", "призёры", "призёров", "ПРИЗЕРАМИ"]),
    ("математика", ["математика", "математике", "математики", "математикой"]),
    ("конференция", ["конференция", "конференции", "конференциях"]),
    ("школьник", ["школьник", "школьников", "школьникам"]),
]


@pytest.mark.parametrize("lemma, form", [(lemma, f) for lemma, forms in FORMS for f in forms])
def test_every_form_of_a_word_has_its_lemma(lemma, form):
    assert lemma in lemmas(form)


@pytest.mark.parametrize("lemma, forms", FORMS)
def test_any_two_forms_of_a_word_share_a_lemma(lemma, forms):
    for a in forms:
        for b in forms:
            assert set(lemmas(a)) & set(lemmas(b)), (a, b)


def test_a_text_becomes_its_lemmas_in_order_with_every_reading_of_an_ambiguous_word():
    assert lemmas("Победитель олимпиады по физике") == ["победитель", "олимпиада", "по", "физика", "физик"]
    assert set(lemmas("математика")) == {"математика", "математик"}  # without context both readings are kept


def test_latin_words_and_digits_are_lower_cased_and_kept():
    assert lemmas("ВсОШ 2026 OLYMPIAD IT COVID19 9А v2") == ["всош", "2026", "olympiad", "it", "covid19", "9а", "v2"]


def test_yo_is_read_as_ye_in_the_text_and_in_the_lemma():
    assert lemmas("Призёр ёлка") == lemmas("Призер елка") == ["призер", "елка"]
    assert all("ё" not in w for w in lemmas("Пётр, её, ещё, всё, учёный, призёрам"))


def test_a_hyphenated_word_is_its_parts():
    assert lemmas("Санкт-Петербурге") == ["санкт", "петербург"]
    got = lemmas("научно-практической")
    assert "научно" in got and "практический" in got and not any("-" in w for w in got)
    assert words("IT-трек") == ["it", "трек"]


def test_diacritics_leave_latin_letters_but_cyrillic_letters_stay_whole():
    assert lemmas("Café naïve Ångström") == ["cafe", "naive", "angstrom"]
    assert lemmas("9й") == ["9й"] and "мой" in lemmas("Мой")
    assert lemmas("ﬁnal ² Ⅻ") == ["final", "2", "xii"]  # compatibility forms as plain letters and digits


def test_punctuation_and_empty_text_give_no_lemmas():
    assert lemmas("") == [] and lemmas(" — «» … !? _ ") == []
    assert lemmas("«Физике»!") == lemmas("физике")


def test_long_tokens_are_cut():
    assert lemmas("x" * 500) == ["x" * MAX_WORD]


_TOKEN = re.compile(r"[^\W_]+")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_every_lemma_is_one_plain_lower_case_token(text):
    for w in lemmas(text):
        assert _TOKEN.fullmatch(w) and w == w.lower() and "ё" not in w and 0 < len(w) <= MAX_WORD, (text, w)


def test_query_words_are_normalised_like_the_index_and_keep_the_typed_form_for_prefixes():
    assert terms("Олимпиада, «физика»!") == ["олимпиада", "физика"]
    assert terms("научно-практическая") == ["научно", "практическая"]
    assert alternatives("физике")[0] == "физика" and alternatives("физике")[-1] == "физике"
    assert "победит" in alternatives("победит")  # a half-typed word still matches "победитель" as a prefix
    assert alternatives("2026") == ["2026"]


def test_the_analyser_is_created_once_lazily_even_when_threads_race(monkeypatch):
    import pymorphy3

    created = []
    real = pymorphy3.MorphAnalyzer

    def counting(*args, **kwargs):
        created.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(morphology, "_analyzer", None)
    monkeypatch.setattr(pymorphy3, "MorphAnalyzer", counting)
    word_lemmas.cache_clear()
    try:
        threads = [threading.Thread(target=lemmas, args=(f"олимпиада физика {i}",)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(created) == 1 and morphology._morph() is morphology._morph()
        lemmas("победитель")
        assert len(created) == 1
    finally:
        word_lemmas.cache_clear()  # no lemma cached from the counting analyser outlives the test
