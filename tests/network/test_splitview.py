"""ledger.network.splitview: two log-signed checkpoints are a fork only on evidence.

Same size: the roots decide. Different sizes: a prefix proof that verifies
against the larger signed root and shows another root at the smaller size is
evidence; a proof that does not verify against the larger root is the
supplier's bad data (RootMismatchError / MalformedError), never evidence.
"""

from __future__ import annotations

import pytest

from ledger.errors import InconsistencyError, MalformedError, RootMismatchError, SignatureError
from ledger.network.splitview import PrefixProof, check_prefix, plan, seen
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import Verifier, sign_note
from ledger.tlog.tree import Tree
from tests.keyutil import RawSigner

ORIGIN = "example.org/log"
KEY = RawSigner(b"\x01" * 32)
LOG = Verifier.ed25519(ORIGIN, KEY.public_key)


def leaves(tag: str, n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"{tag} {i}".encode()) for i in range(n)]


def signed(tree: list[bytes], source: str = "test", key=KEY, origin: str = ORIGIN):
    cp = Checkpoint(origin, len(tree), merkle.root(tree))
    note = (cp.body() + "\n" + sign_note(cp.body(), origin, key).line()).encode()
    return seen(note, LOG, ORIGIN, source)


def prefix_from(tree: list[bytes], old: int) -> PrefixProof:
    t = Tree(tree)
    return PrefixProof(old, len(tree), t.root(old), tuple(t.consistency_proof(old, len(tree))))


def test_seen_checks_the_log_signature_and_ignores_other_logs():
    with pytest.raises(SignatureError):
        signed(leaves("a", 3), key=RawSigner(b"\x02" * 32))
    other = Checkpoint("other.example/log", 3, merkle.root(leaves("a", 3)))
    note = (other.body() + "\n" + sign_note(other.body(), ORIGIN, KEY).line()).encode()
    assert seen(note, LOG, ORIGIN, "x") is None


def test_two_roots_of_one_size_are_a_fork_without_any_proof():
    a, b = signed(leaves("a", 8), "A"), signed(leaves("b", 8), "B")
    with pytest.raises(InconsistencyError) as e:
        plan([a, b])
    assert {e.value.old, e.value.new} == {a.note.decode(), b.note.decode()}


def test_plan_proves_every_smaller_checkpoint_against_the_largest():
    tree = leaves("t", 20)
    cps = [signed(tree[:n]) for n in (5, 20, 8, 20, 1)]
    big, smaller = plan(cps)
    assert big.size == 20 and [s.size for s in smaller] == [1, 5, 8]
    for s in smaller:
        check_prefix(s, big, prefix_from(tree, s.size))  # consistent: no error


@pytest.mark.parametrize("old", [8, 5, 1])  # a complete old tree (its root seeds the proof) and not
def test_a_verified_proof_showing_another_tree_at_the_smaller_size_is_evidence(old):
    small, big_tree = signed(leaves("a", old), "A"), leaves("b", 10)
    big = signed(big_tree, "B")
    prefix = prefix_from(big_tree, old)
    with pytest.raises(InconsistencyError) as e:
        check_prefix(small, big, prefix)
    assert (e.value.old, e.value.new) == (small.note.decode(), big.note.decode())
    assert e.value.proof == [merkle.root(big_tree[:old]), *prefix.proof]


@pytest.mark.parametrize("old", [8, 5])
def test_a_proof_that_does_not_verify_against_the_larger_root_is_no_evidence(old):
    small, big_tree = signed(leaves("a", old)), leaves("b", 10)
    big = signed(big_tree)
    honest = prefix_from(big_tree, old)
    for bad in (
        PrefixProof(old, 10, small.root, honest.proof),  # claims the smaller root: folds elsewhere
        PrefixProof(old, 10, bytes(32), tuple(bytes(32) for _ in honest.proof)),
        PrefixProof(old, 10, honest.old_root, tuple(reversed(honest.proof)) + (bytes(32),)),
    ):
        with pytest.raises((RootMismatchError, MalformedError)) as e:
            check_prefix(small, big, bad)
        assert not isinstance(e.value, InconsistencyError)


def test_a_proof_for_other_sizes_is_refused():
    tree = leaves("t", 10)
    with pytest.raises(MalformedError):
        check_prefix(signed(tree[:4]), signed(tree), prefix_from(tree, 5))
