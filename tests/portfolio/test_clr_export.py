"""A share link's record as a CLR 2.0 ClrCredential (issue 17): ``GET /s/<token>/clr.json`` and
``GET /api/v1/shares/<token>/clr`` carry exactly the link's verified credentials as stored, pass the official
schema, drop nothing in JSON-LD, are signed by this node's institution, and follow the link's access rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from ledger.errors import SignatureError
from ledger.tlog.canonical import canonical_digest
from portfolio_api.services import clr_export
from portfolio_api.services.credentials import IssueRequest
from tests.portfolio import helpers
from tests.portfolio.helpers import PNG
from verifier.clr import parse_clr
from verifier.dataintegrity import multikey, proof_of, verify_proof
from verifier.didweb import document_path, institution_did
from verifier.jsonld import dropped_terms

env = helpers.env  # the fixture (a binding, not an import: test parameters named env use it)

SCHEMA = Path(__file__).resolve().parents[1] / "verifier" / "schemas" / "clr_v2p0_clrcredential_schema.json"


@pytest.fixture(scope="module")
def clr_schema():
    return jsonschema.Draft201909Validator(json.loads(SCHEMA.read_bytes()), format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)


@pytest.fixture
def shared(env):
    """Maria's link showing two verified credentials (two issuers), a revoked one and an upload; a third verified
    credential of hers is not on the link."""
    u, svc = env.users, env.svc
    physics = svc.credentials.issue(u["olymp"], IssueRequest("maria@example.org", "olympiad", "Победитель олимпиады по физике", "2025-04-10"))
    school = svc.credentials.issue(u["school"], IssueRequest("maria@example.org", "school-certificate", "Похвальная грамота", "2025-05-25"))
    gone = svc.credentials.issue(u["olymp"], IssueRequest("maria@example.org", "olympiad", "Призёр олимпиады по химии", "2025-03-01"))
    svc.credentials.revoke(u["olymp"], gone.id, "issued-in-error")
    hidden = svc.credentials.issue(u["olymp"], IssueRequest("maria@example.org", "contest", "Конкурс проектов", "2025-06-01"))
    up = svc.uploads.add(u["maria"], data=PNG, filename="d.png", kind="diploma", title="Диплом", issued_on="2025-01-20", issuer_id="olymp",
                         ask_confirmation=False)
    share = svc.portfolio.create_share(u["maria"], label="ГУ", items=[f"c:{physics.id}", f"c:{school.id}", f"c:{gone.id}", f"u:{up.id}"], days=30)
    return share, [physics, school], hidden


def _download(client, token):
    r = client.get(f"/s/{token}/clr.json")
    assert r.status_code == 200, r.text[:500]
    return r


def test_the_download_is_a_signed_clr_of_exactly_the_links_verified_credentials_as_stored(env, shared, clr_schema):
    share, verified, hidden = shared
    r = _download(env.browser(), share.token)
    assert r.headers["content-type"].startswith("application/vc+ld+json")
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    clr = r.json()
    assert [f"{list(e.path)}: {e.message}" for e in clr_schema.iter_errors(clr)] == []
    assert dropped_terms(clr) == []
    embedded = clr["credentialSubject"]["verifiableCredential"]
    assert embedded == [env.svc.credentials.credential_json(c.id) for c in verified]  # in the page's order, unchanged
    assert [canonical_digest(c).hex() for c in embedded] == [c.digest for c in verified]  # still the anchored digests
    assert hidden.id not in r.text
    parsed = parse_clr(clr)
    assert parsed.holder_name == "Мария Иванова" and parsed.partial is True
    assert "maria@example.org" not in r.text  # the holder is a salted hash, as in her credentials


def test_the_record_is_signed_by_this_nodes_institution_whose_did_document_the_node_serves(env, shared):
    share, _, _ = shared
    clr = _download(env.browser(), share.token).json()
    signer = env.node.keys.signing["olymp"]  # the sequencing institution: this node holds its key
    did = institution_did(env.svc.ctx.network_url, "olymp")
    assert clr["issuer"] == {"id": did, "type": ["Profile"], "name": "Центр олимпиад «Перспектива»"}
    method = proof_of(clr)["verificationMethod"]
    assert method == f"{did}#{multikey(signer.public_key)}"
    served = env.client.get(document_path("olymp")).json()
    assert method in served["assertionMethod"]
    verify_proof(clr, signer.public_key)


def test_one_changed_character_fails(env, shared):
    share, _, _ = shared
    clr = _download(env.browser(), share.token).json()
    key = env.node.keys.signing["olymp"].public_key
    for change in ("title", "holder"):
        doc = copy.deepcopy(clr)
        if change == "title":
            cred = doc["credentialSubject"]["verifiableCredential"][1]
            cred["name"] = cred["name"][:-1] + ("ы" if cred["name"][-1] != "ы" else "а")
        else:
            doc["credentialSubject"]["name"] = doc["credentialSubject"]["name"].replace("Мария", "Марья")
        with pytest.raises(SignatureError):
            verify_proof(doc, key)


def test_the_api_answers_the_same_record(env, shared):
    share, verified, _ = shared
    r = env.browser().get(f"/api/v1/shares/{share.token}/clr")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vc+ld+json")
    clr = r.json()
    assert clr["credentialSubject"]["verifiableCredential"] == [env.svc.credentials.credential_json(c.id) for c in verified]
    verify_proof(clr, env.node.keys.signing["olymp"].public_key)


def test_each_download_is_an_opening_of_the_link_logged_for_its_owner(env, shared):
    share, _, _ = shared
    anon = env.browser()
    anon.get(f"/s/{share.token}")
    _download(anon, share.token)
    anon.get(f"/api/v1/shares/{share.token}/clr")
    (mine,) = env.svc.portfolio.shares_of(env.users["maria"])
    assert len(mine.accesses) == 3


def test_the_page_links_the_download(env, shared):
    share, _, _ = shared
    page = env.browser().get(f"/s/{share.token}").text
    assert f'href="/s/{share.token}/clr.json"' in page


def test_an_expired_revoked_or_unknown_link_gives_no_record(env, shared):
    share, _, _ = shared
    anon = env.browser()
    assert anon.get("/s/" + "A" * 43 + "/clr.json").status_code == 404
    assert anon.get("/api/v1/shares/" + "A" * 43 + "/clr").status_code == 404
    env.svc.ctx.clock = lambda: env.node.clock() + 31 * 86400
    for url in (f"/s/{share.token}/clr.json", f"/api/v1/shares/{share.token}/clr"):
        r = anon.get(url)
        assert r.status_code == 410 and "expired" in r.text
    env.svc.ctx.clock = env.node.clock
    env.svc.portfolio.revoke_share(env.users["maria"], share.id)
    for url in (f"/s/{share.token}/clr.json", f"/api/v1/shares/{share.token}/clr"):
        r = anon.get(url)
        assert r.status_code == 410 and "revoked" in r.text
        assert "verifiableCredential" not in r.text


def test_a_link_without_verified_credentials_gives_no_record_and_no_link_to_one(env):
    u, svc = env.users, env.svc
    up = svc.uploads.add(u["maria"], data=PNG, filename="d.png", kind="diploma", title="Диплом", issued_on="2025-01-20", issuer_id="olymp",
                         ask_confirmation=False)
    share = svc.portfolio.create_share(u["maria"], label="", items=[f"u:{up.id}"], days=5)
    anon = env.browser()
    assert "clr.json" not in anon.get(f"/s/{share.token}").text
    r = anon.get(f"/api/v1/shares/{share.token}/clr")
    assert r.status_code == 404 and r.json()["error"] == "notfound"


def test_downloads_of_one_link_are_limited(env, shared, monkeypatch):
    share, _, _ = shared
    monkeypatch.setattr(clr_export, "DOWNLOADS_PER_HOUR", 2)
    env.svc.ctx.extra.pop("clr_downloads", None)
    anon = env.browser()
    for _ in range(2):
        _download(anon, share.token)
    r = anon.get(f"/api/v1/shares/{share.token}/clr")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
