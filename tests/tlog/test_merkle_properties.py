"""ledger.tlog.merkle against a naive recursive reference written straight from RFC 9162 §2.1.

The reference below is deliberately slow and literal: MTH, PATH and SUBPROOF/PROOF
recurse on list slices with ``k`` the largest power of two smaller than ``n``, exactly
as §2.1.1, §2.1.3.1 and §2.1.4.1 write them. Its verifiers do not fold bit patterns
the way RFC 9162 §2.1.3.2/§2.1.4.2 (and ledger.tlog.merkle) do; they name the subtree every
proof hash stands for, rebuild the roots by the MTH recursion, and compare. So an
agreement between the two is evidence, not a restatement of the same code.

Verification is checked on both hashing backends: ``native`` (the C fast path, when
built) and ``python`` (``ledger.tlog._hashing``'s pure functions, patched in).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import MalformedError, RootMismatchError
from ledger.tlog import _hashing, merkle

# --- the naive reference (RFC 9162 §2.1) ------------------------------------------------------

EMPTY_ROOT = hashlib.sha256(b"").digest()


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1), §2.1.1."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) over raw entries, §2.1.1."""
    n = len(d)
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return _sha256(b"\x00" + d[0])
    k = _split(n)
    return _sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), §2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), §2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _split(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), defined for 0 < m < n."""
    assert 0 < m < len(d)
    return ref_subproof(m, d, True)


# The same recursions over index ranges instead of data: which subtree [lo, hi) each
# proof hash is the MTH of. Used by the reference verifiers.


def ref_path_ranges(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    if hi - lo == 1:
        return []
    k = _split(hi - lo)
    if m < k:
        return ref_path_ranges(m, lo, lo + k) + [(lo + k, hi)]
    return ref_path_ranges(m - k, lo + k, hi) + [(lo, lo + k)]


def ref_subproof_ranges(m: int, lo: int, hi: int, b: bool) -> list[tuple[int, int]]:
    if m == hi - lo:
        return [] if b else [(lo, hi)]
    k = _split(hi - lo)
    if m <= k:
        return ref_subproof_ranges(m, lo, lo + k, b) + [(lo + k, hi)]
    return ref_subproof_ranges(m - k, lo + k, hi, False) + [(lo, lo + k)]


def _is_node(lo: int, hi: int, n: int) -> bool:
    """Whether D[lo:hi] is a subtree (a node) of the tree of n leaves."""
    a, b = 0, n
    while (a, b) != (lo, hi):
        if b - a == 1 or not (a <= lo and hi <= b):
            return False
        k = _split(b - a)
        if hi <= a + k:
            b = a + k
        elif lo >= a + k:
            a = a + k
        else:
            return False
    return True


def _rebuild(lo: int, hi: int, known: dict[tuple[int, int], bytes]) -> bytes:
    """MTH(D[lo:hi]) from the hashes of known subtrees, by the §2.1.1 recursion."""
    if (lo, hi) in known:
        return known[(lo, hi)]
    assert hi - lo > 1, f"leaf {lo} is not covered by the proof"
    k = _split(hi - lo)
    return _sha256(b"\x01" + _rebuild(lo, lo + k, known) + _rebuild(lo + k, hi, known))


def _well_formed_hash(h: object) -> bool:
    return isinstance(h, (bytes, bytearray)) and len(h) == 32


def _in_range(x: object) -> bool:
    return type(x) is int and 0 <= x < 1 << 64


# Outcomes: None (accepted), MalformedError or RootMismatchError.
Outcome = type[Exception] | None


def ref_verify_inclusion(leaf: bytes, m: int, n: int, proof: list[bytes], root: bytes) -> Outcome:
    if not (_in_range(m) and _in_range(n) and m < n):
        return MalformedError
    if not (_well_formed_hash(leaf) and _well_formed_hash(root) and isinstance(proof, (list, tuple))):
        return MalformedError
    ranges = ref_path_ranges(m, 0, n)
    if len(proof) != len(ranges) or not all(_well_formed_hash(h) for h in proof):
        return MalformedError
    known = {(m, m + 1): bytes(leaf), **{r: bytes(h) for r, h in zip(ranges, proof)}}
    return None if _rebuild(0, n, known) == root else RootMismatchError


def ref_verify_consistency(m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> Outcome:
    if not (_in_range(m) and _in_range(n) and m <= n):
        return MalformedError
    if not (_well_formed_hash(old_root) and _well_formed_hash(new_root) and isinstance(proof, (list, tuple))):
        return MalformedError
    if not all(_well_formed_hash(h) for h in proof):
        return MalformedError
    if m == 0:  # ledger.tlog.merkle's documented policy (C2SP tlog-witness): the empty tree precedes every tree
        if proof:
            return MalformedError
        if old_root != EMPTY_ROOT or (n == 0 and new_root != EMPTY_ROOT):
            return RootMismatchError
        return None
    if m == n:
        if proof:
            return MalformedError
        return None if old_root == new_root else RootMismatchError
    ranges = ref_subproof_ranges(m, 0, n, True)
    if len(proof) != len(ranges):
        return MalformedError
    known = {r: bytes(h) for r, h in zip(ranges, proof)}
    if _is_node(0, m, n):  # the old tree is a node of the new one: PROOF leaves it out, the verifier has it
        known[(0, m)] = bytes(old_root)
    if _rebuild(0, m, known) != old_root or _rebuild(0, n, known) != new_root:
        return RootMismatchError
    return None


# --- backends ---------------------------------------------------------------------------------

BACKENDS = ["python"] + (["native"] if _hashing.BACKEND == "native" else [])


@contextlib.contextmanager
def hashing_backend(name: str) -> Iterator[None]:
    """Run ledger.tlog.merkle on the named backend (``native`` is whatever was imported)."""
    if name == "native":
        yield
        return
    previous = _hashing.select(name)
    try:
        yield
    finally:
        _hashing.select(previous)


def outcome(call) -> Outcome:
    try:
        call()
    except (MalformedError, RootMismatchError) as e:
        return type(e)
    return None


# --- strategies -------------------------------------------------------------------------------

MAX_SIZE = 300

# Structured trees up to MAX_SIZE leaves: distinct entries under a random prefix (cheap to draw).
sized_trees = st.builds(
    lambda prefix, n: [prefix + i.to_bytes(2, "big") for i in range(n)],
    st.binary(max_size=6),
    st.integers(0, MAX_SIZE),
)
# Arbitrary entries (empty, repeated, binary), smaller trees.
raw_trees = st.lists(st.binary(max_size=12), max_size=64)
trees = st.one_of(sized_trees, raw_trees)
nonempty_trees = trees.filter(bool)


# --- the reference agrees with itself (hash lists == ranges) ----------------------------------


@pytest.mark.parametrize("n", range(1, 34))
def test_reference_ranges_name_the_subtrees_the_reference_proofs_hash(n):
    d = [i.to_bytes(1, "big") for i in range(n)]
    for m in range(n):
        assert ref_path(m, d) == [ref_mth(d[lo:hi]) for lo, hi in ref_path_ranges(m, 0, n)]
    for m in range(1, n):
        assert ref_proof(m, d) == [ref_mth(d[lo:hi]) for lo, hi in ref_subproof_ranges(m, 0, n, True)]


# --- roots ------------------------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_the_empty_string():
    assert merkle.root([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT == ref_mth([])
    assert merkle.root_of_entries([]) == EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated():
    assert merkle.leaf_hash(b"") == _sha256(b"\x00") != merkle.root([])
    left, right = _sha256(b"l"), _sha256(b"r")
    assert merkle.node_hash(left, right) == _sha256(b"\x01" + left + right)
    # A leaf whose data is "left || right" must not hash like the node over them.
    assert merkle.leaf_hash(left + right) != merkle.node_hash(left, right)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=150, deadline=None)
@given(trees)
def test_root_and_leaf_hashes_equal_reference(backend, d):
    with hashing_backend(backend):
        leaves = merkle.hash_leaves(d)
        assert leaves == [merkle.leaf_hash(x) for x in d] == [ref_mth([x]) for x in d]
        assert merkle.root(leaves) == ref_mth(d)
        assert merkle.root_of_entries(d) == ref_mth(d)


@pytest.mark.parametrize("n", [4095, 4096, 5000])
def test_root_of_entries_split_over_threads_equals_reference(n):
    d = [b"entry %d" % i for i in range(n)]
    assert merkle.root_of_entries(d, workers=2) == merkle.root_of_entries(d) == ref_mth(d)


# --- proofs equal the reference, and verify ----------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=150, deadline=None)
@given(nonempty_trees, st.data())
def test_inclusion_proof_equals_reference_and_verifies(backend, d, data):
    n = len(d)
    m = data.draw(st.integers(0, n - 1), label="index")
    with hashing_backend(backend):
        leaves = merkle.hash_leaves(d)
        proof = merkle.inclusion_proof(leaves, m)
        assert proof == ref_path(m, d)
        root = ref_mth(d)
        merkle.verify_inclusion(leaves[m], m, n, proof, root)  # the list proof (fast path when native)
        merkle.verify_inclusion(leaves[m], m, n, tuple(proof), root)  # the fully checked path
        assert ref_verify_inclusion(leaves[m], m, n, proof, root) is None


@pytest.mark.parametrize("n", range(1, 34))
def test_every_inclusion_proof_of_small_trees_equals_reference_and_verifies(n):
    d = [b"%d" % i for i in range(n)]
    leaves = merkle.hash_leaves(d)
    root = merkle.root(leaves)
    for m in range(n):
        proof = merkle.inclusion_proof(leaves, m)
        assert proof == ref_path(m, d)
        merkle.verify_inclusion(leaves[m], m, n, proof, root)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=150, deadline=None)
@given(trees, st.data())
def test_consistency_proof_equals_reference_and_verifies(backend, d, data):
    n = len(d)
    m = data.draw(st.integers(0, n), label="old size")
    with hashing_backend(backend):
        leaves = merkle.hash_leaves(d)
        proof = merkle.consistency_proof(leaves, m)
        assert proof == (ref_proof(m, d) if 0 < m < n else [])
        old_root, new_root = ref_mth(d[:m]), ref_mth(d)
        merkle.verify_consistency(m, n, old_root, new_root, proof)
        merkle.verify_consistency(m, n, old_root, new_root, tuple(proof))
        assert ref_verify_consistency(m, n, old_root, new_root, proof) is None


@pytest.mark.parametrize("n", range(0, 34))
def test_every_consistency_proof_of_small_trees_equals_reference_and_verifies(n):
    d = [b"%d" % i for i in range(n)]
    leaves = merkle.hash_leaves(d)
    for m in range(n + 1):
        proof = merkle.consistency_proof(leaves, m)
        assert proof == (ref_proof(m, d) if 0 < m < n else [])
        merkle.verify_consistency(m, n, ref_mth(d[:m]), ref_mth(d), proof)


def test_proof_generation_refuses_impossible_requests_as_programmer_errors():
    leaves = merkle.hash_leaves([b"a", b"b", b"c"])
    for index in (-1, 3, 4):
        with pytest.raises(ValueError):
            merkle.inclusion_proof(leaves, index)
    with pytest.raises(ValueError):
        merkle.inclusion_proof([], 0)
    for old in (-1, 4):
        with pytest.raises(ValueError):
            merkle.consistency_proof(leaves, old)


# --- verification agrees with the reference verifier on tampered claims ----------------------


def _perturbed(data, value: int, label: str) -> int:
    # The true value about half the time, so that the other fields' tampering is what decides.
    return data.draw(st.sampled_from([value] * 6 + [value - 1, value + 1, value - 2, value + 2, 0, 1, -1]), label=label)


def _tampered_proof(data, proof: list[bytes]) -> list[bytes]:
    how = data.draw(st.sampled_from(["keep"] * 3 + ["flip", "drop", "insert", "swap", "replace"]), label="tamper")
    proof = list(proof)
    if how == "flip" and proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="at")
        bit = data.draw(st.integers(0, 255), label="bit")
        h = bytearray(proof[i])
        h[bit // 8] ^= 1 << (bit % 8)
        proof[i] = bytes(h)
    elif how == "drop" and proof:
        del proof[data.draw(st.integers(0, len(proof) - 1), label="at")]
    elif how == "insert":
        proof.insert(data.draw(st.integers(0, len(proof)), label="at"), data.draw(st.binary(min_size=32, max_size=32)))
    elif how == "swap" and len(proof) > 1:
        i = data.draw(st.integers(0, len(proof) - 2), label="at")
        proof[i], proof[i + 1] = proof[i + 1], proof[i]
    elif how == "replace" and proof:
        proof[data.draw(st.integers(0, len(proof) - 1), label="at")] = data.draw(st.binary(min_size=32, max_size=32))
    return proof


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 70), st.data())
def test_verify_inclusion_agrees_with_reference_verifier_on_tampered_claims(backend, n, data):
    d = [b"leaf %d" % i for i in range(n + 2)]  # two spare leaves: claimed sizes up to n + 2 have real roots
    leaves = merkle.hash_leaves(d)
    m = data.draw(st.integers(0, n - 1), label="index")
    proof = _tampered_proof(data, merkle.inclusion_proof(leaves[:n], m))
    claimed_m = _perturbed(data, m, "claimed index")
    claimed_n = _perturbed(data, n, "claimed size")
    root = data.draw(
        st.sampled_from([ref_mth(d[:n]), ref_mth(d[: max(claimed_n, 0)]), _sha256(b"random")]), label="root"
    )
    leaf = data.draw(st.sampled_from([leaves[m], leaves[(m + 1) % len(leaves)]]), label="leaf")
    want = ref_verify_inclusion(leaf, claimed_m, claimed_n, proof, root)
    with hashing_backend(backend):
        assert outcome(lambda: merkle.verify_inclusion(leaf, claimed_m, claimed_n, proof, root)) is want
        assert outcome(lambda: merkle.verify_inclusion(leaf, claimed_m, claimed_n, tuple(proof), root)) is want


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 70), st.data())
def test_verify_consistency_agrees_with_reference_verifier_on_tampered_claims(n, data):
    d = [b"leaf %d" % i for i in range(n + 2)]
    leaves = merkle.hash_leaves(d)
    m = data.draw(st.integers(0, n), label="old size")
    proof = _tampered_proof(data, merkle.consistency_proof(leaves[:n], m))
    claimed_m = _perturbed(data, m, "claimed old size")
    claimed_n = _perturbed(data, n, "claimed new size")

    def root_of(size: int) -> bytes:
        return ref_mth(d[: max(size, 0)])

    old_root = data.draw(st.sampled_from([root_of(m), root_of(claimed_m), root_of(n), _sha256(b"x")]), label="old root")
    new_root = data.draw(st.sampled_from([root_of(n), root_of(claimed_n), root_of(m), _sha256(b"y")]), label="new root")
    want = ref_verify_consistency(claimed_m, claimed_n, old_root, new_root, proof)
    assert outcome(lambda: merkle.verify_consistency(claimed_m, claimed_n, old_root, new_root, proof)) is want
