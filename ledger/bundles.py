"""Credential bundles: the one file a holder keeps (assembly side; the verifier reads them).

::

    {"format": "eduledger-bundle/v1",
     "credential": {... exactly as issued ...},
     "receipt": "<C2SP tlog-proof of the credential.anchor entry>",
     "issuer_keys": ["<tlog-proof of each key.add/key.rotate/key.revoke entry of the issuer>", ...],
     "status": ["<tlog-proof of each credential.revoke/credential.supersede entry for this digest>", ...]}

Every proof is against the same cosigned checkpoint (the bundle's "as of"), and
each carries its entry's exact leaf bytes in ``extra``. Nothing in the bundle
sets the rules: the verifier takes keys and quorum from its trust file.
"""

from __future__ import annotations

from typing import Any

from ledger.canonical import canonical_digest
from ledger.checkpoint import parse_checkpoint
from ledger.entries import parse_entry
from ledger.errors import ConflictError, NotFoundError
from ledger.note import parse_note
from ledger.registry import Registry
from ledger.tlog_proof import TlogProof
from ledger.tree import Tree

FORMAT = "eduledger-bundle/v1"


def _proof(index: int, size: int, tree: Tree, store: Any, checkpoint: bytes) -> str:
    return TlogProof(index, tuple(tree.inclusion_proof(index, size)), checkpoint, store.entry(index)).to_text()


def build_bundle(*, credential: dict, index: int, tree: Tree, store: Any, registry: Registry, checkpoint: bytes) -> dict:
    """Assemble the bundle of ``credential`` anchored at ``index``, proven under ``checkpoint``
    (a final, cosigned checkpoint whose size covers the index)."""
    size = parse_checkpoint(parse_note(checkpoint).text).size
    if not 0 <= index < size:
        raise NotFoundError(f"checkpoint of size {size} does not cover entry {index}; wait for the next final checkpoint")
    anchor = parse_entry(store.entry(index))
    digest = canonical_digest(credential).hex()
    if anchor.statement.kind != "credential.anchor" or anchor.statement.body["digest"] != digest:
        raise ConflictError(f"entry {index} does not anchor this credential")
    issuer = anchor.statement.institution
    # The issuer's key history and this credential's status entries, as of the checkpoint.
    key_events = [i for i in registry.key_events.get(issuer, []) if i < size]
    status = sorted(
        r.index for r in (registry.revocations.get(digest), registry.supersessions.get(digest)) if r is not None and r.index < size
    )
    return {
        "format": FORMAT,
        "credential": credential,
        "receipt": _proof(index, size, tree, store, checkpoint),
        "issuer_keys": [_proof(i, size, tree, store, checkpoint) for i in key_events],
        "status": [_proof(i, size, tree, store, checkpoint) for i in status],
    }
