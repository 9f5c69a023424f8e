"""The ledger's JSON API: status, blocks, entries, proofs and submission (/api/v1/ledger).

Everything that serves ledger data (blocks, entries, checkpoints, proofs, a credential's
status) is refused (503, with the alert's reason) while the node's storage or fork alert
is set (deps.ServingNodeDep); ``/status`` keeps answering, like ``/api/v1/network/*``,
so that ``eduledger network status`` can show the alert and its evidence."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ledger.errors import MalformedError, NotFoundError
from ledger.model.entries import parse_entry
from ledger.model.receipts import Receipt, Rejection
from ledger.tlog.encoding import b64d, b64e, hex32
from portfolio_api.deps import NodeDep, PathInt, ServingNodeDep, SettingsDep

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])

#: ``POST /entries?wait=final``: default and longest wait for a final checkpoint, seconds.
DEFAULT_WAIT_FINAL = 10.0
MAX_WAIT_FINAL = 60.0


class LogStatus(BaseModel):
    network: str
    size: int = Field(description="entries committed")
    blocks: int
    checkpoint: str | None = Field(description="latest checkpoint note (final if any); null before this node holds any")
    final_size: int | None = Field(description="size of the latest quorum-cosigned checkpoint")
    sequencer: bool
    queued: int


class BlockOut(BaseModel):
    height: int
    hash: str
    header: dict[str, Any]


class EntryOut(BaseModel):
    index: int
    leaf_hash: str = Field(description="base64 RFC 9162 leaf hash")
    data: str = Field(description="base64 of the exact leaf bytes")
    entry: dict[str, Any]
    block: int


class InclusionOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    proof: list[str]


class ConsistencyOut(BaseModel):
    old_size: int
    new_size: int
    old_root: str = Field(description="base64 root of this node's tree at old_size")
    new_root: str = Field(description="base64 root of this node's tree at new_size")
    proof: list[str]


class SubmitResult(BaseModel):
    position: int
    accepted: bool
    index: int | None = None
    leaf_hash: str | None = None
    duplicate: bool = False
    error: str | None = None


class SubmitOut(BaseModel):
    results: list[SubmitResult]
    tree_size: int
    final: bool = Field(description="every accepted entry is covered by a final (quorum-cosigned) checkpoint")
    final_size: int = Field(description="size of the latest final checkpoint when the answer was made")


class CredentialStatus(BaseModel):
    digest: str
    status: str = Field(description="unknown | valid | revoked | superseded")
    anchor_index: int | None = None
    issuer: str | None = None
    revocation_index: int | None = None
    revocation_reason: str | None = None
    superseded_by: str | None = None
    supersession_index: int | None = None
    final: bool = Field(
        default=False, description="the anchor is covered by a final checkpoint; until then a fault can still undo it"
    )
    status_list: int | None = Field(default=None, description="the issuer's status list holding the credential's bit, if it has one")
    status_index: int | None = Field(default=None, description="the credential's bit in that list")


def _block_out(stored) -> BlockOut:
    return BlockOut(height=stored.height, hash=stored.hash.hex(), header=json.loads(stored.header))


@router.get("/status", response_model=LogStatus)
def status(node: NodeDep) -> LogStatus:
    """Always answers (a status route): a replica that has not mirrored a checkpoint yet says so with null."""
    final = node.store.latest_final()
    latest = final or node.store.latest_checkpoint()
    return LogStatus(
        network=node.network,
        size=node.log.size,
        blocks=node.store.block_count(),
        checkpoint=latest[1].decode() if latest else None,
        final_size=final[0] if final else None,
        sequencer=node.is_sequencer,
        queued=node.sequencer.queued,
    )


@router.get(
    "/checkpoint/latest",
    response_class=Response,
    summary="Newest signed checkpoint with the cosignatures collected so far (not necessarily final)",
    responses={404: {"description": "no checkpoint signed yet"}},
)
def newest_checkpoint(node: ServingNodeDep) -> Response:
    """For monitors and operators watching cosignatures arrive; ``/checkpoint`` is the
    latest final one and the only one to rely on."""
    return Response(node.newest_checkpoint(), media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"})


@router.get("/blocks", response_model=list[BlockOut])
def blocks(node: ServingNodeDep, start: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[BlockOut]:
    end = min(node.store.block_count(), start + limit)
    return [_block_out(b) for b in node.store.blocks(start, end)] if start < end else []


@router.get("/blocks/{height}", response_model=BlockOut)
def block(height: PathInt, node: ServingNodeDep) -> BlockOut:
    if height < 0 or height >= node.store.block_count():
        raise NotFoundError(f"no block {height}; the chain has {node.store.block_count()} blocks")
    return _block_out(node.store.block(height))


@router.get("/entries/{index}", response_model=EntryOut)
def entry(index: PathInt, node: ServingNodeDep) -> EntryOut:
    data = node.log.entry(index)
    return EntryOut(
        index=index,
        leaf_hash=b64e(node.log.tree.levels[0][index]),
        data=b64e(data),
        entry=parse_entry(data).to_json(),
        block=node.store.block_for_index(index).height,
    )


@router.get("/proof/inclusion", response_model=InclusionOut, summary="RFC 9162 inclusion proof")
def inclusion(
    node: ServingNodeDep,
    size: Annotated[int, Query(ge=1, description="tree size of the checkpoint to prove against")],
    index: Annotated[int | None, Query(ge=0)] = None,
    leaf_hash: Annotated[str | None, Query(description="base64 leaf hash, instead of index")] = None,
) -> InclusionOut:
    if (index is None) == (leaf_hash is None):
        raise MalformedError("give exactly one of index or leaf_hash")
    if leaf_hash is not None:
        wanted = b64d(leaf_hash, "leaf_hash", size=32)
        found = node.store.index_of(wanted)
        if found is None:
            raise NotFoundError("no entry has that leaf hash")
        index = found
    assert index is not None
    proof = node.log.inclusion_proof(index, size)
    return InclusionOut(index=index, tree_size=size, leaf_hash=b64e(node.log.tree.levels[0][index]), proof=[b64e(h) for h in proof])


@router.get("/proof/consistency", response_model=ConsistencyOut, summary="RFC 9162 consistency proof")
def consistency(node: ServingNodeDep, old: Annotated[int, Query(ge=0)], new: Annotated[int, Query(ge=0)]) -> ConsistencyOut:
    """The roots let a node compare two signed checkpoints of different sizes
    (ledger.network.splitview): the proof is checked against the larger signed root."""
    proof = node.log.consistency_proof(old, new)
    tree = node.log.tree
    return ConsistencyOut(old_size=old, new_size=new, old_root=b64e(tree.root(old)), new_root=b64e(tree.root(new)), proof=[b64e(h) for h in proof])


@router.get("/credentials/{digest}", response_model=CredentialStatus, summary="Ledger status of a credential digest")
def credential_status(digest: str, node: ServingNodeDep) -> CredentialStatus:
    hex32(digest, "digest")
    reg = node.log.registry
    anchor = reg.anchors.get(digest)
    rev = reg.revocations.get(digest)
    sup = reg.supersessions.get(digest)
    return CredentialStatus(
        digest=digest,
        status=reg.status(digest),
        anchor_index=anchor.index if anchor else None,
        issuer=anchor.institution if anchor else None,
        revocation_index=rev.index if rev else None,
        revocation_reason=rev.reason if rev else None,
        superseded_by=sup.by if sup else None,
        supersession_index=sup.index if sup else None,
        final=anchor is not None and anchor.index < node.final_size,
        status_list=slot[0] if (slot := reg.status_slots.get(digest)) else None,
        status_index=slot[1] if slot else None,
    )


@router.post(
    "/entries",
    response_model=SubmitOut,
    summary="Submit institution-signed entries",
    responses={400: {"description": "malformed"}, 403: {"description": "signature or authorisation refused"}, 503: {"description": "queue full; see Retry-After"}},
)
async def submit(
    request: Request,
    response: Response,
    node: NodeDep,
    settings: SettingsDep,
    wait: Annotated[Literal["commit", "final"], Query(description="acknowledge on commit (default) or once final")] = "commit",
    timeout: Annotated[float, Query(gt=0, le=MAX_WAIT_FINAL, description="seconds to wait for finality")] = DEFAULT_WAIT_FINAL,
) -> SubmitOut:
    """Body: ``{"entries": [entry, ...]}`` (see docs/formats.md). Returns after the entries are committed
    and their checkpoint signed; with ``wait=final``, after a final checkpoint covers them too (202 with
    ``final: false`` when ``timeout`` passes first: they are committed, not yet final).

    Entries that break a ledger rule are listed with the reason; the others are appended.
    """
    body = await request.body()
    if len(body) > settings.max_body_bytes:
        raise MalformedError(f"request body is {len(body)} bytes, limit {settings.max_body_bytes}")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedError("request body is not valid JSON") from None
    entries = node.parse_submission(payload)
    results = await node.submit(entries)
    if results and all(isinstance(r, Rejection) for r in results):
        # Nothing was written: answer with the reason, as a 4xx, rather than a 200 of refusals.
        raise results[0].error
    out = []
    for pos, r in enumerate(results):
        if isinstance(r, Receipt):
            out.append(SubmitResult(position=pos, accepted=True, index=r.index, leaf_hash=b64e(r.leaf_hash), duplicate=r.duplicate))
        else:
            out.append(SubmitResult(position=pos, accepted=False, error=f"{type(r.error).__name__}: {r.error}"))
    covered = max((r.index + 1 for r in results if isinstance(r, Receipt)), default=0)
    if wait == "final" and not await node.wait_final(covered, timeout):
        response.status_code = 202
    final_size = node.final_size
    return SubmitOut(results=out, tree_size=node.log.size, final=final_size >= covered, final_size=final_size)
