"""Liveness: a trivial endpoint (also the reference for the HTTP benchmark)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/api/v1/health")
async def health() -> dict[str, str]:  # async: no worker-thread round trip for a constant
    return {"status": "ok"}
