"""C2SP tlog-tiles static reads at the node's root: /checkpoint, /tile/<L>/<N>[.p/<W>], /tile/entries/<N>[.p/<W>].

Everything here could equally be served by a static file server from a mirror:
full tiles are immutable (cached for a year), the checkpoint changes. The checkpoint
and the tiles are refused (503, with the alert's reason) while the node's storage or
fork alert is set (deps.ServingNodeDep): a halted node vouches for nothing.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ledger.errors import MalformedError, NotFoundError
from ledger.tlog import tiles
from portfolio_api.deps import ServingNodeDep

router = APIRouter(tags=["tlog-tiles"])

IMMUTABLE = "public, max-age=31536000, immutable"


@router.get(
    "/checkpoint",
    response_class=Response,
    summary="Latest final checkpoint (C2SP signed note: log signature and the quorum's cosignatures)",
    responses={404: {"description": "no checkpoint is final yet"}},
)
def checkpoint(node: ServingNodeDep) -> Response:
    """Only a quorum-cosigned checkpoint is the log's state: mirrors sync to it, peers
    compare it, verifiers accept it. The newest signed one, final or not, is at
    ``/api/v1/ledger/checkpoint/latest``."""
    return Response(node.final_checkpoint(), media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"})


@router.get("/tile/{level}/{path:path}", response_class=Response, summary="Hash tile or entry bundle")
def tile(level: str, path: str, node: ServingNodeDep) -> Response:
    entries = level == "entries"
    if not entries and (not level.isdigit() or str(int(level)) != level or int(level) > 7):
        raise NotFoundError(f"no tile level {level!r}")
    try:
        ref = tiles.parse_tile_path(path, entries=entries)
    except MalformedError as e:
        raise NotFoundError(str(e)) from None
    if not entries:
        ref = tiles.TileRef(int(level), ref.index, ref.width)
    size = node.log.size
    try:
        tiles.check_servable(ref, size)
    except MalformedError as e:
        raise NotFoundError(str(e)) from None
    start = ref.index * tiles.TILE_WIDTH
    if entries:
        body = tiles.entry_bundle(node.store.entries(start, start + ref.width))
    else:
        body = tiles.hash_tile(node.log.tree.level_slice(tiles.TILE_HEIGHT * ref.level, start, start + ref.width))
    cache = IMMUTABLE if ref.width == tiles.TILE_WIDTH else "public, max-age=60"
    return Response(body, media_type="application/octet-stream", headers={"Cache-Control": cache})
