"""Every portfolio route, called by every role: who may, and who may not.

The table below is the access policy. A route added without an entry here
fails ``test_every_route_is_in_the_policy``, so no endpoint escapes the walk.
Allowed callers must not get 401/403 (they may get 404/400 for the dummy ids
used here); everyone else must get 401 (not signed in; pages redirect to
/login) or 403.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from tests.portfolio.helpers import env  # noqa: F401

ANON, STUDENT, TEACHER, STAFF, INST_ADMIN, NET_ADMIN = "anon", "maria", "anna", "olymp", "olymp_admin", "net"
EVERYONE = {ANON, STUDENT, TEACHER, STAFF, INST_ADMIN, NET_ADMIN}
SIGNED_IN = EVERYONE - {ANON}
HOLDERS = {STUDENT, TEACHER}
STAFFS = {STAFF, INST_ADMIN}

POLICY: dict[tuple[str, str], set[str]] = {
    ("GET", "/"): EVERYONE,
    ("GET", "/login"): EVERYONE,
    ("POST", "/login"): EVERYONE,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/register"): EVERYONE,
    ("POST", "/register"): EVERYONE,
    ("GET", "/register/confirm/{token}"): EVERYONE,
    ("POST", "/register/confirm/{token}"): EVERYONE,
    ("GET", "/login/link"): EVERYONE,
    ("POST", "/login/link"): EVERYONE,
    ("GET", "/login/link/{token}"): EVERYONE,
    ("POST", "/login/link/{token}"): EVERYONE,
    ("GET", "/lang/{code}"): EVERYONE,
    ("GET", "/account"): SIGNED_IN,
    ("GET", "/account/delete"): HOLDERS,
    ("POST", "/account/delete"): HOLDERS,
    ("GET", "/portfolio"): HOLDERS,
    ("POST", "/portfolio/items/{ref}/public"): HOLDERS,
    ("GET", "/portfolio/upload"): HOLDERS,
    ("POST", "/portfolio/upload"): HOLDERS,
    ("POST", "/portfolio/uploads/{upload_id}/ask"): HOLDERS,
    ("GET", "/portfolio/uploads/{upload_id}/file"): HOLDERS,
    ("GET", "/portfolio/shares"): HOLDERS,
    ("POST", "/portfolio/shares"): HOLDERS,
    ("GET", "/portfolio/shares/{share_id}/revoke"): HOLDERS,
    ("POST", "/portfolio/shares/{share_id}/revoke"): HOLDERS,
    ("GET", "/portfolio/shares/{share_id}/qr.svg"): HOLDERS,
    ("GET", "/portfolio/credentials/{credential_id}/bundle"): HOLDERS,
    ("GET", "/portfolio/credentials/{credential_id}/pdf"): HOLDERS,
    ("GET", "/staff"): STAFFS,
    ("GET", "/staff/issue"): STAFFS,
    ("POST", "/staff/issue"): STAFFS,
    ("GET", "/staff/batch"): STAFFS,
    ("POST", "/staff/batch"): STAFFS,
    ("GET", "/staff/batch/template.csv"): STAFFS,
    ("GET", "/staff/batches/{batch_id}"): STAFFS,
    ("GET", "/staff/requests"): STAFFS,
    ("POST", "/staff/requests/{request_id}/confirm"): STAFFS,
    ("POST", "/staff/requests/{request_id}/reject"): STAFFS,
    ("GET", "/staff/uploads/{upload_id}/file"): STAFFS,
    ("GET", "/staff/credentials/{credential_id}/revoke"): STAFFS,
    ("POST", "/staff/credentials/{credential_id}/revoke"): STAFFS,
    ("GET", "/staff/credentials/{credential_id}/supersede"): STAFFS,
    ("POST", "/staff/credentials/{credential_id}/supersede"): STAFFS,
    ("GET", "/staff/audit"): STAFFS,
    ("GET", "/institution/admin"): {INST_ADMIN},
    ("POST", "/institution/staff"): {INST_ADMIN},
    ("POST", "/institution/tokens"): {INST_ADMIN},
    ("POST", "/institution/tokens/{token_id}/revoke"): {INST_ADMIN},
    ("GET", "/network/admin"): {NET_ADMIN},
    ("POST", "/network/institutions"): {NET_ADMIN},
    ("POST", "/network/institutions/{institution_id}/suspend"): {NET_ADMIN},
    ("GET", "/s/{token}"): EVERYONE,
    ("POST", "/s/{token}/name"): SIGNED_IN,
    ("POST", "/s/{token}/holder"): EVERYONE,
    ("GET", "/s/{token}/clr.json"): EVERYONE,
    ("GET", "/api/v1/shares/{token}/clr"): EVERYONE,
    ("GET", "/c/{digest}"): EVERYONE,
    ("GET", "/q/{digest}/{token}"): EVERYONE,
    ("GET", "/verify"): EVERYONE,
    ("POST", "/verify"): EVERYONE,
    ("POST", "/verify/bulk"): EVERYONE,
    ("GET", "/api/v1/portfolio/items"): HOLDERS,
    ("POST", "/api/v1/institution/credentials"): STAFFS,
    ("GET", "/api/v1/institution/credentials"): STAFFS,
    ("POST", "/api/v1/verify"): EVERYONE,
    ("GET", "/api/v1/trust"): EVERYONE,
    ("POST", "/api/v1/credentials/bundle"): EVERYONE,
    # opportunities (docs/opportunities.md)
    ("GET", "/opportunities"): EVERYONE,
    ("GET", "/opportunities/{announcement_id}"): EVERYONE,
    ("GET", "/opportunities/new"): STAFFS,
    ("POST", "/opportunities"): STAFFS,
    ("POST", "/opportunities/{announcement_id}/results"): STAFFS,
    ("GET", "/opportunities/subscriptions"): HOLDERS,
    ("POST", "/opportunities/subscriptions"): HOLDERS,
    ("POST", "/opportunities/subscriptions/{subscription_id}/cancel"): HOLDERS,
    ("POST", "/opportunities/notices/read"): HOLDERS,
    ("GET", "/opportunities/unsubscribe/{subscription_id}/{token}"): EVERYONE,
    ("POST", "/opportunities/unsubscribe/{subscription_id}/{token}"): EVERYONE,
    ("GET", "/opportunities/profile"): HOLDERS,
    ("POST", "/opportunities/profile"): HOLDERS,
    ("GET", "/opportunities/discover"): STAFFS,
    ("GET", "/opportunities/consents"): HOLDERS,
    ("POST", "/opportunities/consents"): HOLDERS,
    ("POST", "/opportunities/consents/{follow_id}/withdraw"): HOLDERS,
    ("GET", "/opportunities/applicants"): STAFFS,
    ("POST", "/opportunities/applicants"): STAFFS,
    ("GET", "/api/v1/opportunities"): EVERYONE,
    ("GET", "/network"): EVERYONE,
    ("GET", "/api/v1/opportunities/discover"): STAFFS,
}

DUMMY = {"code": "en", "ref": "c:00000000-0000-0000-0000-000000000000", "upload_id": "999", "share_id": "999",
         "credential_id": "00000000-0000-0000-0000-000000000000", "batch_id": "999", "request_id": "999", "token_id": "999",
         "institution_id": "no-such-inst", "token": "A" * 43, "digest": "0" * 64,
         "announcement_id": "999", "subscription_id": "999", "follow_id": "999"}
# Not part of the e-portfolio: the ledger's own routers, docs and static files.
OTHER_PREFIXES = ("/api/v1/ledger", "/api/v1/network", "/api/v1/health", "/checkpoint", "/tile", "/add-checkpoint", "/docs", "/redoc", "/openapi", "/contexts/", "/institutions/", "/status/")


def _flatten(routes):
    for r in routes:
        inner = getattr(r, "original_router", None)  # FastAPI >= 0.165 keeps included routers as one node
        if inner is not None:
            yield from _flatten(inner.routes)
        else:
            yield r


def portfolio_routes(app) -> list[tuple[str, str]]:
    out = []
    for r in _flatten(app.routes):
        if not isinstance(r, APIRoute) or r.path.startswith(OTHER_PREFIXES):
            continue
        for m in sorted(r.methods - {"HEAD"}):
            out.append((m, r.path))
    return out


def test_every_route_is_in_the_policy(env):
    routes = set(portfolio_routes(env.app))
    assert routes - set(POLICY) == set(), "routes without an access policy"
    assert set(POLICY) - routes == set(), "policy entries for routes that do not exist"


@pytest.mark.parametrize("role", sorted(EVERYONE))
def test_every_route_with_every_role(env, role):
    client = env.browser(None if role == ANON else role)
    problems = []
    # Signing out last: the walk must keep the session it is testing.
    for method, path in sorted(portfolio_routes(env.app), key=lambda mp: mp[1] == "/logout"):
        url = path.format(**DUMMY)
        if method == "GET":
            r = client.get(url)
        else:
            r = client.request(method, url, data={"csrf": client.cookies.get("edu_csrf")})
        allowed = role in POLICY[(method, path)]
        refused = r.status_code in (401, 403) or (r.status_code == 303 and r.headers["location"].startswith("/login"))
        if allowed and refused:
            problems.append(f"{role} refused on {method} {path}: {r.status_code}")
        if not allowed and not refused:
            problems.append(f"{role} NOT refused on {method} {path}: {r.status_code}")
    assert problems == []


# --- CSRF on every unsafe route, with real ids (nothing may change) ---

# Unsafe routes that need no CSRF token, and why. Anything else unsafe must refuse a request without one.
CSRF_EXEMPT = {
    # The e-mail's unsubscribe link is its own capability (an unguessable token), so mail clients' RFC 8058
    # one-click POST works without a session or a form.
    ("POST", "/opportunities/unsubscribe/{subscription_id}/{token}"),
    # Stateless checks answered from the request body alone: no session is read, nothing is stored.
    ("POST", "/api/v1/verify"),
    ("POST", "/api/v1/credentials/bundle"),
}
PREFERRED = (STUDENT, STAFF, INST_ADMIN, NET_ADMIN, TEACHER)


def _real_ids(env) -> dict[str, str]:
    """One real record behind every path parameter, so a request that got through would change something."""
    from portfolio_api.services.credentials import IssueRequest
    from tests.portfolio.helpers import PNG
    from tests.portfolio.test_opportunities import draft

    u, svc = env.users, env.svc
    c = svc.credentials.issue(u[STAFF], IssueRequest("maria@example.org", "olympiad", "Победитель олимпиады", "2026-03-01"))
    up = svc.uploads.add(u[STUDENT], data=PNG, filename="d.png", kind="diploma", title="Диплом", issued_on="2025-05-20", issuer_id="olymp",
                         ask_confirmation=True)
    share = svc.portfolio.create_share(u[STUDENT], label="ГУ", items=None, days=30)
    svc.admin.create_token(u[INST_ADMIN], "sis")
    (token,) = svc.admin.tokens(u[INST_ADMIN])
    aid, _ = svc.opportunities.publish(u[STAFF], draft())
    sid = svc.opportunities.subscribe(u[STUDENT], subject="физика", level="", region="", audience="pupils")
    fid = svc.follows.grant(u[STUDENT], "olymp")
    bid, _ = svc.batches.start(u[STAFF], "email,kind,title,date\nmaria@example.org,olympiad,Призёр,2026-01-01\n".encode(), "csrf-walk-batch")
    return {**DUMMY, "ref": f"c:{c.id}", "upload_id": str(up.id), "share_id": str(share.id), "credential_id": c.id, "batch_id": str(bid),
            "request_id": str(up.request_id), "token_id": str(token.id), "institution_id": "school-1", "token": share.token, "digest": c.digest,
            "announcement_id": str(aid), "subscription_id": str(sid), "follow_id": str(fid)}


def _state(env) -> dict:
    """Every portfolio row and the ledger size: what a refused request must leave exactly as it was."""
    import sqlalchemy as sa

    from portfolio_api.db import tables as t

    with env.svc.ctx.engine.connect() as conn:
        rows = {tb.name: sorted(map(tuple, conn.execute(sa.select(tb))), key=repr) for tb in t.metadata.sorted_tables}
    return {"rows": rows, "ledger": env.node.log.size}


def test_every_unsafe_route_refuses_a_request_without_a_valid_csrf_token_and_changes_nothing(env):
    from tests.portfolio.helpers import PASSWORD, PNG

    ids = _real_ids(env)
    browsers = {who: env.browser(who) for who in PREFERRED}
    before = _state(env)
    unsafe = [(m, p) for m, p in portfolio_routes(env.app) if m in ("POST", "PUT", "PATCH", "DELETE") and (m, p) not in CSRF_EXEMPT]
    assert len(unsafe) >= 30  # the walk covers the web forms and the session-authenticated JSON API
    problems = []
    fields = {"password": PASSWORD, "reason": "withdrawn", "title": "Исправлено", "achieved_on": "2026-03-02", "days": "5", "scope": "all",
              "label": "x", "public": "0", "institution_id": "uni-1", "audience": "pupils", "link": "x", "credential_id": ids["credential_id"],
              "email": "maria@example.org", "name": "Имя Фамилия", "holder_email": "maria@example.org", "kind": "olympiad", "idem": "csrf-walk-0001"}
    for method, path in unsafe:
        allowed = POLICY.get((method, path), set())
        who = next((w for w in PREFERRED if w in allowed), None)
        if who is None:
            problems.append(f"{method} {path}: no signed-in role allowed in POLICY to walk it with")
            continue
        url = path.format(**ids)
        for token in (None, "x" * 43):  # no token; a token that is not the cookie's
            c = browsers[who]
            if path.startswith("/api/"):
                headers = {"X-CSRF-Token": token} if token else {}
                r = c.request(method, url, json={"holder_email": "maria@example.org", "kind": "olympiad", "title": "X", "achieved_on": "2026-01-01",
                                                 "idempotency_key": "csrf-walk-api-1"}, headers=headers)
                ok = r.status_code == 403 and r.json().get("error") == "csrf"
            else:
                data = {**fields, **({"csrf": token} if token else {})}
                files = {"file": ("d.png", PNG, "image/png")} if path in ("/portfolio/upload", "/staff/batch", "/verify") else None
                r = c.request(method, url, data=data, files=files, headers={"Accept": "text/html"})  # as a browser: the error page
                ok = r.status_code == 403 and "Форма устарела" in r.text
            if not ok:
                problems.append(f"{who} {method} {path} (token={token is not None}): {r.status_code} {r.text[-300:]!r}")
    assert problems == []
    assert _state(env) == before, "a request without a valid CSRF token changed something"


# --- institution scoping with real ids: another institution's staff and API tokens see and change nothing ---


def test_staff_of_another_institution_cannot_touch_records_by_their_real_ids(env):
    import sqlalchemy as sa

    from portfolio_api.db import tables as t
    from tests.portfolio.helpers import form

    ids = _real_ids(env)  # olymp's credential, request (asked of olymp), batch, audit records
    school, uni = env.browser("school"), env.browser("uni")
    before = _state(env)
    cid, rid, bid = ids["credential_id"], ids["request_id"], ids["batch_id"]
    assert form(school, f"/staff/credentials/{cid}/revoke", {"reason": "withdrawn"}).status_code == 404
    assert form(school, f"/staff/credentials/{cid}/supersede", {"title": "Подмена", "achieved_on": "2026-03-02", "idem": "steal-0001"}).status_code == 404
    assert form(school, f"/staff/requests/{rid}/reject", {"reason": "чужой запрос"}).status_code == 404
    assert form(school, f"/staff/requests/{rid}/confirm").status_code == 404
    assert school.get(f"/staff/batches/{bid}").status_code == 404
    assert school.get(f"/staff/uploads/{ids['upload_id']}/file").status_code == 404
    assert form(school, f"/opportunities/{ids['announcement_id']}/results", {"credential_id": cid}).status_code == 403
    assert form(uni, f"/institution/tokens/{ids['token_id']}/revoke").status_code == 404
    after = _state(env)
    assert {k: v for k, v in after["rows"].items() if v != before["rows"][k]} == {} and after["ledger"] == before["ledger"]
    assert env.node.log.registry.status(env.svc.credentials.get(cid).digest) == "valid"
    # audit and the issued list: only the school's own records
    page = school.get("/staff/audit").text
    assert cid not in page and "csrf-walk-batch" not in page and f"staff#{env.users[STAFF].id}" not in page
    assert cid not in school.get("/staff").text
    with env.svc.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.audit_log).where(t.audit_log.c.institution_id == "olymp")).scalar() >= 2


def test_an_api_token_acts_for_its_own_institution_only_and_never_as_a_person(env):
    from tests.portfolio.helpers import PASSWORD

    ids = _real_ids(env)
    school_admin = env.svc.accounts.create("admin@school.example.org", PASSWORD, "Директор школы", "inst_admin", "school-1")
    school_token = env.svc.admin.create_token(school_admin, "school sis")
    olymp_token = env.svc.admin.create_token(env.users[INST_ADMIN], "olymp sis 2")
    api = env.browser()
    h = {"Authorization": f"Bearer {school_token}"}
    listed = api.get("/api/v1/institution/credentials", headers=h)
    assert listed.status_code == 200 and ids["credential_id"] not in listed.text  # olymp's credential is not the school's
    assert ids["credential_id"] in api.get("/api/v1/institution/credentials", headers={"Authorization": f"Bearer {olymp_token}"}).text
    body = {"holder_email": "maria@example.org", "kind": "school-certificate", "title": "Аттестат", "achieved_on": "2026-06-20",
            "idempotency_key": "api-scope-0001"}
    r = api.post("/api/v1/institution/credentials", json=body, headers=h)
    assert r.status_code == 200 and env.node.log.registry.anchors[r.json()["digest"]].institution == "school-1"  # issues as its own institution
    # the same idempotency key under another institution's token is that institution's own (new) credential
    r2 = api.post("/api/v1/institution/credentials", json=body, headers={"Authorization": f"Bearer {olymp_token}"})
    assert r2.status_code == 200 and r2.json()["id"] != r.json()["id"]
    assert env.node.log.registry.anchors[r2.json()["digest"]].institution == "olymp"
    # a token is no person: holder routes and web pages refuse it
    assert api.get("/api/v1/portfolio/items", headers=h).status_code == 401
    assert api.get("/staff", headers=h).status_code in (303, 401)
    assert api.post(f"/staff/credentials/{ids['credential_id']}/revoke", data={"reason": "withdrawn"}, headers=h).status_code in (303, 401)
    assert env.node.log.registry.status(env.svc.credentials.get(ids["credential_id"]).digest) == "valid"
    # revoked: refused everywhere at once
    (tok,) = [x for x in env.svc.admin.tokens(school_admin)]
    env.svc.admin.revoke_token(school_admin, tok.id)
    assert api.get("/api/v1/institution/credentials", headers=h).status_code == 403
    assert api.get("/api/v1/opportunities/discover", headers=h).status_code == 403
