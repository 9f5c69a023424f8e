"""C2SP tlog-witness: POST /add-checkpoint, answered by the witness keys this node holds."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from ledger.errors import MalformedError, SizeConflict
from portfolio_api.deps import NodeDep

router = APIRouter(tags=["tlog-witness"])

MAX_BODY = 64 * 1024


@router.post(
    "/add-checkpoint",
    response_class=PlainTextResponse,
    summary="Cosign a checkpoint that extends the last one (C2SP tlog-witness)",
    responses={
        400: {"description": "malformed request, or old size larger than the checkpoint size"},
        403: {"description": "no trusted log signature"},
        404: {"description": "unknown log origin"},
        409: {
            "description": "old size is not the witness's size (text/x.tlog.size body: its size), same size with "
            "another root, or the witness stopped after seeing a fork"
        },
        422: {"description": "consistency proof does not verify"},
        503: {"description": "the node's stored log failed an integrity check: it cosigns nothing"},
    },
)
async def add_checkpoint(request: Request, node: NodeDep) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise MalformedError("request too large")
    try:
        lines = node.witness_add_checkpoint(body)
    except SizeConflict as e:
        return Response(f"{e.current_size}\n", status_code=409, media_type="text/x.tlog.size")
    return Response(lines, media_type="text/plain; charset=utf-8")
