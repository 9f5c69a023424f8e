"""A signed batch's entries, composed in one call: the tree over its statement hashes, every proof, every entry's bytes.

``compose_batch`` is what ingest of a compact batch (``ledger.model.submission``) and the credential CLI use. It
has two twins that give identical bytes and refuse identical inputs: the pure one below, written for obviousness
(it is the reference), and ``ledger.model._compose`` (ledger/model/_compose.c), which hashes through the
toolkit's native kernels. The native twin is used when the toolkit's backend is native (``ledger.tlog._hashing``;
``EDULEDGER_NO_NATIVE`` turns both off). The toolkit knows nothing of entries: this model module calls it.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence

from ledger.model.entries import compose_entry
from ledger.tlog import _hashing
from ledger.tlog.merkle import all_inclusion_proofs
from ledger.tlog.tree import Tree

try:  # pragma: no cover - depends on the build
    from ledger.model import _compose as _native  # type: ignore[attr-defined]
except ImportError:
    _native = None


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _py_compose_batch(statements: Sequence[bytes], key: str, sig: str) -> tuple[bytes, list[bytes], list[tuple[bytes, ...]], list[bytes]]:
    """An institution-signed batch's tree and entries: (root, statement hashes, proofs, entry bytes).

    ``statements`` are the canonical bytes of the batch's statements in order; ``key``
    and ``sig`` the base64 strings of the signing key and batch signature, already
    checked to be canonical by the caller. Entry i is ``ledger.model.entries.compose_entry``
    of statement i with its index and inclusion proof in the tree over the statement
    hashes (``ledger.tlog.merkle.all_inclusion_proofs``)."""
    for name, value in (("key", key), ("sig", sig)):
        if not isinstance(value, str):
            raise TypeError(f"compose_batch: {name} must be a str, not {type(value).__name__}")
        if not _B64_ALPHABET.issuperset(value):
            raise ValueError(f"compose_batch: {name} is not base64")
    items = [bytes(memoryview(s)) for s in statements]
    if not 1 <= len(items) <= 1_000_000:
        raise ValueError(f"compose_batch: a batch has 1 to 1000000 statements, got {len(items)}")
    for i, s in enumerate(items):
        if len(s) < 2 or s[:1] != b"{":
            raise ValueError(f"compose_batch: statement {i} is not a JSON object's canonical bytes")
    hashes = _hashing._py_hash_leaves(items)
    tree = Tree(hashes)
    proofs = all_inclusion_proofs(tree.subtree, len(items))
    spell = {h: '"' + binascii.b2a_base64(h, newline=False).decode("ascii") + '"' for proof in proofs for h in proof}
    n = len(items)
    datas = [compose_entry(s, i, n, ",".join([spell[h] for h in proof]), key, sig) for i, (s, proof) in enumerate(zip(items, proofs))]
    return tree.root(), hashes, proofs, datas


def compose_batch(statements: Sequence[bytes], key: str, sig: str) -> tuple[bytes, list[bytes], list[tuple[bytes, ...]], list[bytes]]:
    """(root, statement hashes, proofs, entry bytes) of a signed batch; see :func:`_py_compose_batch`."""
    if _native is not None and _hashing.BACKEND == "native":
        return _native.compose_batch(statements, key, sig)
    return _py_compose_batch(statements, key, sig)
