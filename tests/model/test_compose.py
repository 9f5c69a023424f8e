"""ledger.model.compose: the native batch composer (ledger/model/_compose.c) gives exactly the bytes of its
pure twin, with each SHA-256 kernel of the toolkit, and refuses exactly the same inputs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.model import compose
from ledger.tlog import _hashing, merkle
from tests import nativecore

native = nativecore.load("ledger.model._compose")


@pytest.fixture(params=nativecore.kernels())
def kernel(request):
    with nativecore.use_kernel(request.param) as name:
        yield name


def test_compose_batch_follows_the_toolkit_backend(monkeypatch):
    class FakeNative:
        @staticmethod
        def compose_batch(*args):
            return "native"

    monkeypatch.setattr(compose, "_native", FakeNative)
    monkeypatch.setattr(compose, "_py_compose_batch", lambda *args: "pure")
    previous = _hashing.select("python")
    try:
        assert compose.compose_batch([b"{}"], "a2V5", "c2ln") == "pure"
        _hashing.select("native")
        assert compose.compose_batch([b"{}"], "a2V5", "c2ln") == "native"
    finally:
        _hashing.select(previous)
    monkeypatch.setattr(compose, "_native", None)  # not built: the pure twin whatever the backend
    assert compose.compose_batch([b"{}"], "a2V5", "c2ln") == "pure"


# --- compose_batch: a signed batch's tree, proofs and entry bytes ------------------------------

_statement = st.binary(min_size=1, max_size=120).map(lambda b: b"{" + b)
_b64 = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", min_size=0, max_size=90)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(statements=st.lists(_statement, min_size=1, max_size=300), key=_b64, sig=_b64)
def test_compose_batch_native_equals_pure(kernel, statements, key, sig):
    assert native.compose_batch(statements, key, sig) == compose._py_compose_batch(statements, key, sig)


def test_compose_batch_entries_are_the_entry_format_with_rfc9162_proofs(kernel):
    from ledger.model.entries import compose_entry
    from ledger.tlog.encoding import b64e

    statements = [b'{"n":%d}' % i for i in range(37)]
    root, hashes, proofs, datas = native.compose_batch(statements, "a2V5", "c2ln")
    assert hashes == merkle.hash_leaves(statements) and root == merkle.root(hashes)
    for i, (proof, data) in enumerate(zip(proofs, datas)):
        assert list(proof) == merkle.inclusion_proof(hashes, i)
        merkle.verify_inclusion(hashes[i], i, 37, list(proof), root)
        assert data == compose_entry(statements[i], i, 37, ",".join('"' + b64e(h) + '"' for h in proof), "a2V5", "c2ln")


@pytest.mark.parametrize(
    "args, error",
    [
        (([], "a2V5", "c2ln"), ValueError),  # no statements
        (([b"[1]"], "a2V5", "c2ln"), ValueError),  # not an object's bytes
        (([b"{"[:0]], "a2V5", "c2ln"), ValueError),  # empty
        (([b"{}"], "a2V5\"", "c2ln"), ValueError),  # a quote would break the JSON
        (([b"{}"], "a2V5", "c 2ln"), ValueError),
        (([b"{}"], b"a2V5", "c2ln"), TypeError),  # bytes, not str
        (([b"{}"], "a2V5", None), TypeError),
        (([b"{}", 7], "a2V5", "c2ln"), TypeError),  # an item that is not bytes-like
        ((5, "a2V5", "c2ln"), TypeError),
    ],
)
def test_compose_batch_refuses_the_same_inputs_as_the_pure_twin(args, error):
    with pytest.raises(error):
        native.compose_batch(*args)
    with pytest.raises(error):
        compose._py_compose_batch(*args)
