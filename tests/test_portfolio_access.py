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

from tests.test_portfolio_helpers import env  # noqa: F401

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
    ("GET", "/lang/{code}"): EVERYONE,
    ("GET", "/account"): SIGNED_IN,
    ("POST", "/account/delete"): HOLDERS,
    ("GET", "/portfolio"): HOLDERS,
    ("POST", "/portfolio/items/{ref}/public"): HOLDERS,
    ("GET", "/portfolio/upload"): HOLDERS,
    ("POST", "/portfolio/upload"): HOLDERS,
    ("POST", "/portfolio/uploads/{upload_id}/ask"): HOLDERS,
    ("GET", "/portfolio/uploads/{upload_id}/file"): HOLDERS,
    ("GET", "/portfolio/shares"): HOLDERS,
    ("POST", "/portfolio/shares"): HOLDERS,
    ("POST", "/portfolio/shares/{share_id}/revoke"): HOLDERS,
    ("GET", "/portfolio/shares/{share_id}/qr.svg"): HOLDERS,
    ("GET", "/portfolio/credentials/{credential_id}/bundle"): HOLDERS,
    ("GET", "/portfolio/credentials/{credential_id}/pdf"): HOLDERS,
    ("GET", "/staff"): STAFFS,
    ("GET", "/staff/issue"): STAFFS,
    ("POST", "/staff/issue"): STAFFS,
    ("GET", "/staff/batch"): STAFFS,
    ("POST", "/staff/batch"): STAFFS,
    ("GET", "/staff/batches/{batch_id}"): STAFFS,
    ("GET", "/staff/requests"): STAFFS,
    ("POST", "/staff/requests/{request_id}/confirm"): STAFFS,
    ("POST", "/staff/requests/{request_id}/reject"): STAFFS,
    ("GET", "/staff/uploads/{upload_id}/file"): STAFFS,
    ("POST", "/staff/credentials/{credential_id}/revoke"): STAFFS,
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
    ("GET", "/c/{digest}"): EVERYONE,
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
    ("GET", "/api/v1/opportunities/discover"): STAFFS,
}

DUMMY = {"code": "en", "ref": "c:00000000-0000-0000-0000-000000000000", "upload_id": "999", "share_id": "999",
         "credential_id": "00000000-0000-0000-0000-000000000000", "batch_id": "999", "request_id": "999", "token_id": "999",
         "institution_id": "no-such-inst", "token": "A" * 43, "digest": "0" * 64,
         "announcement_id": "999", "subscription_id": "999", "follow_id": "999"}
# Not part of the e-portfolio: the ledger's own routers, docs and static files.
OTHER_PREFIXES = ("/api/v1/ledger", "/api/v1/network", "/api/v1/health", "/checkpoint", "/tile", "/add-checkpoint", "/docs", "/redoc", "/openapi")


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
