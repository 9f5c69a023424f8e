"""Erasure that erases (issue 16): a pupil fills every field she can with a unique random marker, uses
share links both ways, and deletes her account. Then no marker is left in the raw SQLite database file,
its WAL or its shared-memory index; on PostgreSQL her rows are gone and the touched tables were
vacuumed. Meanwhile another pupil's credentials still verify and the ledger is untouched.

Also: signed-in viewers of a link are stored as opaque ids and named to its owner only with consent."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from portfolio_api.db import tables as t
from portfolio_api.services.credentials import IssueRequest
from tests.portfolio.helpers import PASSWORD, PEOPLE, PNG, Env, form, make_env


def _people(app, client, data) -> Env:
    e = Env(app, client, data)
    for key, (mail, name, role, inst) in PEOPLE.items():
        e.users[key] = e.svc.accounts.create(mail, PASSWORD, name, role, inst)
    return e


@pytest.fixture
def env(tmp_path: Path):
    app, data = make_env(tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        yield _people(app, client, data)


def _marker() -> str:
    return secrets.token_hex(12)


def _signed_in(app, svc, user) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    c.get("/login")  # the CSRF cookie
    c.cookies.set("edu_session", svc.accounts.open_session(user.id))
    return c


def _live_through_it(e: Env) -> dict:
    """Eva's whole life on the node, each field she can fill carrying its own marker. Returns what the checks need."""
    svc, u = e.svc, e.users
    m = {k: _marker() for k in ("name", "email", "headline", "region", "sub_subject", "sub_region", "up_title", "up_name", "up_content",
                                "self_title", "share_label", "cred_title", "password")}
    eva = svc.accounts.create(f"eva.{m['email']}@example.org", m["password"] + "-long", f"Ева {m['name']}", "student")
    # a credential issued to her, a diploma she uploads and the issuer confirms, one that stays self-reported
    cred = svc.credentials.issue(u["olymp"], IssueRequest(eva.email, "olympiad", f"Призёр {m['cred_title']}", "2026-02-01"))
    up = svc.uploads.add(eva, data=PNG + m["up_content"].encode(), filename=f"{m['up_name']}.png", kind="olympiad", title=f"Диплом {m['up_title']}",
                         issued_on="2026-01-15", issuer_id="olymp", ask_confirmation=True)
    confirmed = svc.uploads.confirm(u["olymp"], up.request_id)
    svc.uploads.add(eva, data=PNG, filename="scan.png", kind="contest", title=f"Конкурс {m['self_title']}", issued_on="2025-05-01", issuer_id=None,
                    ask_confirmation=False)
    # opportunities: a discoverable profile (its evidence goes into the full-text index), a subscription, a follow
    svc.opportunities.subscribe(eva, subject=m["sub_subject"], level="", region=m["sub_region"], audience="pupils")
    svc.discovery.set_profile(eva, discoverable=True, region=m["region"], headline=f"Люблю {m['headline']}")
    svc.follows.grant(eva, "uni-1")
    # her share link, opened by a classmate and followed by a university
    share = svc.portfolio.create_share(eva, label=f"Для {m['share_label']}", items=None, days=30)
    petr_browser = _signed_in(e.app, svc, u["petr"])
    assert petr_browser.get(f"/s/{share.token}").status_code == 200
    svc.follows.follow_by_share(u["uni"], f"http://node/s/{share.token}")
    # she opens petr's link while signed in, and lets him see her name
    petr_share = svc.portfolio.create_share(u["petr"], label="для приёмной комиссии", items=None, days=30)
    eva_browser = _signed_in(e.app, svc, eva)
    assert eva_browser.get(f"/s/{petr_share.token}").status_code == 200
    assert form(eva_browser, f"/s/{petr_share.token}/name", {"named": "1"}).status_code == 303
    (seen,) = svc.portfolio.shares_of(u["petr"])
    assert [(a.kind, a.who) for a in seen.accesses][-1] == ("named", eva.name)
    eva_bundle = svc.documents.bundle_for_holder(eva, cred.id)
    return {"eva": eva, "markers": m, "credential_ids": [cred.id, confirmed.id], "petr_share": petr_share, "eva_bundle": eva_bundle,
            "eva_share": share}


def _ledger_state(e: Env) -> tuple[int, bytes]:
    return e.node.log.size, e.node.log.tree.root()


def _petr_credential(e: Env) -> tuple[str, bytes]:
    c = e.svc.credentials.issue(e.users["school"], IssueRequest("petr@example.org", "school-certificate", "Аттестат", "2026-06-20"))
    return c.id, e.svc.documents.bundle_for_holder(e.users["petr"], c.id)


def _erase_and_check(e: Env) -> dict:
    svc = e.svc
    petr_cred, petr_bundle = _petr_credential(e)
    life = _live_through_it(e)
    eva = life["eva"]
    before = _ledger_state(e)
    svc.erasure.erase(eva.id)
    assert _ledger_state(e) == before  # the ledger is untouched
    # other people's credentials still verify; so does the bundle she downloaded before
    assert svc.documents.check_file(petr_bundle).ok
    assert svc.credentials.get(petr_cred).status == "verified"
    assert svc.documents.check_file(life["eva_bundle"]).ok
    # petr's access log no longer shows her; her own link is gone
    (petr_share,) = svc.portfolio.shares_of(e.users["petr"])
    assert petr_share.accesses == []
    assert e.client.get(f"/s/{life['eva_share'].token}").status_code == 404
    with svc.ctx.engine.connect() as conn:
        gone = {
            "uploads": t.uploads.c.owner_id == eva.id, "requests": t.requests.c.owner_id == eva.id, "shares": t.shares.c.owner_id == eva.id,
            "share_access": t.share_access.c.viewer == f"u:{eva.id}", "share_consents": t.share_consents.c.viewer_id == eva.id,
            "profiles": t.profiles.c.user_id == eva.id, "subscriptions": t.subscriptions.c.user_id == eva.id,
            "outbox": t.outbox.c.user_id == eva.id, "follows": t.follows.c.student_id == eva.id, "data_keys": t.data_keys.c.user_id == eva.id,
            "sessions": t.sessions.c.user_id == eva.id,
        }
        for name, where in gone.items():
            assert conn.execute(sa.select(sa.func.count()).select_from(getattr(t, name)).where(where)).scalar_one() == 0, name
        creds = conn.execute(sa.select(t.credentials).where(t.credentials.c.holder_id == eva.id)).all()
        assert sorted(c.id for c in creds) == sorted(life["credential_ids"])  # digests stay, for revocation and reconcile
        assert all(c.title == "" and c.credential_enc is None and c.bundle_enc is None for c in creds)
        details = conn.execute(sa.select(t.audit_log.c.detail).where(t.audit_log.c.target.in_([f"credential:{i}" for i in life["credential_ids"]]))).scalars().all()
        assert details and set(details) == {""}
        user = conn.execute(sa.select(t.users).where(t.users.c.id == eva.id)).one()
        assert user.name_enc is None and user.email_enc is None and user.email_index is None and user.deleted_at is not None
    return life


def _raw_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists())


def _found(markers: dict, data: bytes) -> list[str]:
    return sorted(k for k, v in markers.items() if v.encode() in data or v.lower().encode() in data or v.upper().encode() in data)


def test_no_marker_of_an_erased_pupil_is_left_in_the_sqlite_file_or_its_wal(tmp_path):
    app, data = make_env(tmp_path)
    db = data / "ledger.db"  # the portfolio shares the ledger's database file (portfolio_api/db)
    with TestClient(app, follow_redirects=False) as client:
        e = _people(app, client, data)
        with e.svc.ctx.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        petr_cred, petr_bundle = _petr_credential(e)
        life = _live_through_it(e)
        # the scan can see: texts stored in plain form are in the file or WAL before the erasure
        plain = ("headline", "region", "sub_subject", "sub_region", "self_title", "share_label", "cred_title", "up_title")
        assert set(plain) <= set(_found(life["markers"], _raw_bytes(db)))
        before = _ledger_state(e)
        e.svc.erasure.erase(life["eva"].id)
        assert _ledger_state(e) == before
        assert e.svc.documents.check_file(petr_bundle).ok and e.svc.credentials.get(petr_cred).status == "verified"
        assert Path(f"{db}-wal").stat().st_size == 0  # checkpointed and truncated
    assert _found(life["markers"], _raw_bytes(db)) == []


def test_erasure_deletes_her_rows_and_keeps_everyone_else_verifiable_on_sqlite(env):
    _erase_and_check(env)


@pytest.mark.postgres
def test_erasure_on_postgresql_deletes_her_rows_and_vacuums(tmp_path, pg_store_url):
    app, data = make_env(tmp_path, database_url=pg_store_url)
    with TestClient(app, follow_redirects=False) as client:
        e = _people(app, client, data)
        with e.svc.ctx.engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
            conn.exec_driver_sql("SELECT pg_stat_reset()")
        _erase_and_check(e)
        with e.svc.ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            vacuumed: set[str] = set()
            for _ in range(100):  # the statistics of the vacuuming backend reach the view when it flushes them
                conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
                vacuumed = set(conn.exec_driver_sql("SELECT relname FROM pg_stat_user_tables WHERE vacuum_count > 0").scalars())
                if {"pf_users", "pf_uploads", "pf_share_access", "pf_profiles"} <= vacuumed:
                    break
                time.sleep(0.1)
        assert {"pf_users", "pf_uploads", "pf_shares", "pf_share_access", "pf_profiles", "pf_credentials", "pf_audit_log"} <= vacuumed


def test_a_signed_in_viewer_is_an_opaque_id_and_named_only_with_consent(env):
    svc, u = env.svc, env.users
    share = svc.portfolio.create_share(u["maria"], label="", items=None, days=5)
    petr = _signed_in(env.app, svc, u["petr"])
    uni = _signed_in(env.app, svc, u["uni"])
    env.client.cookies.clear()
    assert env.client.get(f"/s/{share.token}").status_code == 200  # anonymous
    page = petr.get(f"/s/{share.token}")
    assert page.status_code == 200 and "Показать владельцу моё имя" in page.text
    assert uni.get(f"/s/{share.token}").status_code == 200
    with svc.ctx.engine.connect() as conn:
        stored = set(conn.execute(sa.select(t.share_access.c.viewer).where(t.share_access.c.share_id == share.id)).scalars())
    assert stored == {"", f"u:{u['petr'].id}", f"u:{u['uni'].id}"}  # never a name
    (s,) = svc.portfolio.shares_of(u["maria"])
    assert sorted((a.kind, a.who) for a in s.accesses) == [("anonymous", ""), ("institution", "Государственный университет"), ("signed_in", "")]
    owner = _signed_in(env.app, svc, u["maria"])
    html = owner.get("/portfolio/shares").text
    assert "Пётр Смирнов" not in html and "пользователь, вошедший в систему" in html and "<th>IP</th>" not in html
    # consent names him, on this link only; withdrawing it hides him again, past openings included
    assert form(petr, f"/s/{share.token}/name", {"named": "1"}).status_code == 303
    assert "Пётр Смирнов" in owner.get("/portfolio/shares").text
    assert "Скрыть моё имя" in petr.get(f"/s/{share.token}").text
    assert form(petr, f"/s/{share.token}/name", {"named": ""}).status_code == 303
    assert "Пётр Смирнов" not in owner.get("/portfolio/shares").text
    # consent to a link that does not exist, or without a session, changes nothing
    assert form(petr, "/s/not-a-real-token/name", {"named": "1"}).status_code == 404
    anon = TestClient(env.app, follow_redirects=False)
    assert form(anon, f"/s/{share.token}/name", {"named": "1"}).status_code in (303, 401)
    with svc.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.share_consents)).scalar_one() == 0
