"""Issue-4 behaviours not covered elsewhere: rejection, supersession, templates, share QR codes, public items,
cookie and password storage, the OpenAPI document, a downloaded PDF through the real CLI, and teachers' portfolios."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import segno
import sqlalchemy as sa

from ledger.cli import main as ledger_cli
from portfolio_api.db import tables as t
from portfolio_api.services.credentials import IssueRequest
from tests.portfolio.helpers import PASSWORD, PNG, env, form  # noqa: F401
from verifier.pdf import extract_bundle


def _issue(env, holder="maria@example.org", title="Победитель олимпиады по химии", staff="olymp", kind="olympiad"):
    return env.svc.credentials.issue(env.users[staff], IssueRequest(holder, kind, title, "2026-03-01"))


def _row(page: str, ref: str) -> str:
    """The HTML of the timeline item / shared-view row whose data-ref is ``ref``."""
    m = re.search(r'<(li|tr) [^>]*data-ref="' + re.escape(ref) + r'".*?</\1>', page, re.S)
    assert m, f"no row for {ref}"
    return m.group(0)


def _login(app, email: str):
    from fastapi.testclient import TestClient

    c = TestClient(app, follow_redirects=False)
    c.get("/login")
    r = form(c, "/login", {"email": email, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return c, r


# --- 1. rejection -----------------------------------------------------------------------------------------------


def test_rejected_diploma_shows_the_reason_to_its_owner_and_puts_nothing_on_the_ledger(env):
    maria = env.browser("maria")
    r = form(maria, "/portfolio/upload", {"kind": "diploma", "title": "Диплом призёра", "issued_on": "2025-05-20", "issuer_id": "school-1", "ask": "1"},
             files={"file": ("scan.png", PNG, "image/png")})
    assert r.status_code == 303, r.text
    ((req, up, _),) = env.svc.uploads.requests_for(env.users["school"])
    size = env.node.log.size
    staff = env.browser("school")
    assert form(staff, f"/staff/requests/{req['id']}/reject", {"reason": "такого диплома школа не выдавала"}).status_code == 303
    row = _row(maria.get("/portfolio").text, f"u:{up.id}")
    assert "status-rejected" in row and "Отклонено организацией" in row and "такого диплома школа не выдавала" in row
    assert env.node.log.size == size
    # rejecting again (with another reason) and confirming after the rejection change nothing
    assert form(staff, f"/staff/requests/{req['id']}/reject", {"reason": "другая причина"}).status_code == 303
    assert form(staff, f"/staff/requests/{req['id']}/confirm").status_code == 409
    (after,) = env.svc.uploads.owned_by(env.users["maria"].id)
    assert after.request_status == "rejected" and after.request_reason == "такого диплома школа не выдавала"
    assert after.credential_id is None and env.svc.credentials.held_by(env.users["maria"].id) == []
    assert env.node.log.size == size
    with env.svc.ctx.engine.begin() as conn:
        actions = [a.action for a in conn.execute(sa.select(t.audit_log)).all()]
    assert actions.count("reject") == 1 and "confirm" not in actions


def test_rejection_without_a_reason_is_refused_and_changes_nothing(env):
    maria = env.browser("maria")
    form(maria, "/portfolio/upload", {"kind": "diploma", "title": "Диплом", "issued_on": "2025-05-20", "issuer_id": "school-1", "ask": "1"},
         files={"file": ("scan.png", PNG, "image/png")})
    ((req, _, _),) = env.svc.uploads.requests_for(env.users["school"])
    assert form(env.browser("school"), f"/staff/requests/{req['id']}/reject", {"reason": "  "}).status_code == 400
    (up,) = env.svc.uploads.owned_by(env.users["maria"].id)
    assert up.request_status == "pending" and up.request_reason is None


# --- 2. supersession --------------------------------------------------------------------------------------------


def test_superseding_through_the_staff_page_marks_the_old_one_superseded_and_points_to_the_verified_new_one(env):
    old = _issue(env, title="Призёр олимпиады по химии")
    share = env.svc.portfolio.create_share(env.users["maria"], label="ГУ", items=None, days=5)
    chosen = env.svc.portfolio.create_share(env.users["maria"], label="только старый", items=[f"c:{old.id}"], days=5)
    staff = env.browser("olymp")
    r = form(staff, f"/staff/credentials/{old.id}/supersede", {"title": "Победитель олимпиады по химии", "achieved_on": "2026-03-01",
                                                                "idem": "supersede-form-01", "confirmed": "yes"})
    assert r.status_code == 303, r.text
    new = next(c for c in env.svc.credentials.held_by(env.users["maria"].id) if c.id != old.id)
    assert new.title == "Победитель олимпиады по химии" and new.status == "verified"
    reg = env.node.log.registry
    assert reg.status(old.digest) == "superseded" and reg.supersessions[old.digest].by == new.digest
    assert reg.status(new.digest) == "valid"
    timeline = env.browser("maria").get("/portfolio").text
    assert "status-superseded" in _row(timeline, f"c:{old.id}") and "Заменено исправленным" in _row(timeline, f"c:{old.id}")
    assert "status-verified" in _row(timeline, f"c:{new.id}")
    for s in (share, chosen):  # the university sees which credential replaced it, even on a link to the old one only
        page = env.browser().get(f"/s/{s.token}").text
        old_row = _row(page, f"c:{old.id}")
        assert "Заменено исправленным" in old_row and new.digest in old_row
    assert "status-verified" in _row(env.browser().get(f"/s/{share.token}").text, f"c:{new.id}")
    assert "Подтверждено в реестре" in env.browser().get(f"/c/{new.digest}").text
    bundle = env.browser("maria").get(f"/portfolio/credentials/{new.id}/bundle").content
    checked = form(env.browser(), "/verify", files={"file": ("new.json", bundle, "application/json")})
    assert checked.status_code == 200 and "Проверка пройдена" in checked.text
    # the same form again supersedes nothing more; the old one can no longer be superseded
    size = env.node.log.size
    assert form(staff, f"/staff/credentials/{old.id}/supersede", {"title": "Ещё раз", "achieved_on": "2026-03-01", "idem": "supersede-form-02",
                                                                  "confirmed": "yes"}).status_code == 409
    assert env.node.log.size == size and len(env.svc.credentials.held_by(env.users["maria"].id)) == 2


# --- 3. templates -----------------------------------------------------------------------------------------------


def test_issuing_from_a_template_on_the_staff_form_gives_the_templates_kind_title_and_description(env):
    tid = env.svc.credentials.add_template("olymp", "contest", "Лауреат конкурса исследовательских работ", "за исследование по экологии")
    other = env.svc.credentials.add_template("school-1", "school-certificate", "Похвальный лист")
    staff = env.browser("olymp")
    page = staff.get("/staff/issue").text
    assert f'<option value="{tid}">Лауреат конкурса исследовательских работ</option>' in page
    assert "Похвальный лист" not in page  # another institution's template is not offered
    r = form(staff, "/staff/issue", {"template_id": str(tid), "holder_email": "petr@example.org", "kind": "olympiad", "title": "", "description": "",
                                      "achieved_on": "2026-04-10", "idem": "template-form-01"})
    assert r.status_code == 303, r.text
    (c,) = env.svc.credentials.held_by(env.users["petr"].id)
    assert (c.kind, c.title, c.status) == ("contest", "Лауреат конкурса исследовательских работ", "verified")
    achievement = env.svc.credentials.credential_json(c.id)["credentialSubject"]["achievement"]
    assert achievement["achievementType"] == "Award" and achievement["description"] == "за исследование по экологии"  # a contest: an OB 3.0 Award
    assert env.node.log.registry.anchors[c.digest].institution == "olymp"
    # another institution's template id is refused and issues nothing
    size = env.node.log.size
    r = form(staff, "/staff/issue", {"template_id": str(other), "holder_email": "petr@example.org", "achieved_on": "2026-04-10", "idem": "template-form-02"})
    assert r.status_code == 400 and env.node.log.size == size and len(env.svc.credentials.held_by(env.users["petr"].id)) == 1


# --- 4. share QR code -------------------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def _qr_modules(svg: bytes) -> set[tuple[int, int]]:
    """The dark modules (row, column) drawn by segno's SVG path, quiet zone removed (a decoder for this one writer)."""
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == SVG + "svg"
    (path,) = root.iter(SVG + "path")
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for cmd, a, b in re.findall(r"([MmHhVv])\s*(-?[\d.]+)(?:[ ,](-?[\d.]+))?", path.get("d")):
        if cmd in "Mm":
            x, y = (float(a), float(b)) if cmd == "M" else (x + float(a), y + float(b))
        elif cmd in "Hh":
            end = float(a) if cmd == "H" else x + float(a)
            dark.update((int(y), int(col)) for col in range(int(x), int(end)))
            x = end
    top, left = min(r for r, _ in dark), min(c for _, c in dark)  # the finder pattern's corner is dark
    return {(r - top, c - left) for r, c in dark}


def _matrix_modules(qr) -> set[tuple[int, int]]:
    return {(r, c) for r, row in enumerate(qr.matrix) for c, v in enumerate(row) if v}


def test_share_qr_code_is_an_svg_of_the_share_url_for_its_owner_only(env):
    share = env.svc.portfolio.create_share(env.users["maria"], label="ГУ", items=None, days=5)
    maria = env.browser("maria")
    r = maria.get(f"/portfolio/shares/{share.id}/qr.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.headers.get("cache-control") == "no-store"
    drawn = _qr_modules(r.content)
    public = env.app.state.settings.effective_public_url  # EDULEDGER_PUBLIC_URL, never the Host header
    url = f"{public}/s/{share.token}"
    assert any(drawn == _matrix_modules(segno.make(url, error=e, boost_error=False)) or drawn == _matrix_modules(segno.make(url, error=e))
               for e in "lmqh"), "the QR code does not encode the share URL"
    assert all(drawn != _matrix_modules(segno.make(f"{public}/s/{'A' * 43}", error=e)) for e in "lmqh")
    # the link it encodes opens the shared portfolio
    assert env.browser().get(f"/s/{share.token}").status_code == 200
    # another person, staff and an anonymous visitor do not get it
    assert env.browser("petr").get(f"/portfolio/shares/{share.id}/qr.svg").status_code == 404
    assert env.browser("olymp").get(f"/portfolio/shares/{share.id}/qr.svg").status_code == 403
    anon = env.browser().get(f"/portfolio/shares/{share.id}/qr.svg")
    assert anon.status_code in (303, 401) and share.token not in anon.text


# --- 5. public items --------------------------------------------------------------------------------------------


def test_items_made_private_leave_the_public_share_and_the_followers_view_and_return_when_made_public(env):
    shown, hidden = _issue(env, title="Победитель олимпиады по физике"), _issue(env, title="Призёр олимпиады по биологии")
    maria = env.browser("maria")
    form(maria, "/portfolio/upload", {"kind": "diploma", "title": "Грамота за участие", "issued_on": "2025-05-20"}, files={"file": ("a.png", PNG, "image/png")})
    (up,) = env.svc.uploads.owned_by(env.users["maria"].id)
    for ref in (f"c:{hidden.id}", f"u:{up.id}"):
        assert form(maria, f"/portfolio/items/{ref}/public", {"public": "0"}).status_code == 303
    timeline = maria.get("/portfolio").text
    assert "скрыто" in _row(timeline, f"c:{hidden.id}") and "публично" in _row(timeline, f"c:{shown.id}")
    assert {i.ref: i.public for i in env.svc.portfolio.timeline(env.users["maria"].id)} == {f"c:{shown.id}": True, f"c:{hidden.id}": False, f"u:{up.id}": False}
    share = env.svc.portfolio.create_share(env.users["maria"], label="ГУ", items=None, days=5)
    page = env.browser().get(f"/s/{share.token}").text
    assert "Победитель олимпиады по физике" in page
    assert "Призёр олимпиады по биологии" not in page and "Грамота за участие" not in page
    # a follower (consent by grant, and by the whole-portfolio link) sees only the public item
    env.svc.follows.grant(env.users["maria"], "uni-1")
    env.svc.follows.follow_by_share(env.users["school"], f"http://testserver/s/{share.token}")
    for staff in ("uni", "school"):
        ((_, person, items),) = env.svc.follows.feed(env.users[staff])
        assert person.id == env.users["maria"].id and [c.id for c in items] == [shown.id]
    # someone else's item cannot be toggled; an unknown ref is refused
    assert form(env.browser("petr"), f"/portfolio/items/c:{shown.id}/public", {"public": "0"}).status_code == 404
    assert form(maria, "/portfolio/items/x:1/public", {"public": "0"}).status_code == 400
    assert env.svc.credentials.get(shown.id).public
    # made public again, it is back on the same link
    assert form(maria, f"/portfolio/items/c:{hidden.id}/public", {"public": "1"}).status_code == 303
    assert "Призёр олимпиады по биологии" in env.browser().get(f"/s/{share.token}").text


# --- 6. cookies and password storage ----------------------------------------------------------------------------


def test_session_cookie_is_httponly_samesite_and_passwords_are_stored_only_as_argon2id(env):
    c = env.browser()
    r = form(c, "/register", {"name": "Иван Петров", "email": "ivan@example.org", "password": "a fresh passphrase 2026", "role": "student"})
    assert r.status_code == 303 and "edu_session" not in r.cookies, r.text  # registration signs nobody in (issue 16)
    r = form(c, "/login", {"email": "ivan@example.org", "password": "a fresh passphrase 2026"})
    _, login = _login(env.app, "maria@example.org")
    for response in (r, login):
        (cookie,) = [h for h in response.headers.get_list("set-cookie") if h.startswith("edu_session=")]
        attrs = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
        assert "httponly" in attrs
        assert attrs["samesite"].lower() in ("samesite=lax", "samesite=strict")
    with env.svc.ctx.engine.begin() as conn:
        hashes = conn.execute(sa.select(t.users.c.password_hash)).scalars().all()
    assert len(hashes) == len(env.users) + 1 and all(h.startswith("$argon2id$") for h in hashes)
    raw = b"".join(p.read_bytes() for p in env.data.glob("ledger.db*"))
    assert b"a fresh passphrase 2026" not in raw and PASSWORD.encode() not in raw


# --- 7. OpenAPI -------------------------------------------------------------------------------------------------


def test_the_portfolio_json_api_is_documented_in_openapi(env):
    doc = env.client.get("/openapi.json").json()
    paths = doc["paths"]
    for path, method in [("/api/v1/portfolio/items", "get"), ("/api/v1/institution/credentials", "get"), ("/api/v1/institution/credentials", "post"),
                         ("/api/v1/verify", "post"), ("/api/v1/trust", "get"), ("/api/v1/credentials/bundle", "post")]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} is not in /openapi.json"
    assert "IssueRequest" in json.dumps(paths["/api/v1/institution/credentials"]["post"]) or "requestBody" in paths["/api/v1/institution/credentials"]["post"]
    assert not [p for p in paths if p.startswith(("/portfolio", "/staff", "/login"))]  # HTML form routes are not API
    docs = env.client.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text


# --- 8. a downloaded PDF through the real CLI -------------------------------------------------------------------


def test_downloaded_pdf_verifies_with_the_cli_and_one_flipped_byte_in_its_bundle_fails(env, tmp_path, capsys):
    c = _issue(env)
    pdf = env.browser("maria").get(f"/portfolio/credentials/{c.id}/pdf").content
    trust = tmp_path / "trust.json"
    trust.write_bytes(env.client.get("/api/v1/trust").content)
    good = tmp_path / "diploma.pdf"
    good.write_bytes(pdf)
    capsys.readouterr()
    assert ledger_cli.main(["verify", str(good), "--trust", str(trust), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["files"][0]["status"] == "verified"
    # flip one byte of the holder's name inside the embedded bundle (stored as is in the PDF)
    bundle = extract_bundle(pdf)
    start = pdf.find(bundle)
    assert start > 0, "the bundle is not stored uncompressed; find its region another way"
    name_at = bundle.find(b'"name"', bundle.find(b'"credentialSubject"'))
    flip_at = start + bundle.find(b'"', name_at + len(b'"name"') + 1) + 1 + 3
    forged = bytearray(pdf)
    forged[flip_at] ^= 0x01
    bad = tmp_path / "forged.pdf"
    bad.write_bytes(bytes(forged))
    assert extract_bundle(bytes(forged)) != bundle
    assert ledger_cli.main(["verify", str(bad), "--trust", str(trust), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and report["files"][0]["status"] == "failed"


# --- 9. a teacher's professional-development certificate --------------------------------------------------------


def test_teacher_receives_a_training_institutes_certificate_sees_it_verified_and_shares_it(env):
    net = env.browser("net")
    r = form(net, "/network/institutions", {"id": "ipk-1", "name": "Институт повышения квалификации", "type": "training-institute",
                                           "admin_email": "admin@ipk.example.org", "admin_password": PASSWORD})
    assert r.status_code == 303, r.text
    institute, _ = _login(env.app, "admin@ipk.example.org")
    r = form(institute, "/staff/issue", {"holder_email": "anna@example.org", "kind": "professional-development",
                                          "title": "Цифровые инструменты учителя (72 часа)", "achieved_on": "2026-02-15", "idem": "ipk-form-0001"})
    assert r.status_code == 303, r.text
    (c,) = env.svc.credentials.held_by(env.users["anna"].id)
    assert c.institution_id == "ipk-1" and c.kind == "professional-development"
    assert env.node.log.registry.anchors[c.digest].institution == "ipk-1"
    anna = env.browser("anna")
    row = _row(anna.get("/portfolio").text, f"c:{c.id}")
    assert "Цифровые инструменты учителя" in row and "Повышение квалификации" in row and "Подтверждено в реестре" in row
    assert form(anna, "/portfolio/shares", {"label": "Аттестационная комиссия", "days": "14", "scope": "selected", "items": f"c:{c.id}",
                                           "confirmed": "yes"}).status_code == 303
    (share,) = env.svc.portfolio.shares_of(env.users["anna"])
    page = env.browser().get(f"/s/{share.token}")
    assert page.status_code == 200
    shared = _row(page.text, f"c:{c.id}")
    assert "Анна Кузнецова" in page.text and "Институт повышения квалификации" in shared and "Подтверждено в реестре" in shared
    pdf = anna.get(f"/portfolio/credentials/{c.id}/pdf")
    assert pdf.status_code == 200 and json.loads(extract_bundle(pdf.content))["credential"]["credentialSubject"]["name"] == "Анна Кузнецова"
