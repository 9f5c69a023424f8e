"""The audit log of staff actions: who did what to which record, and when."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from portfolio_api.db import tables as t
from portfolio_api.services.context import Ctx

ACTIONS = ("issue", "confirm", "reject", "revoke", "supersede", "batch", "staff.create", "token.create", "token.revoke",
           "institution.onboard", "institution.suspend")


@dataclass(frozen=True)
class AuditRecord:
    at: int
    actor: str
    institution_id: str | None
    action: str
    target: str
    detail: str


def record(conn: sa.Connection, *, at: int, actor_id: int | None, actor: str, institution_id: str | None, action: str, target: str, detail: str = "") -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action}")
    conn.execute(
        t.audit_log.insert().values(at=at, actor_id=actor_id, actor=actor[:200], institution_id=institution_id, action=action, target=target[:100], detail=detail[:1000])
    )


def list_for(conn: sa.Connection, institution_id: str | None, limit: int = 200) -> list[AuditRecord]:
    q = sa.select(t.audit_log).order_by(t.audit_log.c.id.desc()).limit(limit)
    if institution_id is not None:
        q = q.where(t.audit_log.c.institution_id == institution_id)
    return [AuditRecord(r.at, r.actor, r.institution_id, r.action, r.target, r.detail) for r in conn.execute(q)]


class AuditLog:
    """The audit log as a service: what the staff pages read (routes open no transactions)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def for_institution(self, institution_id: str, limit: int = 200) -> list[AuditRecord]:
        with self.ctx.engine.connect() as conn:
            return list_for(conn, institution_id, limit)
