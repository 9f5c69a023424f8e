"""The core e-portfolio flows through HTTP: sign-in, issuing, upload → confirm, share → verify, revoke."""

from __future__ import annotations

from portfolio_api.services.credentials import IssueRequest
from tests.portfolio.helpers import PDF, PEOPLE, PNG, env, form  # noqa: F401


def test_staff_issues_and_student_sees_it_verified_on_timeline(env):
    staff = env.browser("olymp")
    r = staff.get("/staff/issue")
    assert r.status_code == 200
    r = form(staff, "/staff/issue", {"holder_email": "maria@example.org", "kind": "olympiad", "title": "Победитель олимпиады по математике",
                                      "achieved_on": "2026-03-01", "idem": "form-0001-abcdef"})
    assert r.status_code == 303, r.text
    maria = env.browser("maria")
    page = maria.get("/portfolio").text
    assert "Победитель олимпиады по математике" in page
    assert "Подтверждено в реестре" in page
    (c,) = env.svc.credentials.held_by(env.users["maria"].id)
    assert env.node.log.registry.status(c.digest) == "valid"


def test_issuing_form_submitted_twice_issues_once(env):
    staff = env.browser("olymp")
    data = {"holder_email": "maria@example.org", "kind": "olympiad", "title": "Призёр", "achieved_on": "2026-03-01", "idem": "same-form-key-1"}
    assert form(staff, "/staff/issue", data).status_code == 303
    size = env.node.log.size
    assert form(staff, "/staff/issue", data).status_code == 303
    assert env.node.log.size == size
    assert len(env.svc.credentials.held_by(env.users["maria"].id)) == 1


def test_upload_form_submitted_twice_stores_one_diploma_and_one_request(env):
    maria = env.browser("maria")
    page = maria.get("/portfolio/upload").text
    idem = page.split('name="idem" value="')[1].split('"')[0]
    data = {"kind": "diploma", "title": "Диплом победителя", "issued_on": "2025-05-20", "issuer_id": "school-1", "ask": "1", "idem": idem}
    for _ in range(2):
        r = form(maria, "/portfolio/upload", data, files={"file": ("d.png", PNG, "image/png")})
        assert r.status_code == 303
    (up,) = env.svc.uploads.owned_by(env.users["maria"].id)
    assert up.request_status == "pending"
    assert len(env.svc.uploads.requests_for(env.users["school"])) == 1
    r = form(maria, "/portfolio/upload", {**data, "idem": idem + "-2"}, files={"file": ("d.png", PNG, "image/png")})
    assert r.status_code == 303 and len(env.svc.uploads.owned_by(env.users["maria"].id)) == 2


def test_upload_confirm_share_and_university_sees_verified(env):
    maria = env.browser("maria")
    r = form(maria, "/portfolio/upload", {"kind": "diploma", "title": "Диплом победителя", "issued_on": "2025-05-20", "issuer_id": "school-1", "ask": "1"},
             files={"file": ("scan.png", PNG, "image/png")})
    assert r.status_code == 303, r.text
    assert "Ожидает подтверждения" in maria.get("/portfolio").text
    staff = env.browser("school")
    page = staff.get("/staff/requests").text
    assert "Диплом победителя" in page
    ((req, up, owner),) = env.svc.uploads.requests_for(env.users["school"])
    assert staff.get(f"/staff/uploads/{up.id}/file").content == PNG
    assert form(staff, f"/staff/requests/{req['id']}/confirm").status_code == 303
    # confirming again changes nothing
    size = env.node.log.size
    assert form(staff, f"/staff/requests/{req['id']}/confirm").status_code == 303
    assert env.node.log.size == size
    assert "Подтверждено в реестре" in maria.get("/portfolio").text
    assert form(maria, "/portfolio/shares", {"label": "МГУ", "days": "30", "scope": "all", "confirmed": "yes"}).status_code == 303
    (share,) = env.svc.portfolio.shares_of(env.users["maria"])
    uni = env.browser()
    page = uni.get(f"/s/{share.token}")
    assert page.status_code == 200
    assert "Диплом победителя" in page.text and "Подтверждено в реестре" in page.text
    assert "совпадают с хешем, записанным в реестре" in page.text
    (share,) = env.svc.portfolio.shares_of(env.users["maria"])
    assert len(share.accesses) == 1


def test_staff_cannot_confirm_another_institutions_request(env):
    maria = env.browser("maria")
    form(maria, "/portfolio/upload", {"kind": "diploma", "title": "Диплом", "issued_on": "2025-05-20", "issuer_id": "school-1", "ask": "1"},
         files={"file": ("scan.pdf", PDF, "application/pdf")})
    ((req, up, _),) = env.svc.uploads.requests_for(env.users["school"])
    other = env.browser("olymp")
    assert form(other, f"/staff/requests/{req['id']}/confirm").status_code == 404
    assert other.get(f"/staff/uploads/{up.id}/file").status_code == 404


def test_fake_typed_and_oversized_uploads_are_refused_and_change_nothing(env):
    maria = env.browser("maria")
    fake = form(maria, "/portfolio/upload", {"kind": "diploma", "title": "Диплом", "issued_on": "2025-05-20"},
                files={"file": ("diploma.pdf", b"MZ\x90\x00 this is an exe", "application/pdf")})
    assert fake.status_code == 400
    assert "не является PDF, JPEG или PNG" in fake.text
    env.svc.ctx.upload_max_bytes = 1024
    big = form(maria, "/portfolio/upload", {"kind": "diploma", "title": "Диплом", "issued_on": "2025-05-20"},
               files={"file": ("big.png", PNG + b"\x00" * 2048, "image/png")})
    assert big.status_code == 400
    assert env.svc.uploads.owned_by(env.users["maria"].id) == []


def test_revoked_credential_shown_revoked_to_the_university(env):
    c = env.svc.credentials.issue(env.users["olymp"], IssueRequest("petr@example.org", "olympiad", "Призёр по физике", "2026-02-10"))
    share = env.svc.portfolio.create_share(env.users["petr"], label="", items=[f"c:{c.id}"], days=5)
    staff = env.browser("olymp")
    assert form(staff, f"/staff/credentials/{c.id}/revoke", {"reason": "issued-in-error", "confirmed": "yes"}).status_code == 303
    page = env.browser().get(f"/s/{share.token}").text
    assert "Отозвано" in page and "выдан по ошибке" in page
    assert env.node.log.registry.status(c.digest) == "revoked"
    status_page = env.browser().get(f"/c/{c.digest}").text
    assert "Отозвано" in status_page


def test_revoked_and_expired_share_links_say_so(env):
    share = env.svc.portfolio.create_share(env.users["maria"], label="x", items=None, days=1)
    anon = env.browser()
    assert anon.get(f"/s/{share.token}").status_code == 200
    assert anon.get("/s/" + "A" * 43).status_code == 404
    env.svc.ctx.clock = lambda: env.node.clock() + 2 * 86400
    r = anon.get(f"/s/{share.token}")
    assert r.status_code == 410 and "expired" in r.text
    env.svc.ctx.clock = env.node.clock
    maria = env.browser("maria")
    assert form(maria, f"/portfolio/shares/{share.id}/revoke", {"confirmed": "yes"}).status_code == 303
    r = anon.get(f"/s/{share.token}")
    assert r.status_code == 410 and "revoked" in r.text


def test_form_without_csrf_token_is_refused(env):
    maria = env.browser("maria")
    r = maria.post("/portfolio/shares", data={"days": "5", "scope": "all"})
    assert r.status_code == 403
    r = maria.post("/portfolio/shares", data={"days": "5", "scope": "all", "csrf": "x" * 43})
    assert r.status_code == 403
    assert env.svc.portfolio.shares_of(env.users["maria"]) == []


def test_login_is_rate_limited(env):
    c = env.browser()
    # The clock stands still: the sixth attempt's wait (1 s after the fifth failure) must not run out while a
    # loaded machine hashes passwords (a CI run once spent over a second between the two).
    frozen = env.svc.ctx.now()
    env.svc.ctx.clock = lambda: frozen
    for _ in range(5):
        r = form(c, "/login", {"email": "maria@example.org", "password": "wrong password!"})
        assert r.status_code == 401
    r = form(c, "/login", {"email": "maria@example.org", "password": PEOPLE_PASSWORD})
    assert r.status_code == 429


PEOPLE_PASSWORD = "correct horse battery"
