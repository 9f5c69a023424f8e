"""The canonical JSON fast path is byte-identical to the RFC 8785 reference implementation."""

from __future__ import annotations

import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import MalformedError
from ledger.tlog.canonical import canonical_bytes

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | text
floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
json_values = st.recursive(scalars | floats, lambda c: st.lists(c, max_size=4) | st.dictionaries(text, c, max_size=4), max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_fast_path_equals_reference(value):
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 2**60, {1: "x"}, {"a": "\ud800"}, object()])
def test_values_json_cannot_carry_exactly_are_refused(bad):
    with pytest.raises(MalformedError):
        canonical_bytes(bad)


def test_known_vector_key_order_is_utf16():
    # RFC 8785 §3.2.3: keys sorted by UTF-16 code units, so U+1F600 (D83D DE00) sorts before U+E000.
    assert canonical_bytes({"\ue000": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ue000":1}'.encode()
