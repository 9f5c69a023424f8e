"""Every published RFC 9162 proof vector (transparency-dev/merkle testdata), one test per file."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from ledger import merkle
from ledger.errors import EduledgerError, MalformedError

VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "merkle"

# Where our API is deliberately stricter than a vector, and why.
DEVIATIONS = {
    # The roots are 12 bytes ("don't care 2"); verify_consistency requires 32-byte hashes.
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": MalformedError,
}


def _files(kind: str) -> list[Path]:
    if not VECTORS.is_dir():
        pytest.fail(f"test vectors not found at {VECTORS}: shared/ must sit beside the repository")
    return sorted((VECTORS / kind).rglob("*.json"))


def _b64(v):
    return base64.b64decode(v) if v is not None else b""


def _id(p: Path) -> str:
    return str(p.relative_to(VECTORS))


@pytest.mark.parametrize("path", _files("inclusion"), ids=_id)
def test_inclusion_vector(path):
    v = json.loads(path.read_text())
    args = (_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], [_b64(h) for h in v["proof"] or []], _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(EduledgerError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", _files("consistency"), ids=_id)
def test_consistency_vector(path):
    v = json.loads(path.read_text())
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), [_b64(h) for h in v["proof"] or []])
    deviation = DEVIATIONS.get(_id(path))
    if deviation is not None:
        with pytest.raises(deviation):
            merkle.verify_consistency(*args)
    elif v["wantErr"]:
        with pytest.raises(EduledgerError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


def test_there_are_vectors_of_both_kinds():
    assert len(_files("inclusion")) > 50 and len(_files("consistency")) > 50


EMPTY = hashlib.sha256(b"").digest()


def test_old_size_zero_with_empty_proof_is_accepted_as_in_tlog_witness():
    new_root = merkle.root(merkle.hash_leaves([b"a", b"b", b"c"]))
    merkle.verify_consistency(0, 3, EMPTY, new_root, [])
    merkle.verify_consistency(0, 0, EMPTY, EMPTY, [])


@pytest.mark.parametrize(
    "old_root, proof",
    [(EMPTY, [EMPTY]), (b"\x01" * 32, []), (EMPTY, [b"\x02" * 32, b"\x03" * 32])],
    ids=["non-empty proof", "old root not the empty tree", "two hashes"],
)
def test_old_size_zero_other_spellings_are_refused(old_root, proof):
    with pytest.raises(EduledgerError):
        merkle.verify_consistency(0, 3, old_root, merkle.root(merkle.hash_leaves([b"a", b"b", b"c"])), proof)
