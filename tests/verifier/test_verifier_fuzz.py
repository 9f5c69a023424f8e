"""Random mutations of valid bundles: the verifier never raises, never hangs, and never calls a changed credential or receipt valid.

Three mutation levels: raw bytes (flip, delete, insert, truncate, splice), JSON
values anywhere in the document (replace, delete, wrap), and single characters
of the receipt's tlog-proof text (index, proof hashes, entry bytes, checkpoint,
signature lines). The oracle: a report may be ``ok`` only if the credential's
canonical form and the receipt (index, entry bytes, proof hashes, checkpoint
text) are unchanged and every key-history or status proof still carried is one
of the original ones. Dropping a carried entry can still verify: the trust
roster may already hold that key history, and no offline verifier can tell a
dropped revocation from none (that is what ``--online`` is for). A mangled
extra cosignature line is ignored, as C2SP requires for unknown keys, while
the quorum is still met.
"""

from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import EduledgerError
from ledger.tlog.canonical import canonical_bytes
from ledger.tlog.note import parse_note
from ledger.tlog.tlog_proof import parse_tlog_proof
from tests.fixtures_network import LedgerFixture
from verifier import CheckpointCache, verify


@lru_cache(maxsize=1)
def world() -> tuple[LedgerFixture, bytes, bytes, Any]:
    """A network with key history (a rotation) and a superseded credential's replacement, and two bundles."""
    net = LedgerFixture()
    for i in range(5):
        net.issue(net.credential(holder_name=f"Участник {i}"))
    net.now += 60
    net.rotate_key("olymp-1", net.now)
    net.now += 60
    old = net.credential(kind="teacher-pd", institution="ipk-1", valid_until=net.now + 10**8)
    old_index = net.issue(old)
    cred = net.credential()
    index = net.issue(cred)
    new = net.credential(title="Исправленный документ", kind="teacher-pd", institution="ipk-1")
    net.issue(new)
    net.supersede(old, new, institution="ipk-1")
    trust = net.trust()
    return net, net.bundle(cred, index), net.bundle(old, old_index), trust


def _proof(text: str) -> tuple:
    p = parse_tlog_proof(text)
    return p.index, p.extra, p.proof, parse_note(p.checkpoint).text


def signed_content(data: bytes) -> Any:
    """(canonical credential, receipt, set of carried proofs), or None if it does not even parse."""
    try:
        doc = json.loads(data)
        carried = {_proof(t) for t in [*doc["issuer_keys"], *doc["status"]]}
        return canonical_bytes(doc["credential"]), _proof(doc["receipt"]), carried
    except (ValueError, KeyError, TypeError, EduledgerError, RecursionError, UnicodeError):
        return None


def check(mutated: bytes, original: bytes, *, seen: CheckpointCache | None = None) -> None:
    net, _, _, trust = world()
    started = time.perf_counter()
    report = verify(mutated, trust, now=net.now, seen=seen)  # must not raise
    assert time.perf_counter() - started < 2.0
    assert [s.number for s in report.steps] == list(range(1, 10))
    assert not any("could not check this step" in s.message for s in report.steps), report.to_json()
    if report.ok:
        got, want = signed_content(mutated), signed_content(original)
        assert got is not None and got[:2] == want[:2] and got[2] <= want[2], report.to_json()
    json.dumps(report.to_json())


# EDULEDGER_FUZZ_EXAMPLES=20000 for a long run.
SETTINGS = settings(max_examples=int(os.environ.get("EDULEDGER_FUZZ_EXAMPLES", "250")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(data=st.data(), which=st.sampled_from(["revocable", "superseded"]))
def test_byte_mutations(data, which):
    _, good, superseded, _ = world()
    original = good if which == "revocable" else superseded
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        if not mutated:
            break
        op = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate", "splice"]))
        pos = data.draw(st.integers(0, len(mutated) - 1))
        if op == "flip":
            mutated[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "delete":
            del mutated[pos : pos + data.draw(st.integers(1, 8))]
        elif op == "insert":
            mutated[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "truncate":
            del mutated[pos:]
        else:
            src = data.draw(st.integers(0, len(mutated) - 1))
            mutated[pos:pos] = mutated[src : src + data.draw(st.integers(1, 64))]
    check(bytes(mutated), original)


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.just("c2sp.org/tlog-proof@v1\nindex 0\n\nx\n"),
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


@SETTINGS
@given(data=st.data())
def test_json_value_mutations(data):
    _, original, _, _ = world()
    doc = json.loads(original)
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    op = data.draw(st.sampled_from(["replace", "delete", "wrap", "duplicate"]))
    last = path[-1]
    if op == "replace":
        parent[last] = data.draw(json_leaf)
    elif op == "delete":
        del parent[last]
    elif op == "wrap":
        parent[last] = [parent[last]]
    elif isinstance(parent, list):
        parent.insert(last, parent[last])
    else:
        parent[str(last) + "_"] = parent[last]
    try:
        mutated = json.dumps(doc, ensure_ascii=False).encode()
    except ValueError:
        return
    check(mutated, original)


@SETTINGS
@given(data=st.data(), field=st.sampled_from(["receipt", "issuer_keys", "status"]))
def test_tlog_proof_text_mutations(data, field):
    _, good, superseded, _ = world()
    original = good if field != "status" else superseded
    doc = json.loads(original)
    holder, key = (doc, "receipt") if field == "receipt" else (doc[field], data.draw(st.integers(0, len(doc[field]) - 1)))
    text = holder[key]
    pos = data.draw(st.integers(0, len(text) - 1))
    replacement = data.draw(st.sampled_from(["0", "1", "A", "/", "+", "=", "\n", " ", "", "—", "9"]))
    holder[key] = text[:pos] + replacement + text[pos + 1 :]
    check(json.dumps(doc, ensure_ascii=False).encode(), original)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_crash(data):
    _, original, _, _ = world()
    check(data, original)


def test_a_shared_cache_does_not_let_a_mutation_through_after_a_valid_bundle():
    net, good, _, trust = world()
    seen = CheckpointCache(trust)
    assert verify(good, trust, now=net.now, seen=seen).ok
    doc = json.loads(good)
    doc["receipt"] = doc["receipt"].replace("index ", "index 1", 1)
    check(json.dumps(doc).encode(), good, seen=seen)
    assert verify(good, trust, now=net.now, seen=seen).ok
