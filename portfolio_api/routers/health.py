"""Liveness: a trivial endpoint (also the reference for the HTTP benchmark)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/api/v1/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
