"""C2SP signed-note (ledger/tlog/note.py): key ids, vkeys, strict parsing, verification, fuzzing."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import MalformedError, SignatureError
from ledger.tlog.note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Note,
    NoteSignature,
    Verifier,
    cosign,
    key_id,
    parse_note,
    parse_signature_line,
    sign_note,
    verify_note,
)
from tests.keyutil import RawSigner

# Published vectors: the tessera test log (tests/tlog/vectors/README.md) and
# the example in golang.org/x/mod/sumdb/note's package documentation.
LOG_VKEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
GO_ENOCH = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
GO_NOTE = (GO_TEXT + "\n" + GO_SIG).encode()

SIGNER = RawSigner(bytes(range(32)))
NAME = "edu.example/log"
VERIFIER = Verifier.ed25519(NAME, SIGNER.public_key)


def signed(text: str, *extra: NoteSignature, signer=SIGNER, name=NAME) -> bytes:
    return Note(text, (sign_note(text, name, signer), *extra)).to_bytes()


# --- key ids and vkeys ---------------------------------------------------------------


def test_key_id_is_the_spec_hash_and_matches_the_published_vkey():
    v = Verifier.from_vkey(LOG_VKEY)
    assert v.name == "example.com/log/testdata" and v.sig_type == SIG_ED25519
    want = hashlib.sha256(b"example.com/log/testdata\n\x01" + v.public_key).digest()[:4]
    assert key_id(v.name, SIG_ED25519, v.public_key) == want == bytes.fromhex("33d7b496") == v.key_id


def test_vkey_round_trips():
    for vkey in (LOG_VKEY, GO_VKEY):
        assert Verifier.from_vkey(vkey).vkey == vkey
    for v in (VERIFIER, Verifier.cosignature("edu.example/witness/a", SIGNER.public_key)):
        assert Verifier.from_vkey(v.vkey) == v


def test_the_same_key_has_different_ids_per_signature_type():
    e, c = VERIFIER, Verifier.cosignature(NAME, SIGNER.public_key)
    assert e.key_id != c.key_id and c.sig_type == SIG_COSIGNATURE_V1
    assert c.key_id == hashlib.sha256(NAME.encode() + b"\n\x04" + SIGNER.public_key).digest()[:4]


def _vkey(name: str, sig_type: int, pub: bytes, kid: bytes | None = None) -> str:
    kid = key_id(name, sig_type, pub) if kid is None else kid
    return f"{name}+{kid.hex()}+{base64.b64encode(bytes([sig_type]) + pub).decode()}"


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "example.com/log/testdata",
        "example.com/log/testdata+33d7b496",
        "example.com/log/testdata+33D7B496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",  # uppercase hex
        "example.com/log/testdata+33d7b49+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",  # 7 digits
        "example.com/log/testdata+33d7 b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",  # fromhex would accept
        "example.com/log/testdata+33d7b497+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",  # wrong key id
        "example.com/log/testdatb+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",  # other name
        "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSy",  # spare bits
        "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkS",  # unpadded
        "example.com/log/testdata+33d7b496+ AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",
        " example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",
        "+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx",
        "x+00000000+",
    ],
)
def test_malformed_vkeys_are_refused(vkey):
    with pytest.raises(MalformedError):
        Verifier.from_vkey(vkey)


@pytest.mark.parametrize("sig_type", [0x00, 0x02, 0x03, 0x05, 0x06, 0xFF])
def test_vkeys_of_other_signature_types_are_refused(sig_type):
    with pytest.raises(MalformedError, match="not supported"):
        Verifier.from_vkey(_vkey("edu.example/k", sig_type, SIGNER.public_key))


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_vkeys_with_a_wrong_key_length_are_refused(size):
    with pytest.raises(MalformedError):
        Verifier.from_vkey(_vkey("edu.example/k", SIG_ED25519, b"\x01" * size))


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\u2003b", "a\u3000b", "a\tb", "a\nb", "a\x00b", "a\ud800b"])
def test_key_names_with_spaces_plus_or_controls_are_refused(name):
    with pytest.raises(MalformedError):
        Verifier.ed25519(name, SIGNER.public_key)
    with pytest.raises(ValueError):
        sign_note("x\n", name, SIGNER)


def test_verifier_constructor_enforces_its_invariants():
    with pytest.raises(ValueError):
        Verifier(NAME, SIG_ED25519, SIGNER.public_key, b"\x00\x00\x00\x00")
    with pytest.raises(ValueError):
        Verifier(NAME, 0x02, SIGNER.public_key, key_id(NAME, 0x02, SIGNER.public_key))
    with pytest.raises(MalformedError):
        Verifier.ed25519(NAME, b"\x00" * 31)


# --- parsing ---------------------------------------------------------------------------


def test_go_example_parses_and_round_trips():
    note = parse_note(GO_NOTE)
    assert note.text == GO_TEXT and note.to_bytes() == GO_NOTE
    (sig,) = note.signatures
    assert sig.name == "PeterNeumann" and sig.key_id.hex() == "c74f20a3" and len(sig.signature) == 64


def test_the_last_blank_line_separates_text_from_signatures():
    text = "one\n\ntwo\n\n\nthree\n"
    note = parse_note(signed(text))
    assert note.text == text and len(note.signatures) == 1
    assert parse_note(signed("\n")).text == "\n"


def test_del_and_non_ascii_are_allowed_as_the_spec_says():
    text = "caf\u00e9 \u2014 \x7f \U0001f600\n"
    assert verify_note(signed(text), [VERIFIER]).text == text


GOOD = signed("hello\n")
_LINE = GOOD.split(b"\n\n", 1)[1]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello\n",
        b"hello\n\n",
        b"hello\n\n\n",
        GOOD[:-1],  # no final newline
        GOOD.replace(b"\n\n", b"\n"),  # no blank line
        GOOD + b"\n",  # trailing blank line: the signature block is then empty
        b"hello\n\n" + _LINE.replace("\u2014".encode(), "\u2013".encode()),  # en dash
        b"hello\n\n" + _LINE.replace("\u2014 ".encode(), "\u2014".encode()),  # no space after the dash
        b"hello\n\n" + _LINE.replace(b" ", b"  ", 1),
        b"hello\n\n" + _LINE.replace(NAME.encode(), b"edu.example\xc2\xa0log"),  # NBSP in the name
        b"hello\n\n" + _LINE.replace(NAME.encode(), b"edu+log"),
        b"hello\n\n" + _LINE[:-2] + b"\n",  # base64 cut
        b"hello\n\n" + _LINE[:-1] + b" \n",
        b"hello\r\n\n" + _LINE,  # CR
        b"hel\tlo\n\n" + _LINE,  # tab
        b"hel\x00lo\n\n" + _LINE,
        b"hel\xfflo\n\n" + _LINE,  # invalid UTF-8
        b"hel\xc0\xafo\n\n" + _LINE,  # overlong encoding
        b"hel\xed\xa0\x80o\n\n" + _LINE,  # UTF-8 encoded surrogate
        "hello\n\n\u2014 edu.example/log AAAAAA==\n".encode(),  # 4 bytes: a key id and no signature
        "hello\n\n\u2014 edu.example/log \n".encode(),
    ],
)
def test_malformed_notes_are_refused(data):
    with pytest.raises(MalformedError):
        parse_note(data)
    with pytest.raises(MalformedError):
        verify_note(data, [VERIFIER])


def test_a_five_byte_signature_parses_but_does_not_verify_for_a_known_key():
    kid = base64.b64encode(VERIFIER.key_id + b"\x00").decode()
    data = f"hello\n\n\u2014 {NAME} {kid}\n".encode()
    assert len(parse_note(data).signatures[0].signature) == 1
    with pytest.raises(SignatureError):
        verify_note(data, [VERIFIER])


def test_base64_spare_bits_must_be_zero():
    # 4 + 64 bytes = 22 groups of 3 + 2 bytes: the last character before '=' has 2 spare bits.
    line = _LINE.decode()
    b64 = line.split(" ")[2].rstrip("\n")
    assert b64.endswith("=") and not b64.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(b64[-2])
    respelled = b64[:-2] + alphabet[last ^ 0b01] + "="
    assert base64.b64decode(respelled) == base64.b64decode(b64)  # a lenient decoder sees the same bytes
    data = b"hello\n\n" + line.replace(b64, respelled).encode()
    with pytest.raises(MalformedError, match="canonical"):
        verify_note(data, [VERIFIER])


def test_signature_count_limit():
    sig = sign_note("hello\n", NAME, SIGNER)
    others = [NoteSignature(f"other.example/{i}", b"\x00\x00\x00\x00", b"\x01" * 64) for i in range(MAX_SIGNATURES - 1)]
    ok = Note("hello\n", (sig, *others)).to_bytes()
    assert len(verify_note(ok, [VERIFIER]).signatures) == MAX_SIGNATURES
    too_many = ok + others[0].line().encode()
    with pytest.raises(MalformedError, match="signature lines"):
        parse_note(too_many)


def test_size_limit():
    big = ("x" * 1000 + "\n") * (MAX_NOTE_BYTES // 1001 + 1)
    with pytest.raises(MalformedError, match="bytes"):
        parse_note(signed(big))


def test_parse_signature_line():
    sig = sign_note("hello\n", NAME, SIGNER)
    assert parse_signature_line(sig.line()) == sig == parse_signature_line(sig.line().encode().rstrip(b"\n"))
    for bad in ("", "\u2014 ", sig.line() + "x\n", sig.line().replace("\u2014", "-")):
        with pytest.raises(MalformedError):
            parse_signature_line(bad)


def test_note_and_signature_constructors_enforce_invariants():
    sig = sign_note("hello\n", NAME, SIGNER)
    with pytest.raises(ValueError):
        Note("hello", (sig,))
    with pytest.raises(ValueError):
        Note("hello\n", ())
    with pytest.raises(ValueError):
        Note("he\rllo\n", (sig,))
    with pytest.raises(ValueError):
        NoteSignature(NAME, b"\x00" * 3, b"\x01")
    with pytest.raises(ValueError):
        NoteSignature("a b", b"\x00" * 4, b"\x01")
    with pytest.raises(ValueError):
        sign_note("no newline", NAME, SIGNER)


# --- verification ----------------------------------------------------------------------


def test_go_example_verifies_with_its_vkey():
    note = verify_note(GO_NOTE, [Verifier.from_vkey(GO_VKEY)])
    assert note.text == GO_TEXT


def test_lines_by_unknown_keys_are_ignored():
    go = Verifier.from_vkey(GO_VKEY)
    doubly = (GO_TEXT + "\n" + GO_SIG + GO_ENOCH).encode()  # EnochRoot: not known, ignored
    assert len(verify_note(doubly, [go]).signatures) == 2
    # Same name with another key id, and same key id with another name: both unknown, both ignored.
    same_name = NoteSignature("PeterNeumann", b"\x00\x00\x00\x00", b"\x02" * 64)
    same_id = NoteSignature("PeterNeumann2", go.key_id, b"\x02" * 64)
    data = (GO_TEXT + "\n" + same_name.line() + GO_SIG + same_id.line()).encode()
    assert verify_note(data, [go]).text == GO_TEXT


def test_a_failing_line_by_a_known_key_rejects_the_note():
    bad = NoteSignature(NAME, VERIFIER.key_id, b"\x00" * 64)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_note(signed("hello\n", bad), [VERIFIER])
    # Even a duplicate of a valid line is checked: a forged second line is not skipped.
    with pytest.raises(SignatureError):
        verify_note(Note("hello\n", (bad, sign_note("hello\n", NAME, SIGNER))).to_bytes(), [VERIFIER])


def test_no_signature_by_a_known_key_is_rejected():
    other = Verifier.ed25519("edu.example/other", RawSigner().public_key)
    with pytest.raises(SignatureError, match="no signature by a trusted key"):
        verify_note(signed("hello\n"), [other])


def test_the_signature_covers_the_exact_text():
    sig = sign_note("hello\n", NAME, SIGNER)
    with pytest.raises(SignatureError):
        verify_note(Note("hellO\n", (sig,)).to_bytes(), [VERIFIER])


def test_a_cosignature_line_is_not_an_ed25519_note_signature():
    # Same key and name, type 0x04: another key id, so it is an unknown line for a 0x01 verifier.
    line = cosign("hello\n", NAME, SIGNER, 1)
    with pytest.raises(SignatureError, match="no signature"):
        verify_note(Note("hello\n", (line,)).to_bytes(), [VERIFIER])


def test_verifier_list_misuse_is_a_value_error():
    with pytest.raises(ValueError):
        verify_note(signed("hello\n"), [])
    with pytest.raises(ValueError):
        verify_note(signed("hello\n"), [Verifier.cosignature(NAME, SIGNER.public_key)])


def test_multiple_verifiers_any_one_suffices():
    other = RawSigner()
    ov = Verifier.ed25519("edu.example/other", other.public_key)
    data = signed("hello\n", sign_note("hello\n", "edu.example/other", other))
    assert verify_note(data, [ov]).text == verify_note(data, [VERIFIER, ov]).text == "hello\n"


# --- fuzzing ---------------------------------------------------------------------------

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_only_ever_raise_domain_errors(data):
    try:
        verify_note(data, [VERIFIER])
    except (MalformedError, SignatureError):
        pass
    try:
        note = parse_note(data)
    except MalformedError:
        return
    assert note.to_bytes() == data  # anything that parses re-serialises to the same bytes


@FUZZ
@given(st.data())
def test_mutated_notes_only_ever_raise_domain_errors(data):
    raw = bytearray(signed("edu.example/log\n42\n" + "A" * 43 + "=\n"))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["set", "insert", "delete"]))
        i = data.draw(st.integers(0, len(raw) - 1))
        if op == "set":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw.insert(i, data.draw(st.integers(0, 255)))
        elif len(raw) > 1:
            del raw[i]
    try:
        note = verify_note(bytes(raw), [VERIFIER])
    except (MalformedError, SignatureError):
        return
    # If it still verifies, the signed text and the signature are what was signed.
    assert note.text == "edu.example/log\n42\n" + "A" * 43 + "=\n"


@FUZZ
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="".join(map(chr, range(0x20)))), max_size=50))
def test_any_valid_text_signs_and_verifies(line):
    text = line + "\n"
    data = signed(text)
    assert parse_note(data).to_bytes() == data
    assert verify_note(data, [VERIFIER]).text == text
