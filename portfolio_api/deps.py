"""FastAPI dependencies as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from ledger.node import Node
from portfolio_api.settings import Settings

# Dependencies that only read app state are ``async def``: FastAPI calls them in the event
# loop, where a plain ``def`` would cost a worker-thread round trip on every request.


async def get_node(request: Request) -> Node:
    return request.app.state.node


def get_serving_node(request: Request) -> Node:
    """The node, for routes that serve ledger data (tiles, checkpoints, entries, blocks, proofs,
    credential status, bundles, the trust file): refused with 503 (HaltedError, with the
    alert's reason) while its storage or fork alert is set, so tampered or forked data is
    never served. Status, health and alert routes take ``NodeDep`` and keep answering, so
    ``eduledger network status`` can show the alert and its evidence."""
    node: Node = request.app.state.node
    node.check_serving()  # may ask the store: a plain def, so FastAPI runs it in a worker thread
    return node


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


NodeDep = Annotated[Node, Depends(get_node)]
ServingNodeDep = Annotated[Node, Depends(get_serving_node)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

#: An integer in a URL path (a row id, a block height, an entry index): out of 0..2^63-1 it names
#: nothing, and the validation handler answers 404 (portfolio_api/errors.py), never a database overflow.
PathInt = Annotated[int, Path(ge=0, le=2**63 - 1)]
