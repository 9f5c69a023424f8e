"""After a crash or a restore the e-portfolio follows the ledger (Credentials.reconcile): rows without an
anchor are anchored, anchors the ledger no longer holds are re-anchored, moved anchors are corrected."""

from __future__ import annotations

import sqlalchemy as sa

from ledger.errors import FetchError
from ledger.model.receipts import Receipt
from portfolio_api.db import tables as t
from portfolio_api.services.credentials import IssueRequest
from tests.portfolio.helpers import env  # noqa: F401 - the fixture


def _row(env, cid):
    with env.svc.ctx.engine.begin() as conn:
        return conn.execute(sa.select(t.credentials).where(t.credentials.c.id == cid)).one()


def _issue(env, title, monkeypatch=None, submit=None):
    if submit is not None:
        monkeypatch.setattr(env.svc.ctx, "submit", submit)
    try:
        return env.svc.credentials.issue(env.users["olymp"], IssueRequest("maria@example.org", "olympiad", title, "2026-03-01"))
    finally:
        if submit is not None:
            monkeypatch.undo()


def test_an_anchor_the_ledger_lost_is_anchored_again(env, monkeypatch):
    # A sequencer acknowledged index 9999, then was restored from a backup that never had it.
    lost = _issue(env, "Победитель олимпиады", monkeypatch, lambda inst, statements: [Receipt(9999, b"")] * len(statements))
    assert _row(env, lost.id).anchor_index == 9999 and env.svc.credentials.get(lost.id).status == "awaiting"
    assert env.svc.credentials.reconcile() == {"moved": 0, "lost": 1, "anchored": 1}
    anchor = env.node.log.registry.anchors.get(_row(env, lost.id).digest)
    assert anchor is not None and _row(env, lost.id).anchor_index == anchor.index
    assert env.svc.credentials.get(lost.id).status == "verified"
    assert env.svc.credentials.reconcile() == {"moved": 0, "lost": 0, "anchored": 0}  # nothing left to do


def test_a_row_left_unanchored_by_a_crash_is_anchored_and_a_moved_anchor_corrected(env, monkeypatch):
    def unreachable(inst, statements):
        raise FetchError("the node is not running")

    try:
        _issue(env, "Призёр олимпиады", monkeypatch, unreachable)
    except FetchError:
        pass
    with env.svc.ctx.engine.begin() as conn:
        (pending,) = conn.execute(sa.select(t.credentials.c.id).where(t.credentials.c.anchor_index.is_(None))).scalars().all()
    good = _issue(env, "Участник олимпиады")
    right = _row(env, good.id).anchor_index
    with env.svc.ctx.engine.begin() as conn:
        conn.execute(t.credentials.update().where(t.credentials.c.id == good.id).values(anchor_index=right + 1000))
    assert env.svc.credentials.reconcile() == {"moved": 1, "lost": 0, "anchored": 1}
    assert _row(env, good.id).anchor_index == right
    assert env.svc.credentials.get(pending).status == "verified"
