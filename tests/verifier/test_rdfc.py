"""The template canonicalizer (verifier/rdfc.py) gives exactly pyld's RDFC-1.0 N-Quads, on every kind and on random values."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.cli.sample_network import FIELDS, TITLES
from verifier import rdfc
from verifier.credentials import KINDS, build_credential

ROOT = Path(__file__).resolve().parents[2]

#: Texts our credentials accept: no control characters but tab and newline (verifier.credentials._text).
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=[chr(c) for c in (*range(0x09), *range(0x0B, 0x20), 0x7F)]),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip())


def _cred(kind: str, holder: str = "Иванова Мария", title: str | None = None, email: str | None = "a@school.example", **fields) -> dict:
    return build_credential(kind=kind, issuer_id="olymp-1", issuer_name="Центр олимпиад", holder_name=holder, title=title or TITLES.get(kind, "Грамота"),
                            issued_at=1_772_000_000, fields={**FIELDS.get(kind, {}), **fields}, holder_email=email)  # fmt: skip


@pytest.mark.parametrize("path", sorted((ROOT / "examples").rglob("*.bundle.json")), ids=lambda p: p.name)
def test_every_example_canonicalizes_exactly_as_pyld_does(path):
    cred = json.loads(path.read_bytes())["credential"]
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("email", ["a@school.example", None])
def test_every_kind_with_and_without_an_email_canonicalizes_as_pyld_does(kind, email):
    cred = _cred(kind, email=email)
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(list(KINDS)), holder=TEXT, title=TEXT, description=TEXT)
def test_random_texts_give_pyld_s_answer(kind, holder, title, description):
    cred = _cred(kind, holder=holder, title=title)
    cred["credentialSubject"]["achievement"]["description"] = description
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)


@settings(max_examples=15, deadline=None)
@given(grades=st.dictionaries(TEXT, st.sampled_from(["5", "4", "3", "зачёт"]), min_size=1, max_size=4), year=st.integers(1950, 2100))
def test_json_literals_and_numbers_give_pyld_s_answer(grades, year):
    cred = _cred("school-leaving", grades=grades, year=year)
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)


def test_quotes_backslashes_tabs_and_newlines_are_escaped_as_pyld_does():
    cred = _cred("generic", holder='O"Brien \\ Тест', title="line one\nline two\tand a tab")
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)


def test_a_value_that_looks_like_a_placeholder_goes_to_the_reference():
    cred = _cred("generic", holder="urn:x-eduledger-slot:0")
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)
    cred = _cred("generic", title="4503599627370497")
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)


def test_an_id_that_is_not_an_absolute_iri_goes_to_the_reference():
    cred = _cred("generic")
    cred["credentialSubject"]["achievement"]["id"] = "relative/achievement"
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)


def test_blank_nodes_with_equal_first_degree_hashes_go_to_the_n_degree_reference():
    cred = _cred("olympiad-diploma")
    same = {"type": ["Result"], "value": "1"}
    cred["credentialSubject"]["result"] = [copy.deepcopy(same), {"type": ["Result"], "value": "2"}]
    # Two results differing only by value: distinct hashes, fast path.
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)
    cred["credentialSubject"]["identifier"] = [
        {"type": "IdentityObject", "identityType": "emailAddress", "hashed": True, "identityHash": "sha256$" + "0" * 64, "salt": "x"},
        {"type": "IdentityObject", "identityType": "emailAddress", "hashed": True, "identityHash": "sha256$" + "0" * 64, "salt": "y"},
    ]
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)


def test_a_float_goes_to_the_reference():
    cred = _cred("olympiad-diploma", points=87.5)
    assert rdfc.canonize(cred) == rdfc.reference_canonize(cred)


def test_the_template_cache_is_bounded():
    for n in range(rdfc._MAX_TEMPLATES + 5):
        cred = _cred("generic")
        cred["eduledgerExtension"]["details"] = "x"
        cred["credentialSubject"]["result"] = [{"type": ["Result"], "value": str(i)} for i in range(n % 300 + 1)]
        rdfc.canonize(cred)
    assert len(rdfc._templates) <= rdfc._MAX_TEMPLATES
