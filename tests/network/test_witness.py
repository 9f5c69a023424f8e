"""ledger.network.witness against C2SP tlog-witness "add-checkpoint": the checks, their order,
and the compare-and-swap race, on the in-memory store (no HTTP; the route maps
SizeConflict to 409 ``text/x.tlog.size`` and is exercised in test_network_faults)."""

from __future__ import annotations

import pytest

from ledger.errors import InconsistencyError, MalformedError, NotFoundError, SignatureError, SizeConflict
from ledger.network.witness import SameSizeFork, Witness, WitnessStopped
from ledger.storage.memory import MemoryStore
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import Verifier, sign_note, verify_cosignature
from ledger.tlog.tree import Tree
from tests.keyutil import RawSigner

ORIGIN = "example.org/log"
LOG_KEY = RawSigner(b"\x01" * 32)
TREE = [merkle.leaf_hash(b"%d" % i) for i in range(40)]


def note(size: int, *, key=LOG_KEY, origin: str = ORIGIN, tree=TREE) -> bytes:
    cp = Checkpoint(origin, size, merkle.root(tree[:size]))
    return (cp.body() + "\n" + sign_note(cp.body(), origin, key).line()).encode()


def proof(old: int, new: int) -> list[bytes]:
    return Tree(TREE[:new]).consistency_proof(old, new) if old else []


def make_witness(store=None, stopped=lambda: None) -> Witness:
    return Witness(
        "witness.example/w1", RawSigner(b"\x02" * 32), {ORIGIN: Verifier.ed25519(ORIGIN, LOG_KEY.public_key)}, store or MemoryStore(), lambda: 1_700_000_000, stopped=stopped
    )


def test_cosigns_an_extension_and_persists_before_answering():
    w = make_witness()
    sig = w.add_checkpoint(0, [], note(8))
    assert w.current_size(ORIGIN) == 8
    verify_cosignature(note(8).split(b"\n\n")[0].decode() + "\n", sig, w.verifier)
    w.add_checkpoint(8, proof(8, 20), note(20))
    assert w.current_size(ORIGIN) == 20


def test_checks_run_in_the_order_of_the_spec():
    w = make_witness()
    w.add_checkpoint(0, [], note(8))
    # 404 before 403: an unknown origin is not even checked for a signature.
    with pytest.raises(NotFoundError):
        w.add_checkpoint(8, [], note(8, origin="other.example/log", key=RawSigner(b"\x03" * 32)))
    with pytest.raises(SignatureError):
        w.add_checkpoint(8, [], note(8, key=RawSigner(b"\x03" * 32)))
    # Old size above the checkpoint size: 400, before comparing it with the witness's size (409).
    with pytest.raises(MalformedError):
        w.add_checkpoint(30, [], note(20))
    with pytest.raises(SizeConflict) as e:
        w.add_checkpoint(5, proof(5, 20), note(20))
    assert e.value.current_size == 8
    # A stale checkpoint with old size 0: the size conflict tells the client where the witness is.
    with pytest.raises(SizeConflict):
        w.add_checkpoint(0, [], note(4))
    with pytest.raises(SameSizeFork):
        w.add_checkpoint(8, [], note(8, tree=[merkle.leaf_hash(b"x")] * 8))
    with pytest.raises(InconsistencyError):
        w.add_checkpoint(8, [bytes(32)] * 3, note(20))
    assert w.current_size(ORIGIN) == 8


def test_a_proof_with_old_size_zero_is_malformed():
    with pytest.raises(MalformedError):
        make_witness().add_checkpoint(0, [bytes(32)], note(8))


def test_a_stopped_witness_refuses_after_the_signature_check_and_before_the_size_check():
    reason = [None]
    w = make_witness(stopped=lambda: reason[0])
    w.add_checkpoint(0, [], note(8))
    reason[0] = "a fork was seen"
    with pytest.raises(SignatureError):
        w.add_checkpoint(8, [], note(8, key=RawSigner(b"\x03" * 32)))
    for old in (0, 8):  # whatever the old size: asking again with another one would not help
        with pytest.raises(WitnessStopped, match="fork"):
            w.add_checkpoint(old, proof(old, 20), note(20))
    assert w.current_size(ORIGIN) == 8


class RacingStore(MemoryStore):
    """Another request moves the witness state between this request's read and its swap."""

    def __init__(self) -> None:
        super().__init__()
        self.race: tuple[int, bytes] | None = None

    def witness_state(self, origin: str):
        state = super().witness_state(origin)
        if self.race is not None:
            size, other = self.race
            self.race = None
            super().cas_witness_state(origin, state[0] if state else None, size, other)
        return state


@pytest.mark.parametrize("first", [False, True])
def test_a_lost_compare_and_swap_is_a_size_conflict_with_the_size_now_stored(first):
    store = RacingStore()
    w = make_witness(store)
    if not first:
        w.add_checkpoint(0, [], note(8))
    old = 0 if first else 8
    store.race = (30, note(30))
    with pytest.raises(SizeConflict) as e:
        w.add_checkpoint(old, proof(old, 20), note(20))
    assert e.value.current_size == 30
    assert w.current_size(ORIGIN) == 30  # the winner's state, never rolled back
