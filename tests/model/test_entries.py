"""Entries: validation of every kind, canonical leaf bytes, and batch signatures."""

from __future__ import annotations

import json

import pytest

from ledger.errors import MalformedError, SignatureError
from ledger.model.entries import Entry, Statement, entry_from_json, parse_entry, sign_batch, verify_batch_signature, verify_entry_signature
from ledger.tlog.encoding import b64e
from tests.keyutil import RawSigner

NET = "edu.example/test"


def anchor(i: int, inst: str = "school-1") -> Statement:
    return Statement(NET, "credential.anchor", inst, {"digest": f"{i:064x}", "type": "olympiad-diploma", "issued_at": "2026-01-01T00:00:00Z"})


def test_batch_of_many_entries_verifies_with_one_signature():
    signer = RawSigner()
    entries = sign_batch([anchor(i) for i in range(37)], signer)
    assert len({e.auth.signature for e in entries}) == 1
    verify_batch_signature(entries)
    for e in entries:
        verify_entry_signature(parse_entry(e.to_bytes()))


def test_single_entry_batch_has_empty_proof():
    (e,) = sign_batch([anchor(1)], RawSigner())
    assert e.auth.batch_proof == () and e.auth.batch_size == 1
    verify_entry_signature(e)


def test_entry_bytes_are_canonical_and_round_trip():
    (e,) = sign_batch([anchor(5)], RawSigner())
    data = e.to_bytes()
    assert parse_entry(data).to_bytes() == data
    pretty = json.dumps(json.loads(data), indent=2).encode()
    with pytest.raises(MalformedError, match="canonical"):
        parse_entry(pretty)


def test_statement_changed_after_signing_is_refused():
    (e,) = sign_batch([anchor(5)], RawSigner())
    j = e.to_json()
    j["body"]["digest"] = f"{6:064x}"
    with pytest.raises(SignatureError):
        verify_entry_signature(entry_from_json(j))


def test_entry_moved_to_another_batch_position_is_refused():
    entries = sign_batch([anchor(i) for i in range(4)], RawSigner())
    j = entries[1].to_json()
    j["auth"]["batch"]["index"] = 2
    with pytest.raises(SignatureError):
        verify_entry_signature(entry_from_json(j))


def test_signature_by_other_key_is_refused():
    (e,) = sign_batch([anchor(5)], RawSigner())
    j = e.to_json()
    j["auth"]["key"] = b64e(RawSigner().public_key)
    with pytest.raises(SignatureError):
        verify_entry_signature(entry_from_json(j))


def test_mixed_batches_are_refused_as_one_batch():
    a = sign_batch([anchor(1), anchor(2)], RawSigner())
    b = sign_batch([anchor(3), anchor(4)], RawSigner())
    with pytest.raises(MalformedError):
        verify_batch_signature([a[0], b[1]])


@pytest.mark.parametrize(
    "kind, body, message",
    [
        ("credential.anchor", {"digest": "zz", "type": "x", "issued_at": "2026-01-01T00:00:00Z"}, "digest"),
        ("credential.anchor", {"digest": "0" * 64, "type": "x", "issued_at": "2026-13-01T00:00:00Z"}, "real date"),
        ("credential.anchor", {"digest": "0" * 64, "type": "x", "issued_at": "2026-01-01 00:00:00"}, "RFC 3339"),
        ("credential.anchor", {"digest": "0" * 64, "type": "x", "issued_at": "2026-01-01T00:00:00Z", "name": "Ivan"}, "unknown field"),
        ("credential.revoke", {"digest": "0" * 64, "reason": "because"}, "reason"),
        ("credential.supersede", {"digest": "0" * 64, "by": "0" * 64}, "itself"),
        ("key.add", {"key": "AAAA", "valid_from": "2026-01-01T00:00:00Z"}, "bytes"),
        ("key.rotate", {"old": b64e(b"\x01" * 32), "new": b64e(b"\x01" * 32), "valid_from": "2026-01-01T00:00:00Z"}, "different"),
        ("institution.register", {"id": "X", "name": "n", "type": "school", "signing_key": "", "witness_vkey": "v"}, "identifier"),
        ("nonsense", {}, "unknown entry kind"),
    ],
)
def test_invalid_bodies_are_refused_with_a_clear_message(kind, body, message):
    with pytest.raises(MalformedError, match=message):
        Statement(NET, kind, "school-1", body)


def test_entry_with_personal_looking_extra_field_is_refused():
    (e,) = sign_batch([anchor(1)], RawSigner())
    j = e.to_json()
    j["holder"] = "Иванов Иван"
    with pytest.raises(MalformedError, match="unknown entry field"):
        entry_from_json(j)


def test_unsigned_entry_is_refused_outside_genesis():
    j = anchor(1).to_json()
    with pytest.raises(MalformedError, match="no auth"):
        entry_from_json(j)
    assert entry_from_json(j, allow_genesis=True).auth is None


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"v":2}', b"\xff\xfe", b"1" * 20000])
def test_garbage_leaf_data_is_malformed(data):
    with pytest.raises(MalformedError):
        parse_entry(data)


def test_entry_equality_ignores_cached_bytes():
    (e,) = sign_batch([anchor(1)], RawSigner())
    assert parse_entry(e.to_bytes()) == Entry(e.statement, e.auth)


def test_bytes_kept_from_a_submission_equal_the_rebuilt_canonical_bytes():
    entries = sign_batch([anchor(i) for i in range(5)], RawSigner())
    for e in entries:
        parsed = entry_from_json(json.loads(json.dumps(e.to_json(), indent=1)))
        rebuilt = Entry(parsed.statement, parsed.auth)
        assert parsed.to_bytes() == rebuilt.to_bytes() == e.to_bytes()


def test_version_must_be_the_integer_one():
    (e,) = sign_batch([anchor(1)], RawSigner())
    for v in (True, 1.0, "1"):
        j = e.to_json()
        j["v"] = v
        with pytest.raises(MalformedError):
            entry_from_json(j)


def test_partial_batch_is_verified_by_folding_each_proof():
    entries = sign_batch([anchor(i) for i in range(9)], RawSigner())
    verify_batch_signature(entries[2:5])
    j = entries[3].to_json()
    j["auth"]["batch"]["proof"][0] = b64e(b"\x07" * 32)
    with pytest.raises(SignatureError):
        verify_batch_signature([entries[2], entry_from_json(j)])
    with pytest.raises(SignatureError):
        verify_batch_signature([*entries[:3], entry_from_json(j), *entries[4:]])


BODIES = [
    ("credential.anchor", {"digest": "ab" * 32, "type": "teacher-pd", "issued_at": "2026-02-03T04:05:06Z"}),
    ("credential.revoke", {"digest": "cd" * 32, "reason": "issued-in-error"}),
    ("credential.supersede", {"digest": "01" * 32, "by": "02" * 32}),
    ("key.add", {"key": b64e(RawSigner().public_key), "valid_from": "2026-01-01T00:00:00Z"}),
]


@pytest.mark.parametrize("size", [1, 2, 3, 8, 33])
@pytest.mark.parametrize(("kind", "body"), BODIES, ids=[k for k, _ in BODIES])
def test_composed_entry_bytes_equal_the_rfc8785_reference(kind, body, size):
    import rfc8785

    statements = [Statement(NET, kind, "school-1", {**body, **({"digest": f"{i:064x}"} if "digest" in body else {})}) for i in range(size)]
    if kind == "key.add":
        statements = [Statement(NET, kind, "school-1", {"key": b64e(RawSigner().public_key), "valid_from": body["valid_from"]}) for _ in range(size)]
    for e in sign_batch(statements, RawSigner()):
        assert e.to_bytes() == rfc8785.dumps(e.to_json())
        assert entry_from_json(json.loads(e.to_bytes())).to_bytes() == e.to_bytes()


def test_a_shared_base64_memo_gives_the_same_entries_and_still_refuses_bad_values():
    entries = sign_batch([anchor(i) for i in range(20)], RawSigner())
    memo: dict[str, bytes] = {}
    parsed = [entry_from_json(json.loads(e.to_bytes()), memo=memo) for e in entries]
    assert parsed == entries and [p.to_bytes() for p in parsed] == [e.to_bytes() for e in entries]
    assert len(memo) < 20 * 5  # key, signature and shared proof hashes decoded once
    # a string already decoded as a 32-byte proof hash is still refused where 64 bytes are due
    j = entries[0].to_json()
    j["auth"]["sig"] = j["auth"]["batch"]["proof"][0]
    with pytest.raises(MalformedError, match="auth.sig"):
        entry_from_json(j, memo=memo)
    j = entries[0].to_json()
    j["auth"]["batch"]["proof"][0] = j["auth"]["batch"]["proof"][0].rstrip("=") + "A"
    with pytest.raises(MalformedError, match="auth.batch.proof"):
        entry_from_json(j, memo=memo)


def test_a_batch_proof_of_the_wrong_length_is_malformed_and_names_the_entry():
    entries = sign_batch([anchor(i) for i in range(6)], RawSigner())
    j = entries[4].to_json()
    j["auth"]["batch"]["proof"].append(b64e(bytes(32)))
    with pytest.raises(MalformedError, match="batch proof of entry 4"):
        verify_batch_signature([*entries[:4], entry_from_json(j), entries[5]])


def test_a_full_batch_with_one_foreign_entry_names_it():
    entries = sign_batch([anchor(i) for i in range(6)], RawSigner())
    j = entries[2].to_json()
    j["body"]["digest"] = f"{99:064x}"
    with pytest.raises(SignatureError, match="entry 2 of the batch"):
        verify_batch_signature([*entries[:2], entry_from_json(j), *entries[3:]])
