"""Following applicants, with the student's consent: an explicit grant to an institution,
or a share link the student gave it. Consent is checked on every read: after the
student withdraws the grant (or revokes or lets expire the link) the institution
sees nothing at all, including achievements that arrive later.

Consent by share link is as wide as the link and no wider: a link to the whole
portfolio shows its public verified items (new ones as they arrive); a link to
chosen items shows those items only (as the link itself does, services/shares.py),
never what the student did not choose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ledger.errors import AuthorizationError, ConflictError, MalformedError, NotFoundError
from portfolio_api.db import tables as t
from portfolio_api.services.accounts import User
from portfolio_api.services.context import Ctx
from portfolio_api.services.shares import _hash


@dataclass(frozen=True)
class Follow:
    id: int
    institution_id: str
    student_id: int
    via_share: bool
    created_at: int
    active: bool


class Follows:
    def __init__(self, ctx: Ctx, accounts: Any, credentials: Any, portfolio: Any) -> None:
        self.ctx, self.accounts, self.credentials, self.portfolio = ctx, accounts, credentials, portfolio

    def _active(self, conn: sa.Connection, row: sa.Row, now: int) -> bool:
        return self._consent(conn, row, now)[0]

    def _consent(self, conn: sa.Connection, row: sa.Row, now: int) -> tuple[bool, frozenset[str] | None]:
        """Whether the follow is still consented to, and its scope: None = the public portfolio, else the chosen item refs."""
        if row.withdrawn_at is not None:
            return False, None
        if row.share_id is None:
            return True, None
        s = conn.execute(sa.select(t.shares).where(t.shares.c.id == row.share_id)).first()
        if s is None or s.revoked_at is not None or s.expires_at <= now:
            return False, None
        return True, frozenset(json.loads(s.items)) if s.items else None

    def _follow(self, conn: sa.Connection, row: sa.Row, now: int) -> Follow:
        return Follow(row.id, row.institution_id, row.student_id, row.share_id is not None, row.created_at, self._active(conn, row, now))

    def grant(self, student: User, institution_id: str) -> int:
        if not student.is_holder:
            raise AuthorizationError("only students and teachers grant access to their portfolio")
        if institution_id not in self.credentials.institutions():
            raise MalformedError(f"unknown institution {institution_id!r}")
        f = t.follows.c
        with self.ctx.engine.begin() as conn:
            live = conn.execute(sa.select(f.id).where(f.student_id == student.id, f.institution_id == institution_id, f.share_id.is_(None),
                                                      f.withdrawn_at.is_(None))).scalar()
            if live is not None:
                return live
            return conn.execute(t.follows.insert().values(institution_id=institution_id, student_id=student.id, created_at=self.ctx.now())
                                ).inserted_primary_key[0]

    def follow_by_share(self, staff: User, link: str) -> int:
        """Follow the owner of a share link (the link is the consent; it lasts as long as the link does)."""
        if not staff.is_staff:
            raise AuthorizationError("institutions follow applicants")
        token = link.strip().rstrip("/").rsplit("/", 1)[-1]
        if not token or len(token) > 100:
            raise MalformedError("paste the share link the applicant gave you")
        now = self.ctx.now()
        with self.ctx.engine.begin() as conn:
            s = conn.execute(sa.select(t.shares).where(t.shares.c.token_hash == _hash(token))).first()
            if s is None or s.revoked_at is not None or s.expires_at <= now:
                raise NotFoundError("this share link is not valid (any more)")
            f = t.follows.c
            live = conn.execute(sa.select(f.id).where(f.share_id == s.id, f.institution_id == staff.institution_id)).scalar()
            if live is not None:
                raise ConflictError("you already follow this applicant through this link")
            return conn.execute(t.follows.insert().values(institution_id=staff.institution_id, student_id=s.owner_id, share_id=s.id,
                                                          created_at=now)).inserted_primary_key[0]

    def withdraw(self, student: User, follow_id: int) -> None:
        f = t.follows.c
        with self.ctx.engine.begin() as conn:
            n = conn.execute(t.follows.update().where(f.id == follow_id, f.student_id == student.id, f.withdrawn_at.is_(None))
                             .values(withdrawn_at=self.ctx.now())).rowcount
        if n == 0:
            raise NotFoundError(f"no active consent {follow_id} of yours")

    def of_student(self, student: User) -> list[Follow]:
        now = self.ctx.now()
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(sa.select(t.follows).where(t.follows.c.student_id == student.id).order_by(t.follows.c.id.desc()))
            return [self._follow(conn, r, now) for r in rows]

    def feed(self, staff: User) -> list[tuple[Follow, User, list[Any]]]:
        """For every applicant the institution may still follow: their verified, public achievements, newest first.

        Items issued after the follow began are marked new by the caller (``created_at``)."""
        if not staff.is_staff:
            raise AuthorizationError("institutions follow applicants")
        now = self.ctx.now()
        with self.ctx.engine.connect() as conn:
            rows = list(conn.execute(sa.select(t.follows).where(t.follows.c.institution_id == staff.institution_id).order_by(t.follows.c.id)))
            follows = [(self._follow(conn, r, now), self._consent(conn, r, now)[1]) for r in rows]
        out = []
        for f, scope in follows:
            if not f.active:
                continue  # consent withdrawn or the link ended: nothing, old or new
            held = [c for c in self.credentials.held_by(f.student_id) if c.status == "verified"]
            # the chosen items of the link (public or not, as the link shows them), else the public portfolio
            items = [c for c in held if (f"c:{c.id}" in scope if scope is not None else c.public)]
            items.sort(key=lambda c: c.issued_at, reverse=True)
            out.append((f, self.accounts.get(f.student_id), items))
        return out
