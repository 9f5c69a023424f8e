"""The portfolio's own schema: its migration matches tables.py, it keeps its own version table,
and the core flow runs on PostgreSQL as on SQLite. Also: the catalogue and the demo seed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from portfolio_api.db import VERSION_TABLE, create_engine, migrate, tables
from portfolio_api.i18n import LANGS, catalogue_ids
from portfolio_api.services.credentials import IssueRequest
from tests.portfolio.helpers import PASSWORD, PEOPLE, make_env


def _columns(engine: sa.Engine) -> dict[str, set[tuple[str, bool]]]:
    insp = sa.inspect(engine)
    return {tname: {(c["name"], c["nullable"]) for c in insp.get_columns(tname)} for tname in insp.get_table_names() if tname.startswith("pf_")}


def test_migration_creates_exactly_the_tables_of_tables_py(tmp_path):
    migrated = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(migrated)
    migrate(migrated)  # a no-op when current
    direct = sa.create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    tables.metadata.create_all(direct)
    assert _columns(migrated) == _columns(direct)
    with migrated.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == "0006"


def _core_flow(app) -> None:
    with TestClient(app, follow_redirects=False) as client:
        svc = app.state.portfolio
        users = {k: svc.accounts.create(e, PASSWORD, n, r, i) for k, (e, n, r, i) in PEOPLE.items()}
        c = svc.credentials.issue(users["olymp"], IssueRequest("maria@example.org", "olympiad", "Победитель", "2026-01-10", idem_key="pg-flow-0001"))
        again = svc.credentials.issue(users["olymp"], IssueRequest("maria@example.org", "olympiad", "Победитель", "2026-01-10", idem_key="pg-flow-0001"))
        assert again.id == c.id and c.status == "verified"
        share = svc.portfolio.create_share(users["maria"], label="", items=[f"c:{c.id}"], days=3)
        r = client.get(f"/s/{share.token}")
        assert r.status_code == 200 and "Подтверждено в реестре" in r.text
        svc.accounts.erase(users["maria"].id)
        assert app.state.node.log.registry.status(c.digest) == "valid"


def test_core_flow_on_sqlite(tmp_path):
    app, _ = make_env(tmp_path)
    _core_flow(app)


@pytest.mark.postgres
def test_core_flow_on_postgresql_shares_the_database_with_the_ledger(tmp_path, pg_store_url):
    app, _ = make_env(tmp_path, database_url=pg_store_url)
    _core_flow(app)
    engine = create_engine(pg_store_url)
    names = set(sa.inspect(engine).get_table_names())
    assert VERSION_TABLE in names and "pf_users" in names
    assert any(not n.startswith(("pf_", "portfolio_")) for n in names)  # the ledger's tables, alongside
    engine.dispose()


def test_every_catalogue_entry_has_every_language():
    ids = {lang: catalogue_ids(lang) for lang in LANGS}
    assert ids["ru"] == ids["en"], {lang: sorted(ids[lang] - ids[other])[:10] for lang, other in (("ru", "en"), ("en", "ru"))}


def test_demo_seed_runs_once_and_returns_the_logins(tmp_path):
    from ledger.node.datadir import InstitutionSpec  # noqa: F401
    from portfolio_api.demo import DEMO_PEOPLE, seed_demo

    app, _ = make_env(tmp_path)
    with TestClient(app):
        svc = app.state.portfolio
        # the demo issues from its own institution ids; map them onto the test network's
        import portfolio_api.demo as demo

        mp = {"olymp-centre": "olymp", "ipk-teachers": "school-1", "state-university": "uni-1"}
        people = tuple((e, n, r, mp.get(i, i) if i else None) for e, n, r, i in DEMO_PEOPLE)
        templates = tuple((mp[i], k, t) for i, k, t in demo.DEMO_TEMPLATES)
        orig = demo.DEMO_PEOPLE, demo.DEMO_TEMPLATES
        demo.DEMO_PEOPLE, demo.DEMO_TEMPLATES = people, templates
        try:
            _patch_upload_issuer(demo, mp)
            logins = seed_demo(svc)
            size = app.state.node.log.size
            assert seed_demo(svc) == logins
            assert app.state.node.log.size == size
        finally:
            demo.DEMO_PEOPLE, demo.DEMO_TEMPLATES = orig
        maria = svc.accounts.authenticate("maria@demo.eduledger.example", logins[0][2], "127.0.0.1")
        statuses = sorted(i.status for i in svc.portfolio.timeline(maria.id))
        assert statuses == ["awaiting", "verified", "verified"]


def _patch_upload_issuer(demo, mp) -> None:
    # seed_demo asks "olymp-centre" to confirm the upload; on the test network that is "olymp".
    import portfolio_api.services.uploads as up

    original = up.Uploads.add

    def add(self, owner, **kw):
        kw["issuer_id"] = mp.get(kw.get("issuer_id"), kw.get("issuer_id"))
        return original(self, owner, **kw)

    up.Uploads.add = add  # restored by the test process ending; only this test calls seed_demo
