"""Submissions (ledger/model/submission.py): the compact batch form against sign_batch, byte for byte.

A compact batch carries statements and one signature; the node rebuilds the batch
tree and derives each entry's index and proof. These tests hold it to the entries
``sign_batch`` makes, check ``statement_fast`` against the ``Statement`` constructor
and rfc8785, refuse every tampering with the exact error subclass, and run the
whole path through HTTP on a real node.

The reference for a compact batch (``compact`` below) is built independently of
the code under test: statement bytes from rfc8785, the root from ``merkle.root``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections import Counter
from pathlib import Path
from types import MappingProxyType

import pytest
import rfc8785
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.keyfile import load_signer
from ledger.errors import AuthorizationError, MalformedError, SignatureError
from ledger.model.entries import (
    KEY_REVOCATION_REASONS,
    MAX_BATCH,
    REVOCATION_REASONS,
    Entry,
    Statement,
    batch_message,
    parse_entry,
    sign_batch,
    statement_fast,
    verify_batch_signature,
)
from ledger.model.receipts import Receipt, Rejection
from ledger.model.submission import (
    MAX_SUBMISSION,
    batch_entries,
    parse_submission,
    results_from_json,
    to_submission,
)
from ledger.node import Node, NodeOptions
from ledger.node.datadir import load_keys
from ledger.storage import open_store
from ledger.tlog import merkle
from ledger.tlog.encoding import b64e
from ledger.tlog.timefmt import format_time
from ledger.tlog.tree import Tree
from portfolio_api.app import create_app
from portfolio_api.settings import Settings
from tests.keyutil import RawSigner
from tests.node.test_node_http import NET as NODE_NET
from tests.node.test_node_http import make_network
from tests.nodeproc import PASSPHRASE

NET = "edu.example/test"
INST = "school-1"
T = "2026-01-01T00:00:00Z"


def signer(n: int = 1) -> RawSigner:
    return RawSigner(hashlib.sha256(b"signer %d" % n).digest())


def key32(i: int) -> str:
    """A base64 Ed25519 public key (any 32 bytes pass the key check), distinct per i."""
    return b64e(hashlib.sha256(b"key %d" % i).digest())


def digest(i: int) -> str:
    return f"{i:064x}"


def anchor(i: int, inst: str = INST, network: str = NET) -> Statement:
    return Statement(network, "credential.anchor", inst, {"digest": digest(i), "type": "olympiad-diploma", "issued_at": T})


# One statement of every kind (BODY_CHECKS), by position: anchors take the fast path,
# the rest go through the Statement constructor. The register name is not ASCII.
BODY_OF_KIND = {
    "credential.anchor": lambda i: {"digest": digest(i), "type": "olympiad-diploma", "issued_at": T},
    "credential.revoke": lambda i: {"digest": digest(i), "reason": sorted(REVOCATION_REASONS)[i % len(REVOCATION_REASONS)]},
    "credential.supersede": lambda i: {"digest": digest(i), "by": digest(i + 1)},
    "key.add": lambda i: {"key": key32(i), "valid_from": T},
    "key.rotate": lambda i: {"old": key32(i), "new": key32(i + 1), "valid_from": T},
    "key.revoke": lambda i: {"key": key32(i), "valid_until": T, "reason": sorted(KEY_REVOCATION_REASONS)[i % len(KEY_REVOCATION_REASONS)]},
    "institution.register": lambda i: {"id": f"inst-{i}", "name": f"Школа №{i} «Ё» ✓", "type": "school", "signing_key": key32(i), "witness_vkey": f"w{i}+00000000+AA"},
    "governance.propose": lambda i: {"proposal": f"prop-{i}", "action": "quorum.set", "params": {"quorum": 2}},
    "governance.approve": lambda i: {"proposal": f"prop-{i}"},
}
KINDS = sorted(BODY_OF_KIND)


def statement_of(kind: str, i: int) -> Statement:
    return Statement(NET, kind, INST, BODY_OF_KIND[kind](i))


def mixed(n: int, start: int = 0) -> list[Statement]:
    """Every other statement an anchor, the others cycling through the other kinds."""
    others = [k for k in KINDS if k != "credential.anchor"]
    return [anchor(i) if i % 2 == 0 else statement_of(others[(i // 2) % len(others)], i) for i in range(start, start + n)]


def compact(statements: list[Statement], s: RawSigner) -> dict:
    """The compact batch for ``statements``, signed by ``s``, as a node receives it (JSON round trip)."""
    first = statements[0]
    root = merkle.root([merkle.leaf_hash(rfc8785.dumps(st_.to_json())) for st_ in statements])
    sig = s.sign(batch_message(first.network, first.institution, len(statements), root))
    batch = {
        "v": 1,
        "network": first.network,
        "institution": first.institution,
        "key": b64e(s.public_key),
        "sig": b64e(sig),
        "statements": [{"kind": st_.kind, "body": dict(st_.body)} for st_ in statements],
    }
    return json.loads(json.dumps(batch))


def assert_same_entries(got: list[Entry], want: list[Entry]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.to_bytes() == w.to_bytes()
        assert g.leaf_hash() == w.leaf_hash()
        assert g.statement == w.statement and g.statement.canonical == w.statement.canonical
        assert g.statement.statement_hash == merkle.leaf_hash(w.statement.canonical)
        assert (g.auth.key, g.auth.batch_size, g.auth.batch_index, g.auth.batch_proof, g.auth.signature) == (
            w.auth.key,
            w.auth.batch_size,
            w.auth.batch_index,
            w.auth.batch_proof,
            w.auth.signature,
        )
        assert type(g.auth.batch_proof) is tuple and all(type(h) is bytes for h in g.auth.batch_proof)
        assert g == w


# --- compact batch -> the entries of sign_batch ------------------------------------------------


@pytest.mark.parametrize("content", ["anchors", "mixed"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 37, 256, 1000])
def test_compact_batch_gives_the_entries_of_sign_batch_byte_for_byte(n, content):
    statements = [anchor(i) for i in range(n)] if content == "anchors" else mixed(n)
    s = signer()
    want = sign_batch(statements, s)
    got = batch_entries(compact(statements, s), NET)
    assert_same_entries(got, want)
    # and the bytes stand on their own: canonical, and every proof leads to the signed root
    verify_batch_signature(got)
    for e in got[:: max(1, n // 7)]:
        assert parse_entry(e.to_bytes()).to_bytes() == e.to_bytes() == rfc8785.dumps(e.to_json())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=300), start=st.integers(0, 2**32))
def test_any_compact_batch_of_up_to_300_statements_equals_sign_batch(kinds, start):
    statements = [statement_of(k, start + i) for i, k in enumerate(kinds)]
    s = signer(2)
    assert_same_entries(parse_submission({"batches": [compact(statements, s)]}, NET), sign_batch(statements, s))


def test_several_batches_in_one_submission_keep_their_order_and_their_own_signatures():
    a, b, c = mixed(3), mixed(10, start=100), [anchor(i) for i in range(200, 205)]
    payload = {"batches": [compact(a, signer(1)), compact(b, signer(2)), compact(c, signer(1))]}
    want = sign_batch(a, signer(1)) + sign_batch(b, signer(2)) + sign_batch(c, signer(1))
    assert_same_entries(parse_submission(payload, NET), want)


# --- statement_fast against the Statement constructor --------------------------------------------


def _outcome(make):
    """("ok", statement, canonical bytes) or ("error", exception type, message)."""
    try:
        s = make()
    except Exception as e:  # noqa: BLE001 - the type is part of what is compared
        return ("error", type(e), str(e))
    return ("ok", s, s.canonical)


VALID_ANCHORS = [
    (NET, INST, {"digest": "ab" * 32, "type": "olympiad-diploma", "issued_at": "2026-02-28T23:59:59Z"}),
    (NET, INST, {"issued_at": "2024-02-29T00:00:00Z", "type": "x", "digest": "0" * 64}),  # key order does not matter
    ("a", "abc", {"digest": "f" * 64, "type": "a" * 64, "issued_at": "1970-01-01T00:00:00Z"}),
    ("A.b_c/d-e." + "x" * 100, "a" + "b" * 62 + "c", {"digest": "09af" * 16, "type": "t_1.2-3", "issued_at": "9999-12-31T23:59:59Z"}),
    (NET, INST, MappingProxyType({"digest": "ab" * 32, "type": "x", "issued_at": T})),  # a Mapping, not a dict
    # With the credential's status list slot (ledger/model/statuslist.py).
    (NET, INST, {"digest": "ab" * 32, "type": "x", "issued_at": T, "status_list": 0, "status_index": 0}),
    (NET, INST, {"status_index": 131_071, "status_list": 1_048_575, "digest": "cd" * 32, "type": "x", "issued_at": T}),
]


@pytest.mark.parametrize(("network", "institution", "body"), VALID_ANCHORS)
def test_fast_anchor_statement_equals_the_constructed_one_and_rfc8785(network, institution, body):
    fast = statement_fast(network, "credential.anchor", institution, body)
    slow = Statement(network, "credential.anchor", institution, body)
    assert type(fast) is Statement and fast == slow
    assert (fast.network, fast.kind, fast.institution, dict(fast.body)) == (network, "credential.anchor", institution, dict(body))
    assert fast.canonical == slow.canonical == rfc8785.dumps(slow.to_json())
    assert fast.statement_hash == slow.statement_hash == merkle.leaf_hash(slow.canonical)


_OK = {"digest": "ab" * 32, "type": "olympiad-diploma", "issued_at": T}

INVALID = {
    "digest uppercase": (NET, "credential.anchor", INST, {**_OK, "digest": "AB" * 32}),
    "digest short": (NET, "credential.anchor", INST, {**_OK, "digest": "ab" * 31}),
    "digest long": (NET, "credential.anchor", INST, {**_OK, "digest": "ab" * 33}),
    "digest with newline": (NET, "credential.anchor", INST, {**_OK, "digest": "ab" * 32 + "\n"}),
    "digest int": (NET, "credential.anchor", INST, {**_OK, "digest": 12}),
    "digest null": (NET, "credential.anchor", INST, {**_OK, "digest": None}),
    "digest bytes": (NET, "credential.anchor", INST, {**_OK, "digest": b"ab" * 32}),
    "type uppercase": (NET, "credential.anchor", INST, {**_OK, "type": "Diploma"}),
    "type empty": (NET, "credential.anchor", INST, {**_OK, "type": ""}),
    "type leading dash": (NET, "credential.anchor", INST, {**_OK, "type": "-x"}),
    "type 65 chars": (NET, "credential.anchor", INST, {**_OK, "type": "a" * 65}),
    "type with quote": (NET, "credential.anchor", INST, {**_OK, "type": 'a"b'}),
    "type int": (NET, "credential.anchor", INST, {**_OK, "type": 7}),
    "time impossible date": (NET, "credential.anchor", INST, {**_OK, "issued_at": "2026-02-30T00:00:00Z"}),
    "time month 13": (NET, "credential.anchor", INST, {**_OK, "issued_at": "2026-13-01T00:00:00Z"}),
    "time leap second": (NET, "credential.anchor", INST, {**_OK, "issued_at": "2026-12-31T23:59:60Z"}),
    "time hour 24": (NET, "credential.anchor", INST, {**_OK, "issued_at": "2026-01-01T24:00:00Z"}),
    "time no zone": (NET, "credential.anchor", INST, {**_OK, "issued_at": "2026-01-01T00:00:00"}),
    "time offset": (NET, "credential.anchor", INST, {**_OK, "issued_at": "2026-01-01T00:00:00+00:00"}),
    "time fraction": (NET, "credential.anchor", INST, {**_OK, "issued_at": "2026-01-01T00:00:00.5Z"}),
    "time space": (NET, "credential.anchor", INST, {**_OK, "issued_at": "2026-01-01 00:00:00Z"}),
    "time lowercase z": (NET, "credential.anchor", INST, {**_OK, "issued_at": "2026-01-01T00:00:00z"}),
    "time int": (NET, "credential.anchor", INST, {**_OK, "issued_at": 1767225600}),
    "extra body field": (NET, "credential.anchor", INST, {**_OK, "holder": "Иванов Иван"}),
    "slot list only": (NET, "credential.anchor", INST, {**_OK, "status_list": 0}),
    "slot index only": (NET, "credential.anchor", INST, {**_OK, "status_index": 0}),
    "slot index too large": (NET, "credential.anchor", INST, {**_OK, "status_list": 0, "status_index": 131_072}),
    "slot list negative": (NET, "credential.anchor", INST, {**_OK, "status_list": -1, "status_index": 5}),
    "slot list too large": (NET, "credential.anchor", INST, {**_OK, "status_list": 1 << 20, "status_index": 5}),
    "slot index bool": (NET, "credential.anchor", INST, {**_OK, "status_list": 0, "status_index": True}),
    "slot index string": (NET, "credential.anchor", INST, {**_OK, "status_list": 0, "status_index": "5"}),
    "slot with extra field": (NET, "credential.anchor", INST, {**_OK, "status_list": 0, "holder": "x"}),
    "missing body field": (NET, "credential.anchor", INST, {"digest": "ab" * 32, "type": "x"}),
    "empty body": (NET, "credential.anchor", INST, {}),
    "body list": (NET, "credential.anchor", INST, [["digest", "ab" * 32]]),
    "body string": (NET, "credential.anchor", INST, "body"),
    "body null": (NET, "credential.anchor", INST, None),
    "network empty": ("", "credential.anchor", INST, _OK),
    "network leading dot": (".net", "credential.anchor", INST, _OK),
    "network with space": ("edu example", "credential.anchor", INST, _OK),
    "network 129 chars": ("n" * 129, "credential.anchor", INST, _OK),
    "network int": (5, "credential.anchor", INST, _OK),
    "network null": (None, "credential.anchor", INST, _OK),
    "institution uppercase": (NET, "credential.anchor", "School-1", _OK),
    "institution too short": (NET, "credential.anchor", "ab", _OK),
    "institution underscore": (NET, "credential.anchor", "school_1", _OK),
    "institution trailing dash": (NET, "credential.anchor", "school-", _OK),
    "institution int": (NET, "credential.anchor", 7, _OK),
    "unknown kind": (NET, "credential.nonsense", INST, _OK),
    "kind null": (NET, None, INST, _OK),
    "kind int": (NET, 3, INST, _OK),
    "kind of another body": (NET, "credential.revoke", INST, _OK),
    "bad network and bad kind": ("", "nonsense", INST, _OK),
    "bad institution and bad body": (NET, "credential.anchor", "X", {"digest": 1}),
}


@pytest.mark.parametrize(("network", "kind", "institution", "body"), list(INVALID.values()), ids=list(INVALID))
def test_fast_statement_refuses_what_the_constructor_refuses_with_the_same_message(network, kind, institution, body):
    with pytest.raises(MalformedError) as slow:
        Statement(network, kind, institution, body)
    with pytest.raises(MalformedError) as fast:
        statement_fast(network, kind, institution, body)
    assert type(slow.value) is type(fast.value) is MalformedError
    assert str(fast.value) == str(slow.value)


_ASCII = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=70)


@settings(max_examples=300, deadline=None)
@given(
    network=st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._/-]{0,20}\Z"), _ASCII, st.integers()),
    institution=st.one_of(st.from_regex(r"\A[a-z0-9][a-z0-9.-]{1,10}[a-z0-9]\Z"), _ASCII),
    d=st.one_of(st.binary(min_size=32, max_size=32).map(bytes.hex), _ASCII, st.none()),
    typ=st.one_of(st.from_regex(r"\A[a-z0-9][a-z0-9_.-]{0,10}\Z"), _ASCII),
    at=st.one_of(st.integers(0, 253402300799).map(format_time), _ASCII, st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")),
    extra=st.sampled_from(["none", "drop", "add"]),
)
def test_fast_statement_agrees_with_the_constructor_on_any_anchor_like_input(network, institution, d, typ, at, extra):
    # ASCII only here: the non-ASCII digit case is its own test below.
    body = {"digest": d, "type": typ, "issued_at": at}
    if extra == "drop":
        del body["type"]
    elif extra == "add":
        body["name"] = "x"
    fast = _outcome(lambda: statement_fast(network, "credential.anchor", institution, body))
    slow = _outcome(lambda: Statement(network, "credential.anchor", institution, body))
    assert fast[0] == slow[0] and fast[1:] == slow[1:]
    if slow[0] == "ok":
        assert slow[2] == rfc8785.dumps(slow[1].to_json())
    else:
        assert slow[1] is MalformedError


def test_fast_statement_agrees_with_the_constructor_on_a_time_with_non_ascii_digits():
    body = {"digest": "ab" * 32, "type": "olympiad-diploma", "issued_at": "２０２６-01-01T00:00:00Z"}
    fast = _outcome(lambda: statement_fast(NET, "credential.anchor", INST, body))
    slow = _outcome(lambda: Statement(NET, "credential.anchor", INST, body))
    assert fast[0] == slow[0] and fast[1:] == slow[1:]
    assert slow[:2] == ("error", MalformedError)  # one spelling per instant: ASCII digits only


def test_compact_and_entries_forms_agree_on_a_time_with_non_ascii_digits():
    s = signer()
    entries = [e.to_json() for e in sign_batch([anchor(1), anchor(2)], s)]
    entries[1]["body"]["issued_at"] = "２０２６-01-01T00:00:00Z"
    batch = compact([anchor(1), anchor(2)], s)
    batch["statements"][1]["body"]["issued_at"] = "２０２６-01-01T00:00:00Z"
    assert _submission_outcome({"batches": [batch]}) == _submission_outcome({"entries": entries}) == ("error", MalformedError)


def _submission_outcome(payload):
    try:
        entries = parse_submission(payload, NET)
    except Exception as e:  # noqa: BLE001 - the type is part of what is compared
        return ("error", type(e))
    return ("ok", [e.to_bytes() for e in entries])


# --- refusals of compact batches -----------------------------------------------------------


def _refuse(payload, exc_type, *words):
    """parse_submission refuses ``payload`` with exactly ``exc_type``; the payload is left as it was."""
    before = copy.deepcopy(payload)
    with pytest.raises(exc_type) as e:
        parse_submission(payload, NET)
    assert type(e.value) is exc_type, f"{type(e.value).__name__}: {e.value}"
    for w in words:
        assert w in str(e.value), str(e.value)
    assert payload == before
    return e.value


GOOD = mixed(6)
OTHER = mixed(6, start=50)


def _two_batches(mutate):
    """A good batch 0 and a batch 1 of six statements changed by ``mutate`` (after signing)."""
    bad = compact(GOOD, signer())
    mutate(bad)
    return {"batches": [compact(OTHER, signer(3)), bad]}


def _set(key, value):
    return lambda b: b.__setitem__(key, value)


def _sig_over_another_root(b):
    root = merkle.root([merkle.leaf_hash(rfc8785.dumps(s.to_json())) for s in OTHER])
    b["sig"] = b64e(signer().sign(batch_message(NET, INST, len(GOOD), root)))


def _sig_with_another_size(b):
    root = merkle.root([merkle.leaf_hash(rfc8785.dumps(s.to_json())) for s in GOOD])
    b["sig"] = b64e(signer().sign(batch_message(NET, INST, len(GOOD) + 1, root)))


def _non_canonical_key(b):
    k = b["key"]  # 32 bytes: 43 characters and one '='; the last character carries 2 unused bits
    assert k.endswith("=") and len(k) == 44
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    b["key"] = k[:42] + alphabet[alphabet.index(k[42]) ^ 1] + "="


BATCH_REFUSALS = {
    # the batch's own fields: MalformedError
    "missing sig": (lambda b: b.pop("sig"), MalformedError, "exactly"),
    "missing statements": (lambda b: b.pop("statements"), MalformedError, "exactly"),
    "extra field": (_set("note", "x"), MalformedError, "exactly"),
    "batch with only v": (lambda b: (b.clear(), b.update({"v": 1})), MalformedError, "exactly"),
    "v 2": (_set("v", 2), MalformedError, "version"),
    "v 0": (_set("v", 0), MalformedError, "version"),
    "v true": (_set("v", True), MalformedError, "version"),
    "v float": (_set("v", 1.0), MalformedError, "version"),
    "v string": (_set("v", "1"), MalformedError, "version"),
    "key not base64": (_set("key", "not base64!"), MalformedError, "key"),
    "key not a string": (_set("key", 12), MalformedError, "key"),
    "key 31 bytes": (_set("key", b64e(bytes(31))), MalformedError, "key"),
    "key 33 bytes": (_set("key", b64e(bytes(33))), MalformedError, "key"),
    "key unpadded": (lambda b: b.__setitem__("key", b["key"].rstrip("=")), MalformedError, "key"),
    "key not canonical base64": (_non_canonical_key, MalformedError, "canonical"),
    "sig 63 bytes": (_set("sig", b64e(bytes(63))), MalformedError, "sig"),
    "sig 65 bytes": (_set("sig", b64e(bytes(65))), MalformedError, "sig"),
    "sig not a string": (_set("sig", None), MalformedError, "sig"),
    "no statements": (_set("statements", []), MalformedError, "statements"),
    "statements not a list": (_set("statements", {"0": {}}), MalformedError, "statements"),
    # another network: AuthorizationError
    "another network": (_set("network", "other.example/net"), AuthorizationError, "other.example/net"),
    "network not a string": (_set("network", 5), AuthorizationError, "network"),
    # the signature: SignatureError
    "signed by another key": (_set("key", b64e(signer(9).public_key)), SignatureError, "signature"),
    "signature over another root": (_sig_over_another_root, SignatureError, "signature"),
    "signature over another size": (_sig_with_another_size, SignatureError, "signature"),
    "signature zeroed": (_set("sig", b64e(bytes(64))), SignatureError, "signature"),
    "another institution named": (_set("institution", "school-2"), SignatureError, "signature"),
    "statement changed": (lambda b: b["statements"][1]["body"].__setitem__("reason", "fraud"), SignatureError, "signature"),
    "anchor digest changed": (lambda b: b["statements"][4]["body"].__setitem__("digest", "f" * 64), SignatureError, "signature"),
    "statements reordered": (lambda b: b["statements"].reverse(), SignatureError, "signature"),
    "two statements swapped": (lambda b: b["statements"].insert(1, b["statements"].pop(2)), SignatureError, "signature"),
    "statement dropped": (lambda b: b["statements"].pop(), SignatureError, "signature"),
    "first statement dropped": (lambda b: b["statements"].pop(0), SignatureError, "signature"),
    "statement repeated": (lambda b: b["statements"].append(b["statements"][0]), SignatureError, "signature"),
}


@pytest.mark.parametrize(("mutate", "exc_type", "word"), list(BATCH_REFUSALS.values()), ids=list(BATCH_REFUSALS))
def test_a_tampered_or_malformed_batch_is_refused_with_its_exact_error_naming_the_batch(mutate, exc_type, word):
    _refuse(_two_batches(mutate), exc_type, "batch 1: ", word)


STATEMENT_REFUSALS = {
    "statement not an object": lambda b: b["statements"].__setitem__(3, "credential.anchor"),
    "statement a list": lambda b: b["statements"].__setitem__(3, [GOOD[3].kind, dict(GOOD[3].body)]),
    "statement with an extra field": lambda b: b["statements"][3].__setitem__("v", 1),
    "statement without body": lambda b: b["statements"][3].pop("body"),
    "statement without kind": lambda b: b["statements"][3].pop("kind"),
    "statement of unknown kind": lambda b: b["statements"][3].__setitem__("kind", "credential.nonsense"),
    "statement with a bad digest": lambda b: b["statements"][3]["body"].__setitem__("digest", "AB" * 32),
    "anchor with an impossible date": lambda b: b["statements"][3].update(kind="credential.anchor", body={**_OK, "issued_at": "2026-02-30T00:00:00Z"}),
    "anchor with an extra body field": lambda b: b["statements"][3].update(kind="credential.anchor", body={**_OK, "holder": "x"}),
    "statement body not an object": lambda b: b["statements"][3].__setitem__("body", "x"),
}


@pytest.mark.parametrize("mutate", list(STATEMENT_REFUSALS.values()), ids=list(STATEMENT_REFUSALS))
def test_a_malformed_statement_is_refused_naming_its_batch_and_position(mutate):
    _refuse(_two_batches(mutate), MalformedError, "batch 1: statement 3: ")


def test_an_institution_that_is_not_an_identifier_is_malformed_at_statement_0():
    _refuse(_two_batches(_set("institution", "School 1")), MalformedError, "batch 1: statement 0: ", "institution")


def test_the_statement_errors_are_those_of_the_statement_checks():
    b = compact(GOOD, signer())
    b["statements"][3]["body"]["digest"] = "AB" * 32
    with pytest.raises(MalformedError) as direct:
        Statement(NET, GOOD[3].kind, INST, b["statements"][3]["body"])
    _refuse({"batches": [b]}, MalformedError, f"batch 0: statement 3: {direct.value}")


def test_more_than_max_batch_statements_in_one_batch_are_malformed():
    b = compact(GOOD, signer())
    b["statements"] = [b["statements"][0]] * (MAX_BATCH + 1)
    with pytest.raises(MalformedError) as e:
        batch_entries(b, NET)
    assert type(e.value) is MalformedError and str(MAX_BATCH) in str(e.value)


def test_a_batch_of_exactly_max_batch_statements_is_accepted():
    statements = [anchor(i) for i in range(MAX_BATCH)]
    s = signer()
    got = batch_entries(compact(statements, s), NET)
    assert len(got) == MAX_BATCH
    want = sign_batch(statements, s)
    for k in (0, 1, 4095, 4096, 8191, 8192, MAX_BATCH - 1):
        assert got[k].to_bytes() == want[k].to_bytes()


@pytest.mark.parametrize("form", ["batches", "entries"])
@pytest.mark.parametrize("kind", [[], {}], ids=["list", "object"])
def test_a_statement_whose_kind_is_not_a_string_is_malformed_in_either_form(form, kind):
    s = signer()
    if form == "batches":
        payload = _two_batches(lambda b: b["statements"][3].__setitem__("kind", kind))
        words = ("batch 1: statement 3: ",)
    else:
        entries = [e.to_json() for e in sign_batch(GOOD, s)]
        entries[3]["kind"] = kind
        payload, words = {"entries": entries}, ("entry 3: ",)
    _refuse(payload, MalformedError, *words)


def test_a_statement_that_cannot_be_canonicalised_is_refused_naming_its_position():
    b = compact(mixed(3), signer())
    b["statements"][2] = {"kind": "institution.register", "body": {**BODY_OF_KIND["institution.register"](2), "name": "\ud800"}}
    _refuse({"batches": [b]}, MalformedError, "batch 0: statement 2: ")


# --- parse_submission: the envelope ---------------------------------------------------------------

ENVELOPES = {
    "both keys": lambda: {"batches": [compact(GOOD, signer())], "entries": [e.to_json() for e in sign_batch(GOOD, signer())]},
    "both keys, empty": lambda: {"batches": [], "entries": []},
    "neither key": dict,
    "another key": lambda: {"statements": [compact(GOOD, signer())]},
    "a list": lambda: [compact(GOOD, signer())],
    "a string": lambda: "batches",
    "null": lambda: None,
    "an integer": lambda: 1,
    "batches not a list": lambda: {"batches": compact(GOOD, signer())},
    "entries not a list": lambda: {"entries": {"0": {}}},
    "empty batches": lambda: {"batches": []},
    "empty entries": lambda: {"entries": []},
    "batch not an object": lambda: {"batches": ["x"]},
    "entry not an object": lambda: {"entries": ["x"]},
}


@pytest.mark.parametrize("make", list(ENVELOPES.values()), ids=list(ENVELOPES))
def test_a_submission_that_is_not_one_list_of_entries_or_batches_is_malformed(make):
    _refuse(make(), MalformedError)


def test_batches_totalling_more_than_max_submission_entries_are_malformed_before_any_is_parsed():
    half = MAX_SUBMISSION // 2 + 1
    first = compact([anchor(i) for i in range(half)], signer())
    garbage = {"statements": [{}] * half}  # never looked at: the count alone refuses it
    e = _refuse({"batches": [first, garbage]}, MalformedError, str(MAX_SUBMISSION))
    assert "statement" not in str(e)


def test_batches_totalling_exactly_max_submission_entries_are_accepted():
    half = MAX_SUBMISSION // 2
    payload = {"batches": [compact([anchor(i) for i in range(half)], signer()), compact([anchor(i) for i in range(half, 2 * half)], signer())]}
    assert len(parse_submission(payload, NET)) == MAX_SUBMISSION


def test_more_than_max_submission_entries_are_malformed_before_any_is_parsed():
    _refuse({"entries": [{}] * (MAX_SUBMISSION + 1)}, MalformedError, str(MAX_SUBMISSION))


def test_entries_of_another_network_are_refused_as_unauthorised_in_the_entries_form_too():
    entries = sign_batch([anchor(i, network="other.example/net") for i in range(2)], signer())
    _refuse({"entries": [e.to_json() for e in entries]}, AuthorizationError, "other.example/net")


# --- to_submission round trips --------------------------------------------------------------------


def _round_trip(entries):
    doc = json.loads(json.dumps(to_submission(entries)))
    parsed = parse_submission(doc, NET)
    assert [e.to_bytes() for e in parsed] == [e.to_bytes() for e in entries]
    assert parsed == list(entries)
    return doc


def test_whole_batches_in_order_travel_as_compact_batches_and_come_back_identical():
    a = sign_batch(mixed(7), signer(1))
    b = sign_batch([anchor(i) for i in range(100, 140)], signer(2))
    doc = _round_trip(a + b)
    assert list(doc) == ["batches"] and len(doc["batches"]) == 2
    assert [len(x["statements"]) for x in doc["batches"]] == [7, 40]
    assert doc["batches"][1]["key"] == b64e(signer(2).public_key) and doc["batches"][1]["sig"] == b64e(b[0].auth.signature)


def test_single_entry_batches_travel_as_compact_batches_of_one():
    entries = [e for i in range(5) for e in sign_batch([anchor(i)], signer())]
    doc = _round_trip(entries)
    assert list(doc) == ["batches"] and [len(x["statements"]) for x in doc["batches"]] == [1] * 5


def test_the_same_whole_batch_twice_travels_as_two_compact_batches():
    a = sign_batch(mixed(4), signer())
    doc = _round_trip(a + a)
    assert list(doc) == ["batches"] and len(doc["batches"]) == 2


PARTIAL = {
    "a partial batch": lambda a, b: a[:3],
    "a batch without its first entry": lambda a, b: a[1:],
    "a reordered batch": lambda a, b: [a[1], a[0], *a[2:]],
    "a batch reversed": lambda a, b: a[::-1],
    "a batch with two later entries swapped": lambda a, b: [a[0], a[2], a[1], *a[3:]],
    "a batch with an entry repeated in place of another": lambda a, b: [a[0], a[1], a[1], *a[3:]],
    "a whole batch then a partial one": lambda a, b: a + b[:2],
    "a partial batch then a whole one": lambda a, b: b[:2] + a,
    "two batches interleaved": lambda a, b: [x for pair in zip(a, b) for x in pair],
    "an entry of another batch inside a batch": lambda a, b: [a[0], b[1], *a[2:]],
}


@pytest.mark.parametrize("pick", list(PARTIAL.values()), ids=list(PARTIAL))
def test_anything_but_whole_batches_in_order_falls_back_to_the_entries_form_and_comes_back_identical(pick):
    a = sign_batch(mixed(5), signer(1))
    b = sign_batch(mixed(5, start=20), signer(2))
    doc = _round_trip(pick(a, b))
    assert list(doc) == ["entries"]


def test_results_from_json_gives_receipts_and_rejections():
    lh = bytes(range(32))
    got = results_from_json(
        [
            {"position": 0, "accepted": True, "index": 7, "leaf_hash": b64e(lh), "duplicate": False, "error": None},
            {"position": 1, "accepted": True, "index": 3, "leaf_hash": b64e(lh[::-1]), "duplicate": True},
            {"position": 2, "accepted": False, "index": None, "leaf_hash": None, "error": "AuthorizationError: no"},
        ]
    )
    assert got[:2] == [Receipt(7, lh, False), Receipt(3, lh[::-1], True)]
    assert type(got[2]) is Rejection and got[2].position == 2
    assert type(got[2].error) is AuthorizationError and str(got[2].error) == "AuthorizationError: no"
    with pytest.raises(MalformedError):
        results_from_json([{"accepted": True, "index": 1, "leaf_hash": b64e(bytes(31))}])


# --- all_inclusion_proofs -----------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 131))
def test_all_inclusion_proofs_equal_the_proof_of_each_index(n):
    leaves = [merkle.leaf_hash(b"leaf %d" % i) for i in range(n)]
    want = [tuple(merkle.inclusion_proof(leaves, i)) for i in range(n)]
    tree = Tree(leaves)
    calls: Counter = Counter()

    def subtree(lo, hi):
        calls[(lo, hi)] += 1
        return merkle.root(leaves[lo:hi])

    assert merkle.all_inclusion_proofs(tree.subtree, n) == want
    assert merkle.all_inclusion_proofs(subtree, n) == want
    assert all(c == 1 for c in calls.values())  # every sibling subtree asked for once
    for i in (0, n // 2, n - 1):
        merkle.verify_inclusion(leaves[i], i, n, list(want[i]), tree.root())


@pytest.mark.parametrize("n", [0, -1])
def test_all_inclusion_proofs_of_an_empty_tree_is_a_programmer_mistake(n):
    with pytest.raises(ValueError):
        merkle.all_inclusion_proofs(Tree([merkle.leaf_hash(b"x")]).subtree, n)


# --- through HTTP on a real node ----------------------------------------------------------------

HTTP_NET = NODE_NET  # the three-institution node of tests/node/test_node_http.py


@pytest.fixture
def client(tmp_path: Path):
    data, genesis = make_network(tmp_path)
    node = Node(open_store(f"sqlite:///{data / 'ledger.db'}"), genesis, load_keys(data, PASSPHRASE.encode()), options=NodeOptions(batch_ms=5))
    with TestClient(create_app(Settings(data_dir=data), node=node)) as c:
        c.node = node  # type: ignore[attr-defined]
        c.signer = load_signer(data / "keys" / "school-1.signing.key", PASSPHRASE.encode())[0]  # type: ignore[attr-defined]
        yield c


def http_anchors(n: int, start: int = 0) -> list[Statement]:
    t = format_time(int(time.time()) - 5)
    return [Statement(HTTP_NET, "credential.anchor", INST, {"digest": digest(i), "type": "olympiad-diploma", "issued_at": t}) for i in range(start, start + n)]


def tree_size(client) -> int:
    return client.get("/api/v1/ledger/status").json()["size"]


def post(client, payload):
    return client.post("/api/v1/ledger/entries", json=payload)


def test_a_compact_batch_over_http_stores_exactly_the_sign_batch_entries(client):
    statements = http_anchors(37)
    want = sign_batch(statements, client.signer)
    before = tree_size(client)
    r = post(client, {"batches": [compact(statements, client.signer)]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["position"] for x in results] == list(range(37))
    assert all(x["accepted"] and not x["duplicate"] for x in results)
    assert [x["index"] for x in results] == list(range(before, before + 37))
    stored = client.node.store.entries(before, before + 37)
    assert stored == [e.to_bytes() for e in want]
    assert [x["leaf_hash"] for x in results] == [b64e(merkle.leaf_hash(d)) for d in stored]
    assert client.node.store.leaf_hashes(before, before + 37) == [e.leaf_hash() for e in want]
    assert tree_size(client) == before + 37


def test_a_compact_batch_sent_again_is_acknowledged_as_duplicates_and_appends_nothing(client):
    statements = http_anchors(4, start=500)
    first = post(client, {"batches": [compact(statements, client.signer)]}).json()["results"]
    size = tree_size(client)
    again = post(client, to_submission(sign_batch(statements, client.signer)))
    assert again.status_code == 200
    assert [x["index"] for x in again.json()["results"]] == [x["index"] for x in first]
    assert all(x["duplicate"] for x in again.json()["results"])
    assert tree_size(client) == size


def _tamper_statement(b):
    b["statements"][1]["body"]["digest"] = "f" * 64


def _other_key(b):
    b["key"] = b64e(RawSigner().public_key)


@pytest.mark.parametrize(("mutate", "word"), [(_tamper_statement, "signature"), (_other_key, "signature"), (lambda b: b.update(network="other.example/net"), "other.example/net")])
def test_a_tampered_compact_batch_over_http_is_403_and_appends_nothing(client, mutate, word):
    size = tree_size(client)
    good = compact(http_anchors(3, start=900), client.signer)
    bad = compact(http_anchors(3, start=10), client.signer)
    mutate(bad)
    r = post(client, {"batches": [good, bad]})
    assert r.status_code == 403, r.text
    assert "batch 1" in r.json()["detail"] and word in r.json()["detail"]
    assert tree_size(client) == size  # the good batch before it is not appended either


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda b: b.update(v=2), "batch 0"),
        (lambda b: b.pop("sig"), "batch 0"),
        (lambda b: b.update(sig=b64e(bytes(63))), "batch 0"),
        (lambda b: b["statements"][2].update(extra=1), "batch 0: statement 2"),
        (lambda b: b["statements"][2]["body"].update(issued_at="2026-02-30T00:00:00Z"), "batch 0: statement 2"),
        (lambda b: b.update(statements=[]), "batch 0"),
    ],
    ids=["v 2", "no sig", "short sig", "statement extra field", "impossible date", "no statements"],
)
def test_a_malformed_compact_batch_over_http_is_400_and_appends_nothing(client, mutate, words):
    size = tree_size(client)
    b = compact(http_anchors(3, start=20), client.signer)
    mutate(b)
    r = post(client, {"batches": [b]})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "malformed" and words in r.json()["detail"]
    assert tree_size(client) == size


@pytest.mark.parametrize("payload", [{"batches": []}, {"batches": [], "entries": []}, {}, []])
def test_a_malformed_submission_envelope_over_http_is_400(client, payload):
    size = tree_size(client)
    r = post(client, payload)
    assert r.status_code == 400 and r.json()["error"] == "malformed"
    assert tree_size(client) == size
