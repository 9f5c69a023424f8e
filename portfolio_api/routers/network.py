"""The node's view of the institution network: peers, finality, fork and sequencer alerts (/api/v1/network)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter
from fastapi.responses import Response

from ledger.errors import NotFoundError
from portfolio_api.deps import NodeDep

router = APIRouter(prefix="/api/v1/network", tags=["network"])


@router.get("/status")
async def status(node: NodeDep) -> dict[str, Any]:
    return await gather_status(node)


async def gather_status(node) -> dict[str, Any]:
    """The node's view of the network, peers asked over HTTP (also the web page's, routers/web_network)."""
    final = node.store.latest_final()
    peers = []
    async with httpx.AsyncClient(timeout=2) as client:
        for inst, url in sorted(node.peers.items()):
            try:
                r = await client.get(url.rstrip("/") + "/api/v1/ledger/status")
                state = f"size {r.json()['size']}, final {r.json()['final_size']}" if r.status_code == 200 else f"HTTP {r.status_code}"
            except (httpx.HTTPError, ValueError, KeyError):
                state = "unreachable"
            peers.append({"institution": inst, "url": url, "state": state})
    return {
        "network": node.network,
        "size": node.log.size,
        "final_size": final[0] if final else None,
        "sequencer": node.sequencing_institution,
        "is_sequencer": node.is_sequencer,
        "quorum": node.log.quorum,
        "members": sorted(node.log.registry.members()),
        "institutions": len(node.log.registry.institutions),
        "peers": peers,
        "is_leader": node.is_leader,
        "latest_cosigners": _latest_cosigners(node),
        "fork_alert": node.fork_alert(),
        "storage_alert": node.storage_alert(),
        "sequencer_alert": node.sequencer_alert(),
        "sequencing_refused": node.sequencing_refused() if node.is_sequencer else None,
        "split_view_pending": node.split_view_pending,
    }


def _latest_cosigners(node) -> dict[str, Any] | None:
    """Which witness keys cosigned the newest signed checkpoint stored here (the sequencer
    keeps asking the missing ones, so a returning witness shows up here)."""
    latest = node.store.latest_checkpoint()
    if latest is None:
        return None
    return {"size": latest[0], "witnesses": [name for name, _ in node.store.cosignatures(latest[0])]}


@router.get("/witnessed", response_class=Response, summary="The newest checkpoint this node's witness cosigned")
def witnessed(node: NodeDep) -> Response:
    """Log-signed note, exchanged between nodes for split-view detection (a sequencer
    showing each witness its own view is caught by comparing what they cosigned)."""
    note = node.witnessed()
    if note is None:
        raise NotFoundError("this node's witness has cosigned nothing yet")
    return Response(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"})
