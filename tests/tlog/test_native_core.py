"""The native hashing core gives exactly the pure-Python results, and refuses bad input cleanly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tlog import _hashing, merkle
from tests import nativecore

native = nativecore.load("ledger.tlog._native")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=70), max_size=300))
def test_leaf_hashes_and_root_equal_pure_python(items):
    leaves = native.hash_leaves(items)
    assert leaves == _hashing._py_hash_leaves(items)
    if items:
        assert native.root(leaves) == _hashing._py_root(leaves)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=300), st.data())
def test_inclusion_fold_equals_pure_python(items, data):
    leaves = _hashing._py_hash_leaves(items)
    i = data.draw(st.integers(0, len(items) - 1))
    proof = merkle.inclusion_proof(leaves, i)
    assert native.fold_inclusion(leaves[i], i, len(items), proof) == _hashing._py_fold_inclusion(leaves[i], i, len(items), proof)
    if proof:
        bad = list(proof)
        bad[0] = bytes(32)
        assert native.fold_inclusion(leaves[i], i, len(items), bad) == _hashing._py_fold_inclusion(leaves[i], i, len(items), bad)


def test_large_tree_equals_pure_python():
    items = [i.to_bytes(4, "big") for i in range(5000)]
    assert native.root(native.hash_leaves(items)) == _hashing._py_root(_hashing._py_hash_leaves(items))


@pytest.mark.parametrize(
    "call",
    [
        lambda: native.hash_leaves([b"a", "str"]),
        lambda: native.hash_leaves(5),
        lambda: native.root([]),
        lambda: native.root([b"short"]),
        lambda: native.root([None]),
        lambda: native.fold_inclusion(b"x" * 31, 0, 1, []),
        lambda: native.fold_inclusion(b"x" * 32, 5, 3, []),
        lambda: native.fold_inclusion(b"x" * 32, 0, 2, [b"y" * 31]),
        lambda: native.fold_inclusion(b"x" * 32, -1, 2, []),
    ],
)
def test_bad_input_raises_type_or_value_error(call):
    with pytest.raises((TypeError, ValueError, OverflowError)):
        call()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=200), st.data())
def test_native_verify_agrees_with_the_pure_fold(items, data):
    leaves = _hashing._py_hash_leaves(items)
    i = data.draw(st.integers(0, len(items) - 1))
    proof = merkle.inclusion_proof(leaves, i)
    good = _hashing._py_root(leaves)
    assert native.verify_inclusion(leaves[i], i, len(items), proof, good) is None
    other = bytes(32)
    assert native.verify_inclusion(leaves[i], i, len(items), proof, other) == good


def test_root_of_entries_with_two_threads_equals_one():
    items = [i.to_bytes(4, "big") for i in range(10_000)]
    assert merkle.root_of_entries(items, workers=2) == merkle.root_of_entries(items) == _hashing._py_root(_hashing._py_hash_leaves(items))
