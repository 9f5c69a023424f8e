"""cosignature/v1 (C2SP tlog-cosignature) and cosigned checkpoint verification with a quorum."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import MalformedError, PolicyError, QuorumError, SignatureError
from ledger.tlog.checkpoint import Checkpoint, add_signatures, verify_checkpoint
from ledger.tlog.note import (
    MAX_TIMESTAMP,
    Note,
    NoteSignature,
    Verifier,
    cosign,
    cosignature_message,
    parse_note,
    parse_signature_line,
    sign_note,
    verify_cosignature,
)
from tests.keyutil import RawSigner

ORIGIN = "edu.example/network"
LOG = RawSigner(b"\x01" * 32)
LOG_V = Verifier.ed25519(ORIGIN, LOG.public_key)
W = {i: RawSigner(bytes([0x10 + i]) * 32) for i in range(4)}
WNAME = {i: f"{ORIGIN}/witness/w{i}" for i in W}
WV = {i: Verifier.cosignature(WNAME[i], W[i].public_key) for i in W}
TEXT = Checkpoint(ORIGIN, 7, bytes(range(32))).body()
T0 = 1_700_000_000


def log_note(text: str = TEXT) -> bytes:
    return Note(text, (sign_note(text, ORIGIN, LOG),)).to_bytes()


def cosigned(*who: int, text: str = TEXT, at: int = T0) -> bytes:
    return add_signatures(log_note(text), [cosign(text, WNAME[i], W[i], at + i) for i in who])


def exactly(exc_type, fn, *args, **kwargs):
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    assert type(info.value) is exc_type, f"raised {type(info.value).__name__}, want exactly {exc_type.__name__}"
    return info.value


# --- the signed message and the line -------------------------------------------------------


def test_the_signed_message_is_the_spec_one():
    # tlog-cosignature "Ed25519 signed message": header line, timestamp line, then the whole checkpoint text.
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosignature_message(text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_the_spec_example_line_carries_its_timestamp_before_the_signature():
    line = "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    sig = parse_signature_line(line)
    assert len(sig.signature) == 8 + 64
    assert int.from_bytes(sig.signature[:8], "big") == 1679315147  # the "time" line of the spec's example


def test_cosign_and_verify_round_trip():
    sig = cosign(TEXT, WNAME[0], W[0], T0)
    assert sig.key_id == WV[0].key_id and sig.signature[:8] == T0.to_bytes(8, "big")
    # Checked against the primitive directly, not only through our own verifier.
    Ed25519PublicKey.from_public_bytes(W[0].public_key).verify(sig.signature[8:], b"cosignature/v1\ntime %d\n" % T0 + TEXT.encode())
    assert verify_cosignature(TEXT, sig, WV[0]) == T0
    assert verify_cosignature(TEXT, cosign(TEXT, WNAME[0], W[0], 0), WV[0]) == 0
    assert verify_cosignature(TEXT, cosign(TEXT, WNAME[0], W[0], MAX_TIMESTAMP), WV[0]) == MAX_TIMESTAMP


def test_a_tampered_timestamp_is_rejected():
    sig = cosign(TEXT, WNAME[0], W[0], T0)
    for t in (T0 + 1, T0 - 1, 0):
        forged = NoteSignature(sig.name, sig.key_id, t.to_bytes(8, "big") + sig.signature[8:])
        exactly(SignatureError, verify_cosignature, TEXT, forged, WV[0])


def test_a_timestamp_above_2_63_is_rejected():
    sig = cosign(TEXT, WNAME[0], W[0], T0)
    forged = NoteSignature(sig.name, sig.key_id, (1 << 63).to_bytes(8, "big") + sig.signature[8:])
    exactly(SignatureError, verify_cosignature, TEXT, forged, WV[0])
    with pytest.raises(ValueError):
        cosign(TEXT, WNAME[0], W[0], 1 << 63)
    with pytest.raises(ValueError):
        cosign(TEXT, WNAME[0], W[0], -1)


def test_a_cosignature_does_not_verify_for_another_text_or_length():
    sig = cosign(TEXT, WNAME[0], W[0], T0)
    exactly(SignatureError, verify_cosignature, Checkpoint(ORIGIN, 8, bytes(32)).body(), sig, WV[0])
    exactly(SignatureError, verify_cosignature, TEXT, NoteSignature(sig.name, sig.key_id, sig.signature[:-1]), WV[0])
    exactly(SignatureError, verify_cosignature, TEXT, sig, WV[1])  # another witness's key


def test_an_ed25519_signature_is_not_a_cosignature():
    # A plain 0x01 signature by the witness key over the text must not pass as a cosignature.
    plain = sign_note(TEXT, WNAME[0], W[0])
    as_cosig = NoteSignature(WNAME[0], WV[0].key_id, T0.to_bytes(8, "big") + plain.signature)
    exactly(SignatureError, verify_cosignature, TEXT, as_cosig, WV[0])


def test_verify_cosignature_needs_a_cosignature_key():
    with pytest.raises(ValueError):
        verify_cosignature(TEXT, cosign(TEXT, ORIGIN, LOG, T0), LOG_V)


# --- verify_checkpoint ----------------------------------------------------------------------


def test_a_log_signed_checkpoint_verifies_without_witnesses():
    vc = verify_checkpoint(log_note(), log=LOG_V, origin=ORIGIN)
    assert vc.checkpoint == Checkpoint(ORIGIN, 7, bytes(range(32))) and vc.cosigners == frozenset()


def test_quorum_is_met_by_distinct_witnesses():
    vc = verify_checkpoint(cosigned(0, 1, 2), log=LOG_V, witnesses=list(WV.values()), quorum=3, origin=ORIGIN)
    assert vc.cosigners == {WNAME[0], WNAME[1], WNAME[2]}
    assert vc.cosigned_at == {WNAME[i]: T0 + i for i in range(3)}


def test_quorum_error_says_got_and_need():
    e = exactly(QuorumError, verify_checkpoint, cosigned(0), log=LOG_V, witnesses=list(WV.values()), quorum=2)
    assert "has 1 valid" in str(e) and "need 2" in str(e)


def test_a_duplicated_cosignature_counts_once():
    note = parse_note(cosigned(0))
    log_sig, cosig = note.signatures
    doubled = Note(note.text, (log_sig, cosig, cosig, cosig)).to_bytes()
    exactly(QuorumError, verify_checkpoint, doubled, log=LOG_V, witnesses=list(WV.values()), quorum=2)
    # Two different valid lines (two times) by one witness: still one witness, the latest time kept.
    again = cosign(TEXT, WNAME[0], W[0], T0 + 100)
    twice = Note(note.text, (log_sig, cosig, again)).to_bytes()
    vc = verify_checkpoint(twice, log=LOG_V, witnesses=list(WV.values()), quorum=1)
    assert vc.cosigners == {WNAME[0]} and vc.cosigned_at == {WNAME[0]: T0 + 100}
    exactly(QuorumError, verify_checkpoint, twice, log=LOG_V, witnesses=list(WV.values()), quorum=2)


def test_two_trusted_keys_under_one_name_count_once():
    rotated = RawSigner(b"\x77" * 32)
    witnesses = [WV[0], Verifier.cosignature(WNAME[0], rotated.public_key), WV[1]]
    data = add_signatures(cosigned(0), [cosign(TEXT, WNAME[0], rotated, T0)])
    vc = verify_checkpoint(data, log=LOG_V, witnesses=witnesses, quorum=1)
    assert vc.cosigners == {WNAME[0]}
    exactly(QuorumError, verify_checkpoint, data, log=LOG_V, witnesses=witnesses, quorum=2)


def test_a_cosignature_by_an_unknown_witness_is_ignored():
    stranger = RawSigner(b"\x55" * 32)
    data = add_signatures(cosigned(0), [cosign(TEXT, "edu.example/stranger", stranger, T0)])
    vc = verify_checkpoint(data, log=LOG_V, witnesses=[WV[0], WV[1]], quorum=1)
    assert vc.cosigners == {WNAME[0]}
    # A known witness name with an unknown key: ignored too, so it does not count.
    impostor = add_signatures(log_note(), [cosign(TEXT, WNAME[1], stranger, T0)])
    exactly(QuorumError, verify_checkpoint, impostor, log=LOG_V, witnesses=[WV[0], WV[1]], quorum=1)


def test_an_invalid_cosignature_by_a_known_witness_is_a_signature_error():
    good = cosign(TEXT, WNAME[1], W[1], T0)
    bad = NoteSignature(good.name, good.key_id, good.signature[:8] + bytes(64))
    data = add_signatures(cosigned(0), [bad])
    exactly(SignatureError, verify_checkpoint, data, log=LOG_V, witnesses=list(WV.values()), quorum=1)


def test_a_cosignature_over_another_checkpoint_is_a_signature_error():
    other = Checkpoint(ORIGIN, 8, bytes(32)).body()
    data = add_signatures(log_note(), [cosign(other, WNAME[0], W[0], T0)])
    exactly(SignatureError, verify_checkpoint, data, log=LOG_V, witnesses=[WV[0]], quorum=1)


def test_log_signature_is_checked_first():
    forged = Note(TEXT, (NoteSignature(ORIGIN, LOG_V.key_id, bytes(64)),)).to_bytes()
    exactly(SignatureError, verify_checkpoint, forged, log=LOG_V)
    other_log = Verifier.ed25519(ORIGIN, RawSigner().public_key)
    exactly(SignatureError, verify_checkpoint, cosigned(0, 1), log=other_log, witnesses=list(WV.values()), quorum=2)
    # A body that does not parse, but is properly signed, fails at parsing (MalformedError)...
    exactly(MalformedError, verify_checkpoint, log_note(f"{ORIGIN}\n007\n{base64.b64encode(bytes(32)).decode()}\n"), log=LOG_V)
    # ...while the same body without a valid signature fails at the signature, never read.
    body = f"{ORIGIN}\n007\n{base64.b64encode(bytes(32)).decode()}\n"
    exactly(SignatureError, verify_checkpoint, Note(body, (NoteSignature(ORIGIN, LOG_V.key_id, bytes(64)),)).to_bytes(), log=LOG_V)


def test_origin_policy():
    exactly(PolicyError, verify_checkpoint, log_note(), log=LOG_V, origin="edu.example/other")
    # The log key signs a checkpoint of another origin: refused even without an expected origin.
    other = Checkpoint("edu.example/other", 7, bytes(32)).body()
    exactly(PolicyError, verify_checkpoint, log_note(other), log=LOG_V)


def test_api_misuse_is_a_value_error():
    ws = list(WV.values())
    with pytest.raises(ValueError):
        verify_checkpoint(cosigned(0), log=LOG_V, witnesses=ws, quorum=5)
    with pytest.raises(ValueError):
        verify_checkpoint(cosigned(0), log=LOG_V, witnesses=[WV[0], WV[0]], quorum=2)  # one distinct witness
    with pytest.raises(ValueError):
        verify_checkpoint(cosigned(0), log=LOG_V, witnesses=ws, quorum=-1)
    with pytest.raises(ValueError):
        verify_checkpoint(cosigned(0), log=WV[0], witnesses=ws, quorum=1)
    with pytest.raises(ValueError):
        verify_checkpoint(cosigned(0), log=LOG_V, witnesses=[LOG_V], quorum=1)
    with pytest.raises(TypeError):
        verify_checkpoint(cosigned(0), log=LOG_V, witnesses=ws, quorum=True)


def test_add_signatures_dedupes_by_key_and_keeps_order():
    a, b = cosign(TEXT, WNAME[0], W[0], T0), cosign(TEXT, WNAME[1], W[1], T0)
    a_later = cosign(TEXT, WNAME[0], W[0], T0 + 5)
    once = add_signatures(log_note(), [a, b, a_later])
    assert [s.name for s in parse_note(once).signatures] == [ORIGIN, WNAME[0], WNAME[1]]
    assert parse_note(once).signatures[1] == a
    assert add_signatures(once, [a, b]) == once
    vc = verify_checkpoint(once, log=LOG_V, witnesses=[WV[0], WV[1]], quorum=2)
    assert vc.cosigned_at == {WNAME[0]: T0, WNAME[1]: T0}
    with pytest.raises(MalformedError):
        add_signatures(b"not a note", [a])
