"""The Merkle core against a naive recursive RFC 9162 reference, and mutation probes that must all fail."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import MalformedError, RootMismatchError
from ledger.tlog import merkle

# --- naive reference, straight from RFC 9162 §2.1 ------------------------------------


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return [] if m in (0, len(d)) else ref_subproof(m, d, True)


data = st.lists(st.binary(max_size=8), min_size=0, max_size=70)


@settings(max_examples=150, deadline=None)
@given(data)
def test_root_equals_reference(items):
    assert merkle.root(merkle.hash_leaves(items)) == ref_mth(items)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_inclusion_proofs_equal_reference_and_verify(items, draw):
    leaves = merkle.hash_leaves(items)
    m = draw.draw(st.integers(0, len(items) - 1))
    proof = merkle.inclusion_proof(leaves, m)
    assert proof == ref_path(m, items)
    merkle.verify_inclusion(leaves[m], m, len(items), proof, ref_mth(items))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_consistency_proofs_equal_reference_and_verify(items, draw):
    leaves = merkle.hash_leaves(items)
    m = draw.draw(st.integers(0, len(items)))
    proof = merkle.consistency_proof(leaves, m)
    assert proof == ref_proof(m, items)
    merkle.verify_consistency(m, len(items), ref_mth(items[:m]), ref_mth(items), proof)


def test_empty_tree_root_is_sha256_of_nothing():
    assert merkle.root([]) == hashlib.sha256(b"").digest()
    assert merkle.leaf_hash(b"") != merkle.root([])  # domain separation


# --- mutation probes ------------------------------------------------------------------

ITEMS = [f"entry-{i}".encode() for i in range(23)]
LEAVES = merkle.hash_leaves(ITEMS)
ROOT = merkle.root(LEAVES)
IDX = 13
PROOF = merkle.inclusion_proof(LEAVES, IDX)
OLD = 9
OLD_ROOT = merkle.root(LEAVES[:OLD])
CPROOF = merkle.consistency_proof(LEAVES, OLD)


def flip(h: bytes, i: int) -> bytes:
    b = bytearray(h)
    b[i] ^= 0x01
    return bytes(b)


@pytest.mark.parametrize("pos", range(len(PROOF)))
@pytest.mark.parametrize("byte", [0, 31])
def test_inclusion_rejects_a_flipped_bit_in_any_proof_hash(pos, byte):
    bad = list(PROOF)
    bad[pos] = flip(bad[pos], byte)
    with pytest.raises(RootMismatchError):
        merkle.verify_inclusion(LEAVES[IDX], IDX, len(LEAVES), bad, ROOT)


@pytest.mark.parametrize("byte", [0, 31])
def test_inclusion_rejects_a_flipped_leaf_or_root(byte):
    with pytest.raises(RootMismatchError):
        merkle.verify_inclusion(flip(LEAVES[IDX], byte), IDX, len(LEAVES), PROOF, ROOT)
    with pytest.raises(RootMismatchError) as e:
        merkle.verify_inclusion(LEAVES[IDX], IDX, len(LEAVES), PROOF, flip(ROOT, byte))
    assert e.value.expected != e.value.calculated  # both roots are carried as evidence


@pytest.mark.parametrize(
    "proof",
    [PROOF[:-1], PROOF + [PROOF[0]], [PROOF[0]] + PROOF, []],
    ids=["truncated", "extra hash", "prepended hash", "empty"],
)
def test_inclusion_rejects_wrong_proof_length(proof):
    with pytest.raises(MalformedError, match="want"):
        merkle.verify_inclusion(LEAVES[IDX], IDX, len(LEAVES), proof, ROOT)


def test_inclusion_rejects_reordered_proof():
    with pytest.raises(RootMismatchError):
        merkle.verify_inclusion(LEAVES[IDX], IDX, len(LEAVES), list(reversed(PROOF)), ROOT)


EXTENDED = LEAVES + merkle.hash_leaves([b"entry-23"])


def root_of(size: int) -> bytes:
    # A checkpoint signs size and root together, so a shifted size comes with its own root.
    return merkle.root(EXTENDED[:size])


@pytest.mark.parametrize("index, size", [(IDX + 1, 23), (IDX - 1, 23), (IDX, 22), (IDX, 24), (23, 23), (24, 23)])
def test_inclusion_rejects_shifted_index_or_size(index, size):
    with pytest.raises((MalformedError, RootMismatchError)):
        merkle.verify_inclusion(LEAVES[IDX], index, size, PROOF, root_of(min(size, 24)))


@pytest.mark.parametrize("index, size", [(-1, 23), (0, -1), (0, 1 << 64), (True, 23)])
def test_inclusion_rejects_out_of_domain_numbers(index, size):
    with pytest.raises(MalformedError):
        merkle.verify_inclusion(LEAVES[IDX], index, size, PROOF, ROOT)


@pytest.mark.parametrize("bad", [LEAVES[IDX][:31], LEAVES[IDX] + b"\x00", "00" * 32, None])
def test_inclusion_rejects_hashes_that_are_not_32_bytes(bad):
    with pytest.raises(MalformedError):
        merkle.verify_inclusion(bad, IDX, len(LEAVES), PROOF, ROOT)
    with pytest.raises(MalformedError):
        merkle.verify_inclusion(LEAVES[IDX], IDX, len(LEAVES), [bad] + PROOF[1:], ROOT)


def test_inclusion_rejects_a_proof_that_is_not_a_list():
    with pytest.raises(MalformedError):
        merkle.verify_inclusion(LEAVES[IDX], IDX, len(LEAVES), b"".join(PROOF), ROOT)


@pytest.mark.parametrize("pos", range(len(CPROOF)))
def test_consistency_rejects_a_flipped_bit_in_any_proof_hash(pos):
    bad = list(CPROOF)
    bad[pos] = flip(bad[pos], 7)
    with pytest.raises(RootMismatchError):
        merkle.verify_consistency(OLD, len(LEAVES), OLD_ROOT, ROOT, bad)


def test_consistency_rejects_swapped_roots_and_sizes():
    with pytest.raises((RootMismatchError, MalformedError)):
        merkle.verify_consistency(OLD, len(LEAVES), ROOT, OLD_ROOT, CPROOF)
    with pytest.raises(MalformedError):
        merkle.verify_consistency(len(LEAVES), OLD, ROOT, OLD_ROOT, CPROOF)


@pytest.mark.parametrize("old, new", [(OLD + 1, 23), (OLD - 1, 23), (OLD, 22), (OLD, 24)])
def test_consistency_rejects_shifted_sizes(old, new):
    with pytest.raises((RootMismatchError, MalformedError)):
        merkle.verify_consistency(old, new, root_of(old), root_of(new), CPROOF)


@pytest.mark.parametrize("proof", [CPROOF[:-1], CPROOF + [CPROOF[0]], [CPROOF[0]] + CPROOF], ids=["truncated", "extra", "prepended"])
def test_consistency_rejects_wrong_proof_length(proof):
    with pytest.raises(MalformedError, match="want"):
        merkle.verify_consistency(OLD, len(LEAVES), OLD_ROOT, ROOT, proof)


def test_equal_sizes_need_equal_roots_and_no_proof():
    merkle.verify_consistency(23, 23, ROOT, ROOT, [])
    with pytest.raises(RootMismatchError):
        merkle.verify_consistency(23, 23, ROOT, OLD_ROOT, [])
    with pytest.raises(MalformedError):
        merkle.verify_consistency(23, 23, ROOT, ROOT, [ROOT])
