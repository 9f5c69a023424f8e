"""The strict JSON loader: every way untrusted bytes can be ambiguous or hostile is refused, fast."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import MalformedError
from verifier import safejson


def test_plain_json_parses_like_the_standard_library():
    doc = b'{"a": [1, -2, 2.5, true, false, null, "x\\"[{", {"b": "\xd0\xbc\xd0\xb8\xd1\x80"}], "c": {}}'
    assert safejson.loads(doc) == json.loads(doc)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "UTF-8"),  # an encoded surrogate is not UTF-8
        (b'{"a": "\xc0\xaf"}', "UTF-8"),  # overlong
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'[{"x": {"k": 1, "k": 1}}]', "duplicate key 'k'"),
        (b"NaN", "NaN"),
        (b"[Infinity]", "Infinity"),
        (b"[-Infinity]", "-Infinity"),
        (b"[1e400]", "too large for a double"),
        (b"[-1e400]", "too large for a double"),
        (b"9007199254740992", "safe integer range"),
        (b"-9007199254740992", "safe integer range"),
        (b"[" + b"1" * 5000 + b"]", "safe integer range"),
        (b'"\\ud800"', "lone surrogate"),
        (b'["\\udc00x"]', "lone surrogate"),
        (b'{"\\ud83d": 1}', "lone surrogate"),
        (b"[" * 65 + b"]" * 65, "nested 65 levels"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "nested 65 levels"),
        (b'{"a": 1', "not valid JSON"),
        (b'{"a": 1}}', "not valid JSON"),
        (b"{'a': 1}", "not valid JSON"),
        (b"[1,]", "not valid JSON"),
    ],
)
def test_hostile_or_ambiguous_input_is_malformed(data, words):
    with pytest.raises(MalformedError, match=words.replace("[", r"\[")):
        safejson.loads(data)


def test_limits_at_the_edge():
    assert safejson.loads(b"9007199254740991") == (1 << 53) - 1
    assert safejson.loads(b"-9007199254740991") == -((1 << 53) - 1)
    assert safejson.loads(b"[" * 64 + b"]" * 64) is not None
    assert safejson.loads(b'"\\ud83d\\ude00"') == "\U0001f600"  # a surrogate pair is a character
    assert safejson.loads(b'["\\\\ud800"]') == ["\\ud800"]  # an escaped backslash, not a surrogate
    assert safejson.loads(b'["[[[[", "]]]]"]', max_depth=1) == ["[[[[", "]]]]"]  # brackets inside strings do not count
    assert safejson.loads(b"1.5e300") == 1.5e300


def test_size_is_checked_before_anything_else():
    with pytest.raises(MalformedError, match="larger than the limit of 10 bytes"):
        safejson.loads(b"\xff" * 11, max_bytes=10)
    assert safejson.loads(b" " * 8 + b"[]", max_bytes=10) == []


def test_non_bytes_is_a_programmer_error():
    with pytest.raises(TypeError):
        safejson.loads("{}")  # type: ignore[arg-type]


def test_deep_nesting_is_refused_in_linear_time():
    depth = 400_000
    data = b"[" * depth + b"]" * depth
    started = time.perf_counter()
    with pytest.raises(MalformedError, match=f"nested {depth} levels"):
        safejson.loads(data)
    assert time.perf_counter() - started < 1.0
    # Many shallow brackets are fine: only depth counts.
    assert len(safejson.loads(b"[" + b"[]," * 10_000 + b"[]]")) == 10_001


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_parse_or_raise_malformed(data):
    try:
        safejson.loads(data)
    except MalformedError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_every_safe_value_round_trips(value):
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert safejson.loads(text.encode("utf-8")) == value


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_text_containing_json_syntax_is_data(text):
    """Strings full of brackets, quotes and backslashes never confuse the depth pre-scan."""
    assert safejson.loads(json.dumps([text]).encode(), max_depth=1) == [text]


# --- loads_plain: may the value skip the canonicaliser's domain walk? -------------------------

@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ('{"a": 1, "b": ["x", true, null]}', True),
        ('{"имя": "Мария"}', True),
        ('{"a": 1.5}', False),
        ('{"a": 1e3}', False),
        ('{"a": "😀"}', False),
        ('{"😀": 1}', False),
        ('{"a": "\\ud83d\\ude00"}', False),
        ('{"a": "\\u00e9"}', True),
    ],
)
def test_loads_plain_says_when_the_fast_canonical_form_is_exact(text, plain):
    import rfc8785

    from ledger.tlog.canonical import canonical_bytes

    value, got = safejson.loads_plain(text.encode())
    assert got is plain
    if plain:
        assert canonical_bytes(value, validated=True) == rfc8785.dumps(value)


def test_a_float_in_one_document_does_not_leak_into_the_next():
    assert safejson.loads_plain(b'[1.5]')[1] is False
    assert safejson.loads_plain(b'[1]')[1] is True


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_whenever_loads_plain_says_plain_the_fast_canonical_bytes_are_rfc8785(value):
    import rfc8785

    from ledger.tlog.canonical import canonical_bytes

    try:
        parsed, plain = safejson.loads_plain(json.dumps(value).encode())
    except MalformedError:
        return  # e.g. a lone surrogate in generated text
    if plain:
        assert canonical_bytes(parsed, validated=True) == rfc8785.dumps(parsed)


@pytest.mark.parametrize("escaped", [False, True], ids=["plain strings", "escaped quotes"])
def test_brackets_inside_strings_do_not_count_towards_the_depth(escaped):
    """The depth pre-scan skips strings by splitting at quotes, or with a regex when a quote is escaped."""
    noise = ('x\\"' if escaped else "x") + "[[[[{{{{" * 20
    shallow = json.dumps({"a": [noise] * 5, "b": {"c": [1, 2, noise]}}).encode()
    assert safejson.loads(shallow, max_depth=5)["b"]["c"][0] == 1
    deep = ("[" * 7 + json.dumps(noise) + "]" * 7).encode()
    with pytest.raises(MalformedError, match="nested 7 levels deep, limit 5"):
        safejson.loads(deep, max_depth=5)
