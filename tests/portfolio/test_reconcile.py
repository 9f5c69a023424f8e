"""After a crash or a restore the e-portfolio follows the ledger (Credentials.reconcile): rows without an
anchor are anchored, anchors the ledger no longer holds are re-anchored, moved anchors are corrected."""

from __future__ import annotations

import time

import sqlalchemy as sa
from fastapi.testclient import TestClient

from ledger.errors import FetchError
from ledger.model.receipts import Receipt
from ledger.node import Node, NodeOptions
from ledger.node.datadir import load_genesis, load_keys
from ledger.storage import open_store
from portfolio_api.app import create_app
from portfolio_api.db import tables as t
from portfolio_api.services.credentials import IssueRequest
from portfolio_api.settings import Settings
from tests.nodeproc import PASSPHRASE
from tests.portfolio.helpers import (
    PASSWORD,
    PEOPLE,
    env,  # noqa: F401 - the fixture
    form,
    make_env,
)


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
    assert env.svc.credentials.reconcile() == {"moved": 0, "lost": 1, "anchored": 1, "refused": 0}
    anchor = env.node.log.registry.anchors.get(_row(env, lost.id).digest)
    assert anchor is not None and _row(env, lost.id).anchor_index == anchor.index
    assert env.svc.credentials.get(lost.id).status == "verified"
    assert env.svc.credentials.reconcile() == {"moved": 0, "lost": 0, "anchored": 0, "refused": 0}  # nothing left to do


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
    assert env.svc.credentials.reconcile() == {"moved": 1, "lost": 0, "anchored": 1, "refused": 0}
    assert _row(env, good.id).anchor_index == right
    assert env.svc.credentials.get(pending).status == "verified"


def test_credentials_a_killed_node_left_unanchored_are_anchored_or_marked_failed_at_the_next_start(tmp_path):
    """A node killed between storing a credential and sequencing its anchor (step 1 done, step 2 not)
    restarts on the same data: the leftover is anchored at start-up; one the ledger now refuses shows as
    failed, with the ledger's reason, in its holder's portfolio, and is not re-submitted at the start after."""
    app, data = make_env(tmp_path)
    url = f"sqlite:///{data / 'ledger.db'}"
    with TestClient(app) as client:
        svc = app.state.portfolio
        users = {k: svc.accounts.create(e, PASSWORD, n, r, i) for k, (e, n, r, i) in PEOPLE.items()}
        loop, svc.ctx.loop = svc.ctx.loop, None  # the sequencer is gone: rows are stored, nothing is sequenced
        for title in ("Победитель олимпиады", "Призёр олимпиады"):
            try:
                svc.credentials.issue(users["olymp"], IssueRequest("maria@example.org", "olympiad", title, "2026-03-01"))
            except FetchError:
                pass
        svc.ctx.loop = loop
        with svc.ctx.engine.begin() as conn:
            rows = {r.title: r.id for r in conn.execute(sa.select(t.credentials).where(t.credentials.c.anchor_index.is_(None)))}
            assert len(rows) == 2
            # issued before the institution's key was valid: the ledger must refuse this one at the restart
            conn.execute(t.credentials.update().where(t.credentials.c.id == rows["Призёр олимпиады"]).values(issued_at=1))
        client.get("/")

    def restart():
        node = Node(open_store(url), load_genesis(data), load_keys(data, PASSPHRASE.encode()), options=NodeOptions(batch_ms=5))
        return create_app(Settings(data_dir=data, database_url=url), node=node, passphrase=PASSPHRASE.encode())

    app2 = restart()
    with TestClient(app2, follow_redirects=False) as client:
        svc = app2.state.portfolio
        for _ in range(300):  # reconcile runs in the background of the start-up
            if not svc.background:
                break
            time.sleep(0.1)
        assert not svc.background
        assert svc.credentials.get(rows["Победитель олимпиады"]).status == "verified"
        failed = svc.credentials.get(rows["Призёр олимпиады"])
        assert failed.status == "failed" and "signing key was not valid" in failed.anchor_error
        client.get("/login")
        r = form(client, "/login", {"email": "maria@example.org", "password": PASSWORD})
        assert r.status_code == 303, r.text
        page = client.get("/portfolio").text
        assert "Проверка не пройдена" in page and "реестр отказался записать документ" in page
        assert svc.credentials.reconcile() == {"moved": 0, "lost": 0, "anchored": 0, "refused": 0}  # not re-submitted
