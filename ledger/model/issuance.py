"""What an institution writes on the ledger about its credentials, and the bundle it hands the holder.

One place for the e-portfolio (``portfolio_api/services/credentials.py``,
``documents.py``), the node's credential API (``portfolio_api/routers/credentials_api.py``)
and ``eduledger credential`` (``ledger/cli/credential.py``):

* :func:`anchor_statement`, :func:`revoke_statement`, :func:`supersede_statement`
  build the three credential statements (docs/formats.md, "Ledger entries");
  the ledger's own rules (``ledger.model.entries``, ``ledger.model.registry``) still decide
  whether each is accepted when it is sequenced;
* :func:`receipts` turns a submission's results into receipts, raising the
  first refusal (a caller that wants every refusal reads the results itself);
* :func:`final_bundle` waits until a final (quorum-cosigned) checkpoint covers
  the anchor and builds the bundle with :func:`ledger.model.bundles.build_bundle`:
  a bundle is only ever proven under a checkpoint the network's quorum signed.

Only the digest, the kind and the issue time go on the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ledger.errors import MalformedError, NotFoundError, PushbackError
from ledger.model.bundles import build_bundle
from ledger.model.entries import REVOCATION_REASONS, Statement
from ledger.model.receipts import Receipt, Rejection
from ledger.tlog.timefmt import format_time

__all__ = ["anchor_statement", "final_bundle", "receipts", "revoke_statement", "status_publish_statement", "supersede_statement"]

#: How long a bundle request waits for the next final checkpoint before asking the caller to retry.
BUNDLE_WAIT_SECONDS = 10.0


def anchor_statement(network: str, institution: str, *, digest: str, kind: str, issued_at: int, slot: tuple[int, int] | None = None) -> Statement:
    """``credential.anchor``: the credential's SHA-256 (hex), its kind and issue time (its ``validFrom``), and the
    (list, index) of its ``credentialStatus`` in the institution's status lists when it has one."""
    body: dict[str, Any] = {"digest": digest, "type": kind, "issued_at": format_time(issued_at)}
    if slot is not None:
        body["status_list"], body["status_index"] = slot
    return Statement(network, "credential.anchor", institution, body)


def status_publish_statement(network: str, institution: str, body: dict[str, Any]) -> Statement:
    """``status.publish``: a status list with its proof (``verifier.statuslist.publication``)."""
    return Statement(network, "status.publish", institution, body)


def revoke_statement(network: str, institution: str, digest: str, reason: str) -> Statement:
    """``credential.revoke`` with one of the reasons of docs/formats.md."""
    if reason not in REVOCATION_REASONS:
        raise MalformedError(f"reason must be one of {', '.join(sorted(REVOCATION_REASONS))}")
    return Statement(network, "credential.revoke", institution, {"digest": digest, "reason": reason})


def supersede_statement(network: str, institution: str, old: str, new: str) -> Statement:
    """``credential.supersede``: ``old`` now verifies as superseded by ``new`` (which must be anchored first)."""
    return Statement(network, "credential.supersede", institution, {"digest": old, "by": new})


def receipts(results: Sequence[Receipt | Rejection]) -> list[Receipt]:
    """The receipts of a submission in which every entry was accepted; else the first refusal is raised."""
    for r in results:
        if isinstance(r, Rejection):
            raise r.error
    return list(results)  # type: ignore[arg-type]


def final_bundle(
    node: Any,
    credential: dict[str, Any],
    anchor_index: int,
    *,
    wait_seconds: float = BUNDLE_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The bundle of ``credential`` (anchored at ``anchor_index``) under the node's latest final checkpoint.

    Waits up to ``wait_seconds`` for a final checkpoint covering the anchor
    (blocking: call it from a worker thread, never on the node's event loop),
    then raises PushbackError (retry shortly). NotFoundError if the index is
    beyond the log; ConflictError (from build_bundle) if the entry does not
    anchor this credential.
    """
    if not 0 <= anchor_index < node.log.size:
        raise NotFoundError(f"the ledger has no entry {anchor_index}")
    deadline = monotonic() + wait_seconds
    while True:
        final = node.store.latest_final()
        if final is not None and final[0] > anchor_index:
            break
        if monotonic() >= deadline:
            raise PushbackError(f"no final (cosigned) checkpoint covers ledger entry {anchor_index} yet; try again in a moment", retry_after=1)
        sleep(0.05)
    return build_bundle(credential=credential, index=anchor_index, tree=node.log.tree, store=node.store, registry=node.log.registry, checkpoint=final[1])
