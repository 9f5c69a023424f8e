"""ledger.tlog.merkle against the published transparency-dev/merkle proof vectors, one test per file.

The vectors live in ``tests/tlog/vectors/merkle`` (provenance in tests/tlog/vectors/README.md): ``inclusion/`` and
``consistency/``, trees ``0..4`` and ``additional/`` edge cases. ``wantErr`` only says
*that* verification must fail; which error it must be follows from ledger.tlog.merkle's
contract, so each rejected vector also names the exact subclass:
:class:`MalformedError` when a precondition is broken (a hash that is not 32 bytes,
``index >= size``, ``old > new``, a proof whose length is not the RFC 9162 length for
the sizes), :class:`RootMismatchError` when a well-formed proof folds to another root.

Also here: the ``old_size == 0`` policy in both spellings (module docstring of
ledger.tlog.merkle): the transparency-dev vectors with ``size1 = 0`` are all refused, and the
C2SP tlog-witness form (empty proof, old root SHA-256("")) is accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path

import pytest

from ledger.errors import EduledgerError, MalformedError, RootMismatchError
from ledger.tlog import merkle
from tests.tlog import vectors

MERKLE_DIR = vectors.directory(vectors.MERKLE)

EMPTY_ROOT = hashlib.sha256(b"").digest()

# Where our API is deliberately stricter than a vector: relative path -> (error, why).
EXPECTED_DEVIATIONS: dict[str, tuple[type[EduledgerError], str]] = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": (
        MalformedError,
        "its roots are the 12-byte placeholder 'don't care 2'; transparency-dev accepts equal sizes "
        "with equal roots without looking at them, verify_consistency requires every root to be a "
        "32-byte SHA-256 hash before comparing anything",
    ),
}


def _vector_files(kind: str) -> list[Path]:
    """Every JSON file under merkle/<kind>/ (all subfolders)."""
    return sorted((MERKLE_DIR / kind).rglob("*.json"))


def _id(path: Path) -> str:
    return path.relative_to(MERKLE_DIR).as_posix()


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as e:  # a broken vector file, not a verification result
        pytest.fail(f"vector holds invalid base64 {value!r}: {e}")


def _proof(value: list[str] | None) -> list[bytes]:
    return [_b64(h) for h in value or []]


# --- the shape RFC 9162 gives a proof, from the §2.1.3.1 / §2.1.4.1 recursions on sizes ------------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _path_len(m: int, n: int) -> int:
    """len(PATH(m, D[n]))."""
    if n == 1:
        return 0
    k = _split(n)
    return 1 + (_path_len(m, k) if m < k else _path_len(m - k, n - k))


def _subproof_len(m: int, n: int, b: bool) -> int:
    """len(SUBPROOF(m, D[n], b))."""
    if m == n:
        return 0 if b else 1
    k = _split(n)
    return 1 + (_subproof_len(m, k, b) if m <= k else _subproof_len(m - k, n - k, False))


def _all_hashes_32(*hashes: bytes) -> bool:
    return all(len(h) == 32 for h in hashes)


def expected_inclusion_error(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> type[EduledgerError]:
    """The error a rejected inclusion vector must raise."""
    if not _all_hashes_32(leaf, root, *proof) or not 0 <= index < size or len(proof) != _path_len(index, size):
        return MalformedError
    return RootMismatchError


def expected_consistency_error(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> type[EduledgerError]:
    """The error a rejected consistency vector must raise."""
    if not _all_hashes_32(root1, root2, *proof) or not 0 <= size1 <= size2:
        return MalformedError
    want_len = 0 if size1 in (0, size2) else _subproof_len(size1, size2, True)
    if len(proof) != want_len:
        return MalformedError
    return RootMismatchError


# --- one test per vector file ------------------------------------------------------------------


@pytest.mark.parametrize("path", _vector_files("inclusion"), ids=_id)
def test_inclusion_vector(path):
    v = _load(path)
    leaf, root, proof = _b64(v["leafHash"]), _b64(v["root"]), _proof(v["proof"])
    args = (leaf, v["leafIdx"], v["treeSize"], proof, root)
    assert _id(path) not in EXPECTED_DEVIATIONS  # none needed for inclusion
    if not v["wantErr"]:
        merkle.verify_inclusion(*args)
        return
    want = expected_inclusion_error(*args)
    with pytest.raises(want) as caught:
        merkle.verify_inclusion(*args)
    assert type(caught.value) is want, f"{v['desc']}: raised {type(caught.value).__name__}, want {want.__name__}"


@pytest.mark.parametrize("path", _vector_files("consistency"), ids=_id)
def test_consistency_vector(path):
    v = _load(path)
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), _proof(v["proof"]))
    deviation = EXPECTED_DEVIATIONS.get(_id(path))
    if deviation is not None:
        want, why = deviation
        assert not v["wantErr"], f"the deviation table is stale: the vector now expects an error ({why})"
    elif not v["wantErr"]:
        merkle.verify_consistency(*args)
        return
    else:
        want = expected_consistency_error(*args)
    with pytest.raises(want) as caught:
        merkle.verify_consistency(*args)
    assert type(caught.value) is want, f"{v['desc']}: raised {type(caught.value).__name__}, want {want.__name__}"


def test_vector_set_is_complete():
    """A partial checkout must not pass as a green run: both kinds, every tree, the edge cases."""
    inclusion, consistency = _vector_files("inclusion"), _vector_files("consistency")
    assert len(inclusion) >= 98 and len(consistency) >= 98, (len(inclusion), len(consistency))
    folders = {p.relative_to(MERKLE_DIR).parts[:2] for p in inclusion + consistency}
    for kind in ("inclusion", "consistency"):
        for tree in ("0", "1", "2", "3", "4", "additional"):
            assert (kind, tree) in folders, f"no vectors in {kind}/{tree}"
    happy = [p for p in inclusion + consistency if not _load(p)["wantErr"]]
    assert len(happy) >= 10  # the accepting side is exercised too, not only refusals


def test_expected_deviations_name_existing_vectors_that_expect_success():
    for rel, (error, why) in EXPECTED_DEVIATIONS.items():
        path = MERKLE_DIR / rel
        assert path.is_file(), f"deviation for a vector that does not exist: {rel}"
        v = _load(path)
        assert v["wantErr"] is False, f"{rel} expects an error now; drop it from the deviation table"
        assert issubclass(error, EduledgerError) and why


# --- old_size == 0, spelling 1: the transparency-dev vectors are refused --------------------------


def _size1_zero_vectors() -> list[Path]:
    return [p for p in _vector_files("consistency") if _load(p)["size1"] == 0]


@pytest.mark.parametrize("path", _size1_zero_vectors(), ids=_id)
def test_transparency_dev_vectors_with_old_size_zero_are_all_refused(path):
    v = _load(path)
    assert v["wantErr"], "transparency-dev refuses every size1 = 0 proof"
    root1, root2, proof = _b64(v["root1"]), _b64(v["root2"]), _proof(v["proof"])
    # Each one breaks our old-size-0 rule too, so refusing it is no conflict with the C2SP spelling:
    # it carries a proof hash, or a root that is not a 32-byte hash.
    assert proof or not _all_hashes_32(root1, root2), "this vector would be the accepted C2SP spelling"
    with pytest.raises(MalformedError):
        merkle.verify_consistency(v["size1"], v["size2"], root1, root2, proof)


def test_there_are_transparency_dev_vectors_with_old_size_zero():
    assert len(_size1_zero_vectors()) >= 7


# --- old_size == 0, spelling 2: C2SP tlog-witness semantics ---------------------------------------

TREE = merkle.hash_leaves([b"alpha", b"beta", b"gamma", b"delta", b"epsilon"])


@pytest.mark.parametrize("new_size", [1, 2, 5, (1 << 64) - 1])
@pytest.mark.parametrize(
    "new_root",
    [merkle.root(TREE), EMPTY_ROOT, bytes(32), b"\xff" * 32, bytearray(merkle.root(TREE[:2]))],
    ids=["real-root", "empty-root", "zeros", "ones", "bytearray"],
)
def test_old_size_zero_with_empty_proof_and_empty_root_accepts_any_32_byte_new_root(new_size, new_root):
    merkle.verify_consistency(0, new_size, EMPTY_ROOT, new_root, [])
    merkle.verify_consistency(0, new_size, EMPTY_ROOT, new_root, ())


def test_old_size_zero_to_new_size_zero_is_the_empty_tree_twice():
    merkle.verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    # A size-0 tree has exactly one root; equal sizes with different roots are a mismatch
    # (stricter than the docstring's "any 32-byte new root", which is about new_size > 0).
    with pytest.raises(RootMismatchError):
        merkle.verify_consistency(0, 0, EMPTY_ROOT, merkle.root(TREE), [])


@pytest.mark.parametrize(
    "proof",
    [[EMPTY_ROOT], [merkle.root(TREE)], TREE[:1], TREE[:3], [b""], [b"\x00" * 31]],
    ids=["empty-root-hash", "new-root", "one-leaf", "three-leaves", "empty-bytes", "31-bytes"],
)
def test_old_size_zero_with_a_non_empty_proof_is_malformed(proof):
    with pytest.raises(MalformedError):
        merkle.verify_consistency(0, 5, EMPTY_ROOT, merkle.root(TREE), proof)


@pytest.mark.parametrize(
    "old_root",
    [merkle.root(TREE), merkle.root(TREE[:1]), TREE[0], merkle.leaf_hash(b""), bytes(32)],
    ids=["new-root", "one-leaf-root", "leaf-hash", "leaf-hash-of-empty", "zeros"],
)
def test_old_size_zero_with_an_old_root_that_is_not_the_empty_root_is_a_root_mismatch(old_root):
    with pytest.raises(RootMismatchError) as caught:
        merkle.verify_consistency(0, 5, old_root, merkle.root(TREE), [])
    assert caught.value.expected == EMPTY_ROOT and caught.value.calculated == old_root


@pytest.mark.parametrize("old_root", [b"", EMPTY_ROOT[:31], EMPTY_ROOT + b"\x00", EMPTY_ROOT.hex(), None])
def test_old_size_zero_with_an_old_root_that_is_not_a_hash_is_malformed(old_root):
    with pytest.raises(MalformedError):
        merkle.verify_consistency(0, 5, old_root, merkle.root(TREE), [])


@pytest.mark.parametrize("new_root", [b"", b"don't care 2", merkle.root(TREE)[:31], merkle.root(TREE).hex(), None])
def test_old_size_zero_with_a_new_root_that_is_not_a_hash_is_malformed(new_root):
    with pytest.raises(MalformedError):
        merkle.verify_consistency(0, 5, EMPTY_ROOT, new_root, [])


def test_proof_generation_for_old_size_zero_is_the_empty_proof_that_verifies():
    proof = merkle.consistency_proof(TREE, 0)
    assert proof == []
    merkle.verify_consistency(0, len(TREE), merkle.root([]), merkle.root(TREE), proof)
