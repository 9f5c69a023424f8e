"""Mutation probes: every tampering of a valid ledger.tlog.merkle proof claim is refused, with the exact error.

Each probe starts from a claim that verifies (checked by the ``..._is_accepted`` tests)
and changes one thing. Where the change breaks a precondition (hash length or type,
number range, ``index < size``, ``old <= new``, proof length for the sizes) the error is
:class:`MalformedError`; where the claim stays well formed but no longer folds to the
root it names, it is :class:`RootMismatchError`. When a shifted number happens to keep
the proof length, which error it is depends on the RFC 9162 proof shape, computed here
from the reference recursion in test_merkle_properties.

Inclusion probes run on both hashing backends (the native fast path and pure Python).
"""

from __future__ import annotations

import pytest

from ledger.errors import MalformedError, RootMismatchError
from ledger.tlog import merkle
from tests.tlog.test_merkle_properties import BACKENDS, hashing_backend, ref_path_ranges, ref_subproof_ranges

U64 = 1 << 64
ENTRIES = [b"credential %d" % i for i in range(41)]
LEAVES = merkle.hash_leaves(ENTRIES)


def root_of(size: int) -> bytes:
    # A checkpoint signs size and root together: a claim about another size comes with that size's root.
    return merkle.root(LEAVES[:size])


def flip(h: bytes, byte: int, bit: int) -> bytes:
    b = bytearray(h)
    b[byte] ^= 1 << bit
    return bytes(b)


# Bit-position classes: first and last byte of a hash, lowest and highest bit of each.
BIT_CLASSES = [(0, 0), (0, 7), (31, 0), (31, 7)]


def _bit_id(bc: tuple[int, int]) -> str:
    return f"byte{bc[0]}-bit{bc[1]}"


@pytest.fixture(params=BACKENDS)
def backend(request):
    with hashing_backend(request.param):
        yield request.param


# === inclusion ===================================================================================

# (index, size): single leaf, perfect trees, right borders, interior leaves of ragged trees.
INCLUSION_CASES = [(0, 1), (1, 2), (5, 8), (6, 7), (0, 23), (13, 23), (22, 23), (16, 40), (39, 40)]


def _inc_id(case: tuple[int, int]) -> str:
    return f"leaf{case[0]}-of-{case[1]}"


def inclusion_claim(case: tuple[int, int]) -> tuple[bytes, int, int, list[bytes], bytes]:
    index, size = case
    return LEAVES[index], index, size, merkle.inclusion_proof(LEAVES[:size], index), root_of(size)


def inclusion_shape_error(index: int, size: int, proof: list[bytes]) -> type[Exception]:
    """What a claim with these numbers and well-formed hashes that does not verify must raise."""
    if not 0 <= index < size < U64 or len(proof) != len(ref_path_ranges(index, 0, size)):
        return MalformedError
    return RootMismatchError


def assert_root_mismatch(call, *, expected_root: bytes) -> None:
    with pytest.raises(RootMismatchError) as caught:
        call()
    # The error carries both roots as evidence.
    assert caught.value.expected == expected_root
    assert caught.value.calculated != expected_root and len(caught.value.calculated) == 32


PROOF_POSITIONS = [
    (case, pos) for case in INCLUSION_CASES for pos in range(len(inclusion_claim(case)[3]))
]


@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_valid_inclusion_claim_is_accepted(backend, case):
    leaf, index, size, proof, root = inclusion_claim(case)
    merkle.verify_inclusion(leaf, index, size, proof, root)
    merkle.verify_inclusion(leaf, index, size, tuple(proof), root)
    merkle.verify_inclusion(bytearray(leaf), index, size, [bytearray(h) for h in proof], bytearray(root))


@pytest.mark.parametrize("bit_class", BIT_CLASSES, ids=_bit_id)
@pytest.mark.parametrize("case, pos", PROOF_POSITIONS, ids=[f"{_inc_id(c)}-proof{p}" for c, p in PROOF_POSITIONS])
def test_flipped_bit_in_any_inclusion_proof_hash_is_a_root_mismatch(backend, case, pos, bit_class):
    leaf, index, size, proof, root = inclusion_claim(case)
    proof[pos] = flip(proof[pos], *bit_class)
    assert_root_mismatch(lambda: merkle.verify_inclusion(leaf, index, size, proof, root), expected_root=root)


@pytest.mark.parametrize("bit_class", BIT_CLASSES, ids=_bit_id)
@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_flipped_bit_in_leaf_hash_is_a_root_mismatch(backend, case, bit_class):
    leaf, index, size, proof, root = inclusion_claim(case)
    bad = flip(leaf, *bit_class)
    assert_root_mismatch(lambda: merkle.verify_inclusion(bad, index, size, proof, root), expected_root=root)


@pytest.mark.parametrize("bit_class", BIT_CLASSES, ids=_bit_id)
@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_flipped_bit_in_inclusion_root_is_a_root_mismatch(backend, case, bit_class):
    leaf, index, size, proof, root = inclusion_claim(case)
    bad = flip(root, *bit_class)
    assert_root_mismatch(lambda: merkle.verify_inclusion(leaf, index, size, proof, bad), expected_root=bad)


WITH_PROOF = [c for c in INCLUSION_CASES if inclusion_claim(c)[3]]


@pytest.mark.parametrize("cut", ["drop-last", "drop-first", "keep-none"])
@pytest.mark.parametrize("case", WITH_PROOF, ids=_inc_id)
def test_truncated_inclusion_proof_is_malformed(backend, case, cut):
    leaf, index, size, proof, root = inclusion_claim(case)
    bad = {"drop-last": proof[:-1], "drop-first": proof[1:], "keep-none": []}[cut]
    with pytest.raises(MalformedError, match="proof has"):
        merkle.verify_inclusion(leaf, index, size, bad, root)


EXTRA_HASHES = ["copy-of-first", "zeros", "root", "leaf"]


def _extra(name: str, leaf: bytes, proof: list[bytes], root: bytes) -> bytes:
    return {"copy-of-first": (proof or [leaf])[0], "zeros": bytes(32), "root": root, "leaf": leaf}[name]


@pytest.mark.parametrize("extra", EXTRA_HASHES)
@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_inclusion_proof_with_an_appended_hash_is_malformed(backend, case, extra):
    leaf, index, size, proof, root = inclusion_claim(case)
    with pytest.raises(MalformedError, match="proof has"):
        merkle.verify_inclusion(leaf, index, size, proof + [_extra(extra, leaf, proof, root)], root)


@pytest.mark.parametrize("extra", EXTRA_HASHES)
@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_inclusion_proof_with_a_prepended_hash_is_malformed(backend, case, extra):
    leaf, index, size, proof, root = inclusion_claim(case)
    with pytest.raises(MalformedError, match="proof has"):
        merkle.verify_inclusion(leaf, index, size, [_extra(extra, leaf, proof, root)] + proof, root)


def _reorderings(proof: list[bytes]) -> list[list[bytes]]:
    out = []
    for i in range(len(proof) - 1):
        p = list(proof)
        p[i], p[i + 1] = p[i + 1], p[i]
        out.append(p)
    out.append(proof[::-1])
    out.append(proof[1:] + proof[:1])
    return [p for p in out if p != proof]


REORDERED = [(c, i) for c in INCLUSION_CASES for i in range(len(_reorderings(inclusion_claim(c)[3])))]


@pytest.mark.parametrize("case, which", REORDERED, ids=[f"{_inc_id(c)}-order{i}" for c, i in REORDERED])
def test_reordered_inclusion_proof_is_a_root_mismatch(backend, case, which):
    leaf, index, size, proof, root = inclusion_claim(case)
    bad = _reorderings(proof)[which]
    assert_root_mismatch(lambda: merkle.verify_inclusion(leaf, index, size, bad, root), expected_root=root)


@pytest.mark.parametrize("delta", [-1, +1])
@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_inclusion_index_shifted_by_one_is_refused(backend, case, delta):
    leaf, index, size, proof, root = inclusion_claim(case)
    want = inclusion_shape_error(index + delta, size, proof)
    with pytest.raises(want):
        merkle.verify_inclusion(leaf, index + delta, size, proof, root)


@pytest.mark.parametrize("delta", [-1, +1])
@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_inclusion_tree_size_shifted_by_one_is_refused_against_that_sizes_root(backend, case, delta):
    leaf, index, size, proof, _ = inclusion_claim(case)
    other_root = root_of(size + delta)
    want = inclusion_shape_error(index, size + delta, proof)
    with pytest.raises(want):
        merkle.verify_inclusion(leaf, index, size + delta, proof, other_root)


def test_inclusion_proof_alone_does_not_bind_the_tree_size(backend):
    """Why a verifier must take size and root from one signed checkpoint.

    Leaf 0's path in a 3-leaf tree has the same shape (two right siblings) as in a
    4-leaf tree, so RFC 9162 verification with the 3-leaf root accepts the claim
    "size 4": the proof cannot tell. Only pairing the size with its own root
    (as the test above does) makes a shifted size fail.
    """
    leaf, index, size, proof, root = inclusion_claim((0, 3))
    merkle.verify_inclusion(leaf, index, 4, proof, root)
    with pytest.raises(RootMismatchError):
        merkle.verify_inclusion(leaf, index, 4, proof, root_of(4))


@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_inclusion_index_equal_to_size_is_malformed(backend, case):
    leaf, _, size, proof, root = inclusion_claim(case)
    with pytest.raises(MalformedError, match="beyond tree size"):
        merkle.verify_inclusion(leaf, size, size, proof, root)
    # Even with the shape a leaf at that position would have in a larger tree.
    longer = merkle.inclusion_proof(LEAVES[: size + 1], size)
    with pytest.raises(MalformedError, match="beyond tree size"):
        merkle.verify_inclusion(LEAVES[size], size, size, longer, root)


@pytest.mark.parametrize("beyond", [lambda s: s + 1, lambda s: 2 * s, lambda s: 1 << 63, lambda s: U64 - 1], ids=["size+1", "2size", "2^63", "2^64-1"])
@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_inclusion_index_beyond_size_is_malformed(backend, case, beyond):
    leaf, _, size, proof, root = inclusion_claim(case)
    with pytest.raises(MalformedError, match="beyond tree size"):
        merkle.verify_inclusion(leaf, beyond(size), size, proof, root)


def test_inclusion_in_the_empty_tree_is_malformed(backend):
    with pytest.raises(MalformedError):
        merkle.verify_inclusion(LEAVES[0], 0, 0, [], merkle.EMPTY_ROOT)


@pytest.mark.parametrize(
    "numbers",
    [lambda i, s: (-1, s), lambda i, s: (i, -1), lambda i, s: (-1, -1), lambda i, s: (i - s, s), lambda i, s: (-(1 << 63), s)],
    ids=["index=-1", "size=-1", "both=-1", "index-size", "index=-2^63"],
)
@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_inclusion_negative_index_or_size_is_malformed(backend, case, numbers):
    leaf, index, size, proof, root = inclusion_claim(case)
    bad_index, bad_size = numbers(index, size)
    with pytest.raises(MalformedError):
        merkle.verify_inclusion(leaf, bad_index, bad_size, proof, root)


@pytest.mark.parametrize(
    "numbers",
    [lambda i, s: (i, U64), lambda i, s: (U64, U64), lambda i, s: (i, 1 << 65), lambda i, s: (i, 1 << 200)],
    ids=["size=2^64", "both=2^64", "size=2^65", "size=2^200"],
)
@pytest.mark.parametrize("case", INCLUSION_CASES, ids=_inc_id)
def test_inclusion_numbers_at_or_beyond_2_64_are_malformed(backend, case, numbers):
    # Numbers that are also congruent to a valid claim modulo 2^64 are the next test.
    leaf, index, size, proof, root = inclusion_claim(case)
    bad_index, bad_size = numbers(index, size)
    with pytest.raises(MalformedError, match="outside 0..2"):
        merkle.verify_inclusion(leaf, bad_index, bad_size, proof, root)


@pytest.mark.parametrize(
    "numbers",
    [
        lambda i, s: (i, s + U64),
        lambda i, s: (i + U64, s + U64),
        lambda i, s: (i + U64, s),
        lambda i, s: (i - U64, s),
        lambda i, s: (i - U64, s - U64),
        lambda i, s: (i, s + (1 << 65)),
    ],
    ids=["size+2^64", "both+2^64", "index+2^64", "index-2^64", "both-2^64", "size+2^65"],
)
@pytest.mark.parametrize("case", [(5, 8), (13, 23)], ids=_inc_id)
def test_inclusion_numbers_that_alias_a_valid_claim_modulo_2_64_are_malformed(backend, case, numbers):
    # The native fast path once parsed index and size modulo 2^64 and accepted these.
    leaf, index, size, proof, root = inclusion_claim(case)
    bad_index, bad_size = numbers(index, size)
    with pytest.raises(MalformedError, match="outside 0..2"):  # the checked path (tuple proof) is right
        merkle.verify_inclusion(leaf, bad_index, bad_size, tuple(proof), root)
    with pytest.raises(MalformedError, match="outside 0..2"):
        merkle.verify_inclusion(leaf, bad_index, bad_size, proof, root)


@pytest.mark.parametrize(
    "numbers",
    [
        lambda i, s: (True, s),
        lambda i, s: (i, True),
        lambda i, s: (False, s),
        lambda i, s: (float(i), s),
        lambda i, s: (i, float(s)),
        lambda i, s: (str(i), s),
        lambda i, s: (None, s),
        lambda i, s: (i, None),
    ],
    ids=["index=True", "size=True", "index=False", "index-float", "size-float", "index-str", "index-None", "size-None"],
)
@pytest.mark.parametrize("case", [(0, 1), (1, 2), (13, 23)], ids=_inc_id)
def test_inclusion_index_or_size_that_is_not_an_int_is_malformed(backend, case, numbers):
    leaf, index, size, proof, root = inclusion_claim(case)
    bad_index, bad_size = numbers(index, size)
    with pytest.raises(MalformedError, match="must be an integer"):
        merkle.verify_inclusion(leaf, bad_index, bad_size, proof, root)


NOT_BYTES = {
    "str-hex": lambda h: h.hex(),
    "str-latin1": lambda h: h.decode("latin-1"),
    "None": lambda h: None,
    "int": lambda h: int.from_bytes(h, "big"),
    "memoryview": memoryview,
    "list-of-ints": list,
}
WRONG_LENGTH = {"0": lambda h: b"", "31": lambda h: h[:31], "33": lambda h: h + b"\x00", "64": lambda h: h + h}


def _replace_in_inclusion(claim, where: str, make):
    leaf, index, size, proof, root = claim
    if where == "leaf":
        leaf = make(leaf)
    elif where == "root":
        root = make(root)
    elif where == "first-proof-hash":
        proof = [make(proof[0])] + proof[1:]
    else:
        proof = proof[:-1] + [make(proof[-1])]
    return leaf, index, size, proof, root


HASH_PLACES = ["leaf", "root", "first-proof-hash", "last-proof-hash"]


@pytest.mark.parametrize("kind", list(NOT_BYTES))
@pytest.mark.parametrize("where", HASH_PLACES)
@pytest.mark.parametrize("case", [(5, 8), (22, 23)], ids=_inc_id)
def test_inclusion_hash_that_is_not_bytes_is_malformed(backend, case, where, kind):
    claim = _replace_in_inclusion(inclusion_claim(case), where, NOT_BYTES[kind])
    with pytest.raises(MalformedError, match="must be bytes"):
        merkle.verify_inclusion(*claim)


@pytest.mark.parametrize("length", list(WRONG_LENGTH))
@pytest.mark.parametrize("where", HASH_PLACES)
@pytest.mark.parametrize("case", [(5, 8), (22, 23)], ids=_inc_id)
def test_inclusion_hash_that_is_not_32_bytes_is_malformed(backend, case, where, length):
    claim = _replace_in_inclusion(inclusion_claim(case), where, WRONG_LENGTH[length])
    with pytest.raises(MalformedError, match="want 32"):
        merkle.verify_inclusion(*claim)


NOT_A_LIST = {
    "None": lambda p: None,
    "concatenated-bytes": lambda p: b"".join(p),
    "single-hash": lambda p: p[0] if p else bytes(32),
    "str": lambda p: "".join(h.hex() for h in p),
    "dict": lambda p: dict(enumerate(p)),
    "set": set,
    "iterator": iter,
    "generator": lambda p: (h for h in p),
}


@pytest.mark.parametrize("kind", list(NOT_A_LIST))
@pytest.mark.parametrize("case", [(0, 1), (1, 2), (13, 23)], ids=_inc_id)
def test_inclusion_proof_that_is_not_a_list_is_malformed(backend, case, kind):
    leaf, index, size, proof, root = inclusion_claim(case)
    with pytest.raises(MalformedError, match="proof must be a list"):
        merkle.verify_inclusion(leaf, index, size, NOT_A_LIST[kind](proof), root)


@pytest.mark.parametrize("index, size", [(0, U64 - 1), (U64 - 2, U64 - 1), (1 << 63, U64 - 1), (12345, 1 << 63)])
def test_inclusion_at_the_largest_sizes_is_checked_not_crashed(backend, index, size):
    """Near 2^64 the proof is up to 64 hashes long; a forged one is a root mismatch, a wrong length malformed."""
    n = len(ref_path_ranges(index, 0, size))
    forged = [merkle.leaf_hash(b"%d" % i) for i in range(n)]
    assert_root_mismatch(lambda: merkle.verify_inclusion(LEAVES[0], index, size, forged, root_of(8)), expected_root=root_of(8))
    for bad in (forged[:-1], forged + forged[:1]):
        with pytest.raises(MalformedError, match="proof has"):
            merkle.verify_inclusion(LEAVES[0], index, size, bad, root_of(8))


# === consistency =================================================================================

# (old, new): one leaf to two, perfect old trees (the proof omits the old root), ragged both sides.
CONSISTENCY_CASES = [(1, 2), (1, 8), (2, 3), (3, 7), (4, 8), (6, 8), (7, 8), (9, 23), (16, 40), (39, 40)]


def _con_id(case: tuple[int, int]) -> str:
    return f"{case[0]}-to-{case[1]}"


def consistency_claim(case: tuple[int, int]) -> tuple[int, int, bytes, bytes, list[bytes]]:
    old, new = case
    return old, new, root_of(old), root_of(new), merkle.consistency_proof(LEAVES[:new], old)


def consistency_shape_error(old: int, new: int, proof: list[bytes]) -> type[Exception]:
    """What a claim with these sizes and well-formed hashes that does not verify must raise."""
    if not 0 <= old <= new < U64:
        return MalformedError
    want_len = 0 if old in (0, new) else len(ref_subproof_ranges(old, 0, new, True))
    return MalformedError if len(proof) != want_len else RootMismatchError


CPROOF_POSITIONS = [(c, p) for c in CONSISTENCY_CASES for p in range(len(consistency_claim(c)[4]))]


@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_valid_consistency_claim_is_accepted(case):
    old, new, old_root, new_root, proof = consistency_claim(case)
    assert proof  # every case has something to tamper with
    merkle.verify_consistency(old, new, old_root, new_root, proof)
    merkle.verify_consistency(old, new, old_root, new_root, tuple(proof))
    merkle.verify_consistency(old, new, bytearray(old_root), bytearray(new_root), [bytearray(h) for h in proof])


@pytest.mark.parametrize("bit_class", BIT_CLASSES, ids=_bit_id)
@pytest.mark.parametrize("case, pos", CPROOF_POSITIONS, ids=[f"{_con_id(c)}-proof{p}" for c, p in CPROOF_POSITIONS])
def test_flipped_bit_in_any_consistency_proof_hash_is_a_root_mismatch(case, pos, bit_class):
    old, new, old_root, new_root, proof = consistency_claim(case)
    proof[pos] = flip(proof[pos], *bit_class)
    with pytest.raises(RootMismatchError):
        merkle.verify_consistency(old, new, old_root, new_root, proof)


@pytest.mark.parametrize("bit_class", BIT_CLASSES, ids=_bit_id)
@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_flipped_bit_in_old_root_is_a_root_mismatch(case, bit_class):
    old, new, old_root, new_root, proof = consistency_claim(case)
    bad = flip(old_root, *bit_class)
    with pytest.raises(RootMismatchError) as caught:
        merkle.verify_consistency(old, new, bad, new_root, proof)
    # A perfect old tree is a node of the new one and its root seeds the fold (RFC 9162 §2.1.4.2
    # step 2), so a wrong old root shows up as the new root not being reached.
    perfect = old & (old - 1) == 0
    assert caught.value.expected == (new_root if perfect else bad)


@pytest.mark.parametrize("bit_class", BIT_CLASSES, ids=_bit_id)
@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_flipped_bit_in_new_root_is_a_root_mismatch(case, bit_class):
    old, new, old_root, new_root, proof = consistency_claim(case)
    bad = flip(new_root, *bit_class)
    with pytest.raises(RootMismatchError) as caught:
        merkle.verify_consistency(old, new, old_root, bad, proof)
    assert caught.value.expected == bad and caught.value.calculated == new_root


@pytest.mark.parametrize("cut", ["drop-last", "drop-first", "keep-none"])
@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_truncated_consistency_proof_is_malformed(case, cut):
    old, new, old_root, new_root, proof = consistency_claim(case)
    bad = {"drop-last": proof[:-1], "drop-first": proof[1:], "keep-none": []}[cut]
    with pytest.raises(MalformedError, match="proof has"):
        merkle.verify_consistency(old, new, old_root, new_root, bad)


@pytest.mark.parametrize("extra", ["copy-of-first", "zeros", "old-root", "new-root"])
@pytest.mark.parametrize("at", ["appended", "prepended"])
@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_consistency_proof_with_an_extra_hash_is_malformed(case, at, extra):
    old, new, old_root, new_root, proof = consistency_claim(case)
    h = {"copy-of-first": proof[0], "zeros": bytes(32), "old-root": old_root, "new-root": new_root}[extra]
    bad = proof + [h] if at == "appended" else [h] + proof
    with pytest.raises(MalformedError, match="proof has"):
        merkle.verify_consistency(old, new, old_root, new_root, bad)


CREORDERED = [(c, i) for c in CONSISTENCY_CASES for i in range(len(_reorderings(consistency_claim(c)[4])))]


@pytest.mark.parametrize("case, which", CREORDERED, ids=[f"{_con_id(c)}-order{i}" for c, i in CREORDERED])
def test_reordered_consistency_proof_is_a_root_mismatch(case, which):
    old, new, old_root, new_root, proof = consistency_claim(case)
    with pytest.raises(RootMismatchError):
        merkle.verify_consistency(old, new, old_root, new_root, _reorderings(proof)[which])


@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_swapped_old_and_new_roots_are_a_root_mismatch(case):
    old, new, old_root, new_root, proof = consistency_claim(case)
    assert old_root != new_root
    with pytest.raises(RootMismatchError):
        merkle.verify_consistency(old, new, new_root, old_root, proof)


@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_swapped_old_and_new_sizes_are_malformed(case):
    old, new, old_root, new_root, proof = consistency_claim(case)
    with pytest.raises(MalformedError, match="larger than new size"):
        merkle.verify_consistency(new, old, new_root, old_root, proof)
    with pytest.raises(MalformedError, match="larger than new size"):
        merkle.verify_consistency(new, old, old_root, new_root, proof)


@pytest.mark.parametrize("delta", [-1, +1])
@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_old_size_shifted_by_one_is_refused(case, delta):
    old, new, old_root, new_root, proof = consistency_claim(case)
    want = consistency_shape_error(old + delta, new, proof)
    with pytest.raises(want):  # against the original old root
        merkle.verify_consistency(old + delta, new, old_root, new_root, proof)
    with pytest.raises(want):  # against the shifted size's own root
        merkle.verify_consistency(old + delta, new, root_of(old + delta), new_root, proof)


@pytest.mark.parametrize("delta", [-1, +1])
@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_new_size_shifted_by_one_is_refused_against_that_sizes_root(case, delta):
    old, new, old_root, _, proof = consistency_claim(case)
    want = consistency_shape_error(old, new + delta, proof)
    with pytest.raises(want):
        merkle.verify_consistency(old, new + delta, old_root, root_of(new + delta), proof)


@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_old_size_equal_to_new_size_with_a_proof_is_malformed(case):
    _, new, _, new_root, proof = consistency_claim(case)
    with pytest.raises(MalformedError, match="proof has"):
        merkle.verify_consistency(new, new, new_root, new_root, proof)


@pytest.mark.parametrize("case", CONSISTENCY_CASES, ids=_con_id)
def test_equal_sizes_with_different_roots_are_a_root_mismatch(case):
    old, new, old_root, new_root, _ = consistency_claim(case)
    merkle.verify_consistency(new, new, new_root, new_root, [])
    with pytest.raises(RootMismatchError):
        merkle.verify_consistency(new, new, old_root, new_root, [])
    with pytest.raises(RootMismatchError):
        merkle.verify_consistency(old, old, old_root, new_root, [])


@pytest.mark.parametrize(
    "sizes",
    [
        lambda o, n: (-1, n),
        lambda o, n: (o, -1),
        lambda o, n: (-o, n),
        lambda o, n: (o - U64, n),
        lambda o, n: (o, n - U64),
        lambda o, n: (o, U64),
        lambda o, n: (U64, U64),
        lambda o, n: (o + U64, n + U64),
        lambda o, n: (o, 1 << 200),
    ],
    ids=["old=-1", "new=-1", "old=-old", "old-2^64", "new-2^64", "new=2^64", "both=2^64", "both+2^64", "new=2^200"],
)
@pytest.mark.parametrize("case", [(3, 7), (4, 8), (9, 23)], ids=_con_id)
def test_consistency_sizes_outside_0_to_2_64_are_malformed(case, sizes):
    old, new, old_root, new_root, proof = consistency_claim(case)
    bad_old, bad_new = sizes(old, new)
    with pytest.raises(MalformedError, match="outside 0..2"):
        merkle.verify_consistency(bad_old, bad_new, old_root, new_root, proof)


@pytest.mark.parametrize(
    "sizes",
    [lambda o, n: (True, n), lambda o, n: (o, float(n)), lambda o, n: (str(o), n), lambda o, n: (None, n), lambda o, n: (o, None)],
    ids=["old=True", "new-float", "old-str", "old-None", "new-None"],
)
@pytest.mark.parametrize("case", [(1, 2), (9, 23)], ids=_con_id)
def test_consistency_sizes_that_are_not_ints_are_malformed(case, sizes):
    old, new, old_root, new_root, proof = consistency_claim(case)
    bad_old, bad_new = sizes(old, new)
    with pytest.raises(MalformedError, match="must be an integer"):
        merkle.verify_consistency(bad_old, bad_new, old_root, new_root, proof)


def _replace_in_consistency(claim, where: str, make):
    old, new, old_root, new_root, proof = claim
    if where == "old-root":
        old_root = make(old_root)
    elif where == "new-root":
        new_root = make(new_root)
    elif where == "first-proof-hash":
        proof = [make(proof[0])] + proof[1:]
    else:
        proof = proof[:-1] + [make(proof[-1])]
    return old, new, old_root, new_root, proof


CHASH_PLACES = ["old-root", "new-root", "first-proof-hash", "last-proof-hash"]


@pytest.mark.parametrize("kind", list(NOT_BYTES))
@pytest.mark.parametrize("where", CHASH_PLACES)
@pytest.mark.parametrize("case", [(4, 8), (9, 23)], ids=_con_id)
def test_consistency_hash_that_is_not_bytes_is_malformed(case, where, kind):
    claim = _replace_in_consistency(consistency_claim(case), where, NOT_BYTES[kind])
    with pytest.raises(MalformedError, match="must be bytes"):
        merkle.verify_consistency(*claim)


@pytest.mark.parametrize("length", list(WRONG_LENGTH))
@pytest.mark.parametrize("where", CHASH_PLACES)
@pytest.mark.parametrize("case", [(4, 8), (9, 23)], ids=_con_id)
def test_consistency_hash_that_is_not_32_bytes_is_malformed(case, where, length):
    claim = _replace_in_consistency(consistency_claim(case), where, WRONG_LENGTH[length])
    with pytest.raises(MalformedError, match="want 32"):
        merkle.verify_consistency(*claim)


@pytest.mark.parametrize("kind", list(NOT_A_LIST))
@pytest.mark.parametrize("case", [(1, 2), (4, 8), (9, 23)], ids=_con_id)
def test_consistency_proof_that_is_not_a_list_is_malformed(case, kind):
    old, new, old_root, new_root, proof = consistency_claim(case)
    with pytest.raises(MalformedError, match="proof must be a list"):
        merkle.verify_consistency(old, new, old_root, new_root, NOT_A_LIST[kind](proof))


@pytest.mark.parametrize("kind", ["None", "concatenated-bytes", "str", "iterator"])
def test_consistency_proof_that_is_not_a_list_is_malformed_even_when_empty(kind):
    # Old size 0 and equal sizes need an empty proof; an empty non-list is still not a proof.
    for old, new, old_root, new_root in [(0, 5, merkle.EMPTY_ROOT, root_of(5)), (5, 5, root_of(5), root_of(5))]:
        with pytest.raises(MalformedError, match="proof must be a list"):
            merkle.verify_consistency(old, new, old_root, new_root, NOT_A_LIST[kind]([]))


@pytest.mark.parametrize("old, new", [(1, U64 - 1), (1 << 63, U64 - 1), (U64 - 2, U64 - 1), (12345, 1 << 63), (3, U64 - 1)])
def test_consistency_at_the_largest_sizes_is_checked_not_crashed(old, new):
    n = len(ref_subproof_ranges(old, 0, new, True))
    forged = [merkle.leaf_hash(b"%d" % i) for i in range(n)]
    with pytest.raises(RootMismatchError):
        merkle.verify_consistency(old, new, root_of(3), root_of(8), forged)
    for bad in (forged[:-1], forged + forged[:1]):
        with pytest.raises(MalformedError, match="proof has"):
            merkle.verify_consistency(old, new, root_of(3), root_of(8), bad)
