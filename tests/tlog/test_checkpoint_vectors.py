"""C2SP tlog-checkpoint against the published tessera test log (tests/tlog/vectors/tlog-log):
every checkpoint verifies with the published vkey and commits to the published entries, and
every single-byte change to any of them is refused with a domain error. Then strict body parsing."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from ledger.errors import EduledgerError, MalformedError
from ledger.tlog import merkle
from ledger.tlog.checkpoint import MAX_TREE_SIZE, Checkpoint, parse_checkpoint, verify_checkpoint
from ledger.tlog.note import Verifier, key_id, parse_note
from tests.tlog import vectors

VECTORS = vectors.directory(vectors.TLOG_LOG)
VKEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
ORIGIN = "example.com/log/testdata"
LOG = Verifier.from_vkey(VKEY)
FILES = sorted(VECTORS.glob("checkpoint*"))
WORDS = b"one two three four five six seven eit nain ten ileven twelf threeten fourten fivten".split()


def read_bundle(data: bytes) -> list[bytes]:
    """tlog-tiles entry bundle: each entry is a big-endian uint16 length, then its bytes."""
    out, i = [], 0
    while i < len(data):
        assert i + 2 <= len(data), "truncated length prefix"
        n = int.from_bytes(data[i : i + 2], "big")
        assert i + 2 + n <= len(data), "truncated entry"
        out.append(data[i + 2 : i + 2 + n])
        i += 2 + n
    return out


ENTRIES = read_bundle((VECTORS / "tile/entries/000.p/15").read_bytes())


def expected_size(path: Path) -> int:
    return 15 if path.name == "checkpoint" else int(path.name.split(".", 1)[1])


def test_the_vectors_are_there():
    assert len(FILES) == 17, f"want checkpoint and checkpoint.0..15 in {VECTORS}"
    assert ENTRIES == WORDS


def test_the_published_key_id_is_the_computed_one():
    assert key_id(ORIGIN, 0x01, LOG.public_key).hex() == "33d7b496" and LOG.vkey == VKEY


def test_partial_bundles_are_prefixes_of_the_full_one():
    for n in range(1, 16):
        assert read_bundle((VECTORS / f"tile/entries/000.p/{n}").read_bytes()) == WORDS[:n]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_checkpoint_verifies_and_commits_to_the_entries(path):
    vc = verify_checkpoint(path.read_bytes(), log=LOG, origin=ORIGIN)
    size = expected_size(path)
    assert vc.checkpoint.origin == ORIGIN and vc.checkpoint.size == size
    assert vc.checkpoint.root == merkle.root([merkle.leaf_hash(e) for e in ENTRIES[:size]])
    assert vc.checkpoint.extensions == () and vc.checkpoint.body() == vc.note.text
    if size == 0:
        assert vc.checkpoint.root == hashlib.sha256(b"").digest()


def _mutations(data: bytes):
    """For every byte position: xor 0x01, xor 0x80 and a few replacements; plus each deletion."""
    for i, b in enumerate(data):
        for v in {b ^ 0x01, b ^ 0x80, 0x00, 0x0A, 0x20, 0x41, 0xFF} - {b}:
            yield f"byte {i} {b:#04x}->{v:#04x}", data[:i] + bytes([v]) + data[i + 1 :]
        yield f"byte {i} deleted", data[:i] + data[i + 1 :]
    yield "appended newline", data + b"\n"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_single_byte_change_is_refused_with_a_domain_error(path):
    data = path.read_bytes()
    count = 0
    for what, mutated in _mutations(data):
        count += 1
        try:
            vc = verify_checkpoint(mutated, log=LOG, origin=ORIGIN)
        except EduledgerError:
            continue  # any other exception type escapes and fails the test
        pytest.fail(f"{path.name}: {what} still verified as {vc.checkpoint}")
    assert count >= 7 * len(data)


def test_flipping_a_spare_base64_bit_of_the_signature_is_refused():
    data = (VECTORS / "checkpoint").read_bytes()
    b64 = data.rstrip(b"\n").rsplit(b" ", 1)[1]
    assert b64.endswith(b"=") and not b64.endswith(b"==")  # 68 bytes: 2 spare bits before the '='
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    flipped = b64[:-2] + bytes([alphabet[alphabet.index(b64[-2]) ^ 1]]) + b"="
    assert base64.b64decode(flipped) == base64.b64decode(b64)
    with pytest.raises(MalformedError, match="canonical"):
        verify_checkpoint(data.replace(b64, flipped), log=LOG, origin=ORIGIN)


def test_parse_note_of_the_vectors_round_trips():
    for path in FILES:
        assert parse_note(path.read_bytes()).to_bytes() == path.read_bytes()


# --- the body ---------------------------------------------------------------------------

ROOT = base64.b64encode(bytes(range(32))).decode()


def test_body_round_trip_with_extensions():
    cp = Checkpoint("example.com/log", 12, bytes(range(32)), ("ext one", "two"))
    assert cp.body() == f"example.com/log\n12\n{ROOT}\next one\ntwo\n"
    assert parse_checkpoint(cp.body()) == cp


def test_the_origin_is_only_required_to_be_non_empty():
    # tlog-checkpoint: clients MUST NOT assume the origin is a URL; verify_checkpoint ties it to the log key.
    assert parse_checkpoint(f"a log with spaces+plus\n0\n{ROOT}\n").origin == "a log with spaces+plus"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        f"example.com/log\n1\n{ROOT}",  # no final newline
        "example.com/log\n1\n",
        f"\n1\n{ROOT}\n",  # empty origin
        f"example.com/log\n01\n{ROOT}\n",  # leading zero
        f"example.com/log\n00\n{ROOT}\n",
        f"example.com/log\n-1\n{ROOT}\n",
        f"example.com/log\n+1\n{ROOT}\n",
        f"example.com/log\n 1\n{ROOT}\n",
        f"example.com/log\n1 \n{ROOT}\n",
        f"example.com/log\n1_000\n{ROOT}\n",
        f"example.com/log\n\u0661\n{ROOT}\n",  # an Arabic-Indic digit: str.isdigit() says yes
        f"example.com/log\n0x10\n{ROOT}\n",
        f"example.com/log\n{1 << 63}\n{ROOT}\n",
        f"example.com/log\n{'9' * 5000}\n{ROOT}\n",  # int() would raise ValueError, not a domain error
        f"example.com/log\n\n{ROOT}\n",
        "example.com/log\n1\n\n",
        f"example.com/log\n1\n{ROOT[:-1]}\n",
        f"example.com/log\n1\n{base64.b64encode(bytes(31)).decode()}\n",
        f"example.com/log\n1\n{base64.b64encode(bytes(33)).decode()}\n",
        f"example.com/log\n1\n{ROOT[:-2]}B=\n",  # non-zero spare bits
        f"example.com/log\n1\n{ROOT} \n",
        f"example.com/log\n1\n{ROOT}\n\n",  # empty extension line
        f"example.com/log\n1\n{ROOT}\next\n\n",
        f"example.com/log\r\n1\n{ROOT}\n",
    ],
)
def test_malformed_bodies_are_refused(text):
    with pytest.raises(MalformedError):
        parse_checkpoint(text)


def test_size_limits():
    assert parse_checkpoint(f"l\n{MAX_TREE_SIZE}\n{ROOT}\n").size == MAX_TREE_SIZE
    assert parse_checkpoint(f"l\n0\n{ROOT}\n").size == 0


def test_checkpoint_constructor_enforces_its_invariants():
    for args in (("", 1, bytes(32)), ("l", -1, bytes(32)), ("l", 1 << 63, bytes(32)), ("l", 1, bytes(31)), ("a\nb", 1, bytes(32)), ("l", True, bytes(32))):
        with pytest.raises(ValueError):
            Checkpoint(*args)
    with pytest.raises(ValueError):
        Checkpoint("l", 1, bytes(32), ("",))
