"""FastAPI dependencies as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ledger.node import Node
from portfolio_api.settings import Settings


def get_node(request: Request) -> Node:
    return request.app.state.node


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


NodeDep = Annotated[Node, Depends(get_node)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
