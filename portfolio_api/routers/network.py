"""The node's view of the institution network: peers, finality, fork alerts (/api/v1/network)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter

from portfolio_api.deps import NodeDep

router = APIRouter(prefix="/api/v1/network", tags=["network"])


@router.get("/status")
async def status(node: NodeDep) -> dict[str, Any]:
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
        "sequencer": node.genesis.sequencer,
        "is_sequencer": node.is_sequencer,
        "quorum": node.genesis.quorum,
        "institutions": len(node.log.registry.institutions),
        "peers": peers,
        "fork_alert": node.fork_alert(),
    }
