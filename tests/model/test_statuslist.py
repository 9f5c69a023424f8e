"""Bitstring status lists in the model: the encoding (W3C Bitstring Status List v1.0 §2.1), bounded decoding,
slot allocation, and the registry's rules (a slot is taken once; a published list equals the ledger's bits)."""

from __future__ import annotations

import base64
import gzip
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ConflictError, MalformedError
from ledger.model import statuslist
from ledger.model.statuslist import LIST_BITS, SLOTS_PER_LIST, allocate, decode_bits, encode_bits
from ledger.tlog.canonical import canonical_digest


@settings(max_examples=60, deadline=None)
@given(st.sets(st.integers(0, LIST_BITS - 1), max_size=300))
def test_encoding_round_trips(bits):
    assert decode_bits(encode_bits(bits)) == bits


def test_index_zero_is_the_most_significant_bit_of_the_first_byte():
    raw = gzip.decompress(base64.urlsafe_b64decode(encode_bits({0, 9})[1:] + "=="))
    assert len(raw) == LIST_BITS // 8 and raw[0] == 0x80 and raw[1] == 0x40 and not any(raw[2:])


def test_a_list_of_its_most_revoked_slots_still_fits_one_entry():
    bits = set(random.Random(7).sample(range(LIST_BITS), SLOTS_PER_LIST))
    assert len(encode_bits(bits)) < statuslist.MAX_ENCODED


def _u(raw: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "encoded",
    [
        None,
        17,
        "",
        "z" + encode_bits(())[1:],  # another multibase
        "u!!!!",
        _u(b"not gzip at all"),
        _u(gzip.compress(b"\x00" * (LIST_BITS // 8 - 1))),  # one byte short
        _u(gzip.compress(b"\x00" * (LIST_BITS // 8 + 1))),  # one byte long
        _u(gzip.compress(b"\x00" * (LIST_BITS // 8)) + b"trailing"),
        _u(gzip.compress(b"\x00" * (64 << 20))),  # a bomb: 64 MiB of zeros (stops after 16 KiB)
        "u" + "A" * (statuslist.MAX_ENCODED + 1),
    ],
    ids=["none", "int", "empty", "base58", "bad-base64", "not-gzip", "short", "long", "trailing", "bomb", "too-long"],
)
def test_decoding_refuses_anything_but_one_list(encoded):
    with pytest.raises(MalformedError):
        decode_bits(encoded)


def test_allocation_picks_free_distinct_slots_and_moves_on_when_a_list_is_full():
    taken = {0: set(range(SLOTS_PER_LIST - 3)), 1: {5}}
    slots = allocate(taken, 10, rng=random.Random(1))
    assert len(set(slots)) == 10
    assert [n for n, _ in slots].count(0) == 3 and all(n in (0, 1) for n, _ in slots)
    assert all(i not in taken.get(n, ()) for n, i in slots)
    assert all(0 <= i < LIST_BITS for _, i in slots)


# --- the registry's rules (a sample network in memory) ---------------------------------------------


@pytest.fixture
def net():
    from ledger.cli.sample_network import SampleNetwork

    return SampleNetwork()


def _anchor(net, cred, slot):
    from ledger.model.issuance import anchor_statement
    from ledger.tlog.timefmt import parse_time

    return anchor_statement(net.network, "olymp-1", digest=canonical_digest(cred).hex(), kind="olympiad-diploma", issued_at=parse_time(cred["validFrom"]), slot=slot)


def _publish(net, bits, number=0, url=None):
    from ledger.model.issuance import status_publish_statement
    from verifier.statuslist import publication

    body = publication(net.signing["olymp-1"], network_url="https://edu.example", institution="olymp-1", number=number, bits=bits, created=net.now)
    if url:
        body["id"] = url
    return status_publish_statement(net.network, "olymp-1", body)


def test_a_slot_is_taken_once_and_a_published_list_must_equal_the_ledger(net):
    a, b = net.credential("olympiad-diploma"), net.credential("olympiad-diploma", holder_name="Петров Пётр")
    reg = net.registry
    net.append("olymp-1", [_anchor(net, a, (0, 77))])
    with pytest.raises(ConflictError, match="slot 0/77"):
        net.append("olymp-1", [_anchor(net, b, (0, 77))])
    net.append("olymp-1", [_anchor(net, b, (0, 78))])
    assert reg.status_slots[canonical_digest(a).hex()] == (0, 77)
    net.append("olymp-1", [_publish(net, set())])  # the empty list: nothing revoked yet
    with pytest.raises(ConflictError, match="does not match the ledger"):
        net.append("olymp-1", [_publish(net, {78})])  # says b is revoked: it is not
    net.revoke(a, institution="olymp-1")
    with pytest.raises(ConflictError, match="does not match the ledger"):
        net.append("olymp-1", [_publish(net, set())])  # hides a's revocation
    (index,) = net.append("olymp-1", [_publish(net, {77})])
    assert reg.status_published[("olymp-1", 0)] == index and reg.status_list_bits("olymp-1", 0) == {77}


def test_a_list_is_published_only_at_its_own_address(net):
    from ledger.errors import AuthorizationError

    with pytest.raises(AuthorizationError, match="status/olymp-1/0"):
        net.append("olymp-1", [_publish(net, set(), url="https://edu.example/status/school-1/0")])


def test_the_sample_networks_status_lists_follow_issue_revoke_and_supersede():
    """``make examples`` issues with status lists (SampleNetwork(status=True)): each list is published empty
    before its first anchor, then again with every revocation and supersession, and every publication verifies."""
    from ledger.cli.sample_network import SampleNetwork
    from verifier.dataintegrity import verify_proof
    from verifier.statuslist import list_credential, slot_numbers

    net = SampleNetwork(status=True)
    a, b, c = (net.credential(holder_name=name) for name in ("А", "Б", "В"))
    indices = net.issue_many([a, b, c], institution="olymp-1")
    assert [net.entry(i).statement.kind for i in indices] == ["credential.anchor"] * 3
    assert ("olymp-1", 0) in net.registry.status_published and len({slot_numbers(x) for x in (a, b, c)}) == 3
    net.revoke(a)
    net.supersede(b, c)
    published = net.entry(net.registry.status_published[("olymp-1", 0)]).statement.body
    listed = list_credential("olymp-1", published)
    verify_proof(listed, net.signing["olymp-1"].public_key)
    assert decode_bits(listed["credentialSubject"]["encodedList"]) == {slot_numbers(a)[1], slot_numbers(b)[1]}
