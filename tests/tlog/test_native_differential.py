"""The native core and the pure-Python core are interchangeable: same bytes, same accept/reject.

Every native function is run with each SHA-256 kernel the machine has ("sha-ni" where the CPU
has the SHA extensions, and always "libcrypto") against its pure twin in ledger/tlog/_hashing.py,
over random trees, random proofs and random mutations of those proofs. The batch verifier,
which skips hashing nodes it has already seen, is checked to refuse exactly the first item that
the one-by-one reference refuses, however the batch is ordered or tampered with.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import MalformedError, RootMismatchError
from ledger.tlog import _hashing, merkle
from ledger.tlog.tree import Tree
from tests import nativecore

native = nativecore.load("ledger.tlog._native")


KERNELS = nativecore.kernels()


@pytest.fixture(params=KERNELS)
def kernel(request):
    with nativecore.use_kernel(request.param) as name:
        yield name


def test_libcrypto_kernel_is_always_available_and_the_fastest_is_chosen():
    assert "libcrypto" in KERNELS
    assert native.kernel() == KERNELS[0]
    if _hashing.BACKEND == "native":
        assert _hashing.kernel() == KERNELS[0]


def test_backends_can_be_switched_and_unknown_ones_are_refused():
    previous = _hashing.select("python")
    try:
        assert _hashing.kernel() == "hashlib" and _hashing.verify_inclusion_fast is None
        with pytest.raises(ValueError):
            _hashing.select("gpu")
    finally:
        _hashing.select(previous)


def test_unknown_kernel_is_refused():
    with pytest.raises(ValueError):
        native._set_kernel("md5")
    with pytest.raises(TypeError):
        native._set_kernel(1)


# Lengths around every SHA-256 padding boundary (55/56 bytes with the prefix byte, 64, 119/120...).
BOUNDARY_LENGTHS = [0, 1, 31, 32, 53, 54, 55, 56, 62, 63, 64, 65, 118, 119, 120, 127, 128, 200, 1000]


@pytest.mark.parametrize("length", BOUNDARY_LENGTHS)
def test_leaf_hash_at_padding_boundaries(kernel, length):
    items = [bytes((i * 7 + j) & 0xFF for j in range(length)) for i in range(5)]
    assert native.hash_leaves(items) == _hashing._py_hash_leaves(items)


settings_ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings_
@given(items=st.lists(st.binary(max_size=140), max_size=300))
def test_hash_leaves_root_and_root_of_entries_equal_pure(kernel, items):
    leaves = native.hash_leaves(items)
    assert leaves == _hashing._py_hash_leaves(items)
    if items:
        want = _hashing._py_root(leaves)
        assert native.root(leaves) == want
        assert native.root_of_entries(items) == want
        assert native.root_of_entries([bytearray(x) for x in items]) == want


@settings_
@given(hashes=st.lists(st.binary(min_size=32, max_size=32), max_size=65))
def test_hash_pairs_equals_pure(kernel, hashes):
    assert native.hash_pairs(hashes) == _hashing._py_hash_pairs(hashes)


@pytest.mark.parametrize("n", [4095, 4096, 4097, 8192 + 3, 3 * 4096 + 1, 20_000])
def test_chunked_reduction_equals_pure_around_chunk_boundaries(kernel, n):
    items = [i.to_bytes(4, "big") for i in range(n)]
    leaves = _hashing._py_hash_leaves(items)
    want = _hashing._py_root(leaves)
    assert native.root(leaves) == want
    assert native.root_of_entries(items) == want
    assert merkle.root_of_entries(items, workers=2) == want
    assert merkle.root_of_entries(items, workers=3) == want


def test_tree_levels_built_with_hash_pairs_answer_like_the_pure_definition(kernel):
    items = [i.to_bytes(4, "big") for i in range(1000)]
    leaves = _hashing._py_hash_leaves(items)
    t = Tree()
    for lo in range(0, 1000, 37):  # uneven appends, like blocks
        t.extend(leaves[lo : lo + 37])
    for size in (1, 2, 3, 37, 512, 999, 1000):
        assert t.root(size) == _hashing._py_root(leaves[:size])


@settings_
@given(items=st.lists(st.binary(max_size=8), min_size=1, max_size=300), data=st.data())
def test_fold_and_verify_inclusion_equal_pure(kernel, items, data):
    leaves = _hashing._py_hash_leaves(items)
    n = len(items)
    i = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(leaves, i)
    good = _hashing._py_root(leaves)
    assert native.fold_inclusion(leaves[i], i, n, proof) == _hashing._py_fold_inclusion(leaves[i], i, n, proof) == good
    assert native.verify_inclusion(leaves[i], i, n, proof, good) is None
    assert native.verify_inclusion(leaves[i], i, n, proof, bytes(32)) == good
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[k] = bytes(b ^ 1 for b in bad[k])
        got = native.verify_inclusion(leaves[i], i, n, bad, good)
        assert got == _hashing._py_fold_inclusion(leaves[i], i, n, bad) != good


def _tree_and_claims(n: int, picks: list[int]):
    leaves = _hashing._py_hash_leaves([i.to_bytes(4, "big") for i in range(n)])
    t = Tree(leaves)
    return t.root(), [(leaves[i], i, t.inclusion_proof(i)) for i in picks]


MUTATIONS = ["flip", "drop", "extra", "index+1", "index=size", "short-leaf", "swap-leaf", "proof-hash-31", "reuse-other-proof"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 600),
    data=st.data(),
)
def test_batch_refuses_exactly_what_one_by_one_refuses(kernel, n, data):
    picks = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=40))
    root, claims = _tree_and_claims(n, picks)
    claims = [(leaf, i, list(p)) for leaf, i, p in claims]
    for _ in range(data.draw(st.integers(0, 3))):
        pos = data.draw(st.integers(0, len(claims) - 1))
        leaf, i, proof = claims[pos]
        how = data.draw(st.sampled_from(MUTATIONS))
        if how == "flip" and proof:
            k = data.draw(st.integers(0, len(proof) - 1))
            proof = proof[:k] + [bytes([proof[k][0] ^ 0x80]) + proof[k][1:]] + proof[k + 1 :]
        elif how == "drop" and proof:
            proof = proof[:-1]
        elif how == "extra":
            proof = proof + [bytes(32)]
        elif how == "index+1":
            i = i + 1
        elif how == "index=size":
            i = n
        elif how == "short-leaf":
            leaf = leaf[:31]
        elif how == "swap-leaf":
            leaf = claims[(pos + 1) % len(claims)][0]
        elif how == "proof-hash-31" and proof:
            proof = [proof[0][:31]] + proof[1:]
        elif how == "reuse-other-proof":
            proof = list(claims[(pos + 1) % len(claims)][2])
        claims[pos] = (leaf, i, proof)
    if data.draw(st.booleans()):
        claims = list(reversed(claims))

    want = _hashing._py_verify_inclusion_batch(claims, n, root)
    assert native.verify_inclusion_batch(claims, n, root) == want
    if want is None:
        merkle.verify_inclusion_batch(claims, n, root)
    else:
        with pytest.raises((MalformedError, RootMismatchError)) as e:
            merkle.verify_inclusion_batch(claims, n, root)
        assert f"batch item {want}" in e.value.__notes__
        # the very error the one-by-one check gives for that item
        leaf, i, proof = claims[want]
        with pytest.raises(type(e.value)):
            merkle.verify_inclusion(leaf, i, n, proof, root)


def test_batch_of_a_thousand_proofs_in_a_large_tree(kernel):
    n = 100_003
    picks = list(range(0, n, 97))
    root, claims = _tree_and_claims(n, picks)
    assert native.verify_inclusion_batch(claims, n, root) is None
    merkle.verify_inclusion_batch(claims, n, root)
    tampered = list(claims)
    leaf, i, proof = tampered[500]
    tampered[500] = (leaf, i, proof[:-1] + [bytes(32)])
    assert native.verify_inclusion_batch(tampered, n, root) == 500
    assert native.verify_inclusion_batch(claims, n, bytes(32)) == 0


def test_batch_with_duplicates_and_an_empty_list(kernel):
    root, claims = _tree_and_claims(10, [3, 3, 3, 9, 0, 0])
    assert native.verify_inclusion_batch(claims, 10, root) is None
    assert native.verify_inclusion_batch([], 10, root) is None
    merkle.verify_inclusion_batch([], 10, root)


def test_a_wrong_proof_that_reaches_the_previous_path_with_other_siblings_is_refused(kernel):
    # Item B's fold meets item A's path at a node with the same hash, but B claims other
    # siblings above it: the batch must not take the shortcut.
    root, claims = _tree_and_claims(16, [4, 5])
    (la, ia, pa), (lb, ib, pb) = claims
    forged = (lb, ib, pb[:1] + [bytes(32)] + pb[2:])
    assert native.verify_inclusion_batch([claims[0], forged], 16, root) == 1
    assert native.verify_inclusion_batch([forged, claims[0]], 16, root) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda r: native.verify_inclusion_batch([(b"x" * 32, 0, [])], 1, r[:31]),
        lambda r: native.verify_inclusion_batch([(b"x" * 32, True, [])], 1, r),
        lambda r: native.verify_inclusion_batch([(bytearray(32), 0, [])], 1, r),
        lambda r: native.verify_inclusion_batch([(b"x" * 32, 0)], 1, r),
        lambda r: native.verify_inclusion_batch([None], 1, r),
        lambda r: native.verify_inclusion_batch({(b"x" * 32, 0, ())}, 1, r),
        lambda r: native.verify_inclusion_batch([(b"x" * 32, 0, [])], -1, r),
        lambda r: native.verify_inclusion_batch([(b"x" * 32, 0, [])], 1 << 64, r),
        lambda r: native.verify_inclusion_batch([(b"x" * 32, 0, [])], 1),
        lambda r: native.hash_pairs([b"x" * 31, b"y" * 32]),
        lambda r: native.hash_pairs(None),
        lambda r: native.root_of_entries([]),
        lambda r: native.root_of_entries([b"a", 5]),
        lambda r: native.verify_inclusion(b"x" * 32, 1 << 64, 1 << 64, [], r),
        lambda r: native.verify_inclusion(b"x" * 32, -1, 2, [r], r),
    ],
)
def test_bad_arguments_raise_type_or_value_error_not_a_crash(call):
    with pytest.raises((TypeError, ValueError, OverflowError)):
        call(bytes(32))


def test_batch_aliasing_numbers_modulo_2_64_are_refused():
    root, claims = _tree_and_claims(8, [5])
    leaf, i, proof = claims[0]
    assert native.verify_inclusion_batch([(leaf, i + (1 << 64), proof)], 8, root) == 0
    assert native.verify_inclusion_batch([(leaf, i - (1 << 64), proof)], 8, root) == 0
    with pytest.raises(MalformedError):
        merkle.verify_inclusion_batch([(leaf, i + (1 << 64), proof)], 8, root)


def test_merkle_batch_accepts_other_sequences_through_the_checked_path():
    root, claims = _tree_and_claims(50, [1, 2, 49])
    merkle.verify_inclusion_batch(((bytearray(l), i, tuple(p)) for l, i, p in claims), 50, root)
    with pytest.raises(TypeError):
        merkle.verify_inclusion_batch([(claims[0][0], 1)], 50, root)
    with pytest.raises(MalformedError):
        merkle.verify_inclusion_batch(claims, 50, root[:5])
