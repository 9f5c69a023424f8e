"""The published C2SP tiled log (transparency-dev/tessera testdata): every checkpoint verifies
with its vkey and matches the entries; every single-byte change is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import merkle, tiles
from ledger.checkpoint import verify_checkpoint
from ledger.errors import EduledgerError
from ledger.note import Verifier, parse_note

LOG = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "tlog-log"
VKEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
VERIFIER = Verifier.from_vkey(VKEY)
CHECKPOINTS = sorted(LOG.glob("checkpoint*"), key=lambda p: p.name) if LOG.is_dir() else []


def entries() -> list[bytes]:
    return tiles.parse_entry_bundle((LOG / "tile" / "entries" / "000.p" / "15").read_bytes())


def test_vectors_are_present():
    assert len(CHECKPOINTS) == 17, f"expected the tlog-log vectors at {LOG}"


def test_vkey_round_trips_and_key_id_is_computed():
    assert VERIFIER.vkey == VKEY and VERIFIER.key_id.hex() == "33d7b496"


@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.name)
def test_checkpoint_verifies_and_matches_the_entries(path):
    vc = verify_checkpoint(path.read_bytes(), log=VERIFIER, origin="example.com/log/testdata")
    leaves = merkle.hash_leaves(entries()[: vc.checkpoint.size])
    assert vc.checkpoint.root == merkle.root(leaves)
    if path.name != "checkpoint":
        assert vc.checkpoint.size == int(path.name.split(".")[1])


@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.name)
def test_every_single_byte_change_is_refused(path):
    data = path.read_bytes()
    note = parse_note(data)
    sig_start = len(note.text.encode()) + 1
    for i in range(len(data)):
        for mutated in (data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :], data[:i] + b"\x00" + data[i + 1 :]):
            if mutated == data:
                continue
            try:
                vc = verify_checkpoint(mutated, log=VERIFIER, origin="example.com/log/testdata")
            except EduledgerError:
                continue
            # Only a change inside the signature line's base64 padding could leave a valid note,
            # and Ed25519 signatures are 64 bytes with no spare bits in the base64: none may pass.
            pytest.fail(f"byte {i} changed ({'signature' if i >= sig_start else 'text'}) still verified: {vc.checkpoint}")
