"""What every node publishes for outside verifiers: eduledger's JSON-LD context, byte for byte the repository's,
and each institution's did:web document built from the ledger's registry."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.portfolio.helpers import make_env
from verifier.dataintegrity import multikey
from verifier.didweb import institution_did
from verifier.jsonld import CONTEXT_PATH, CONTEXTS_DIR


def test_the_node_serves_the_context_credentials_name(tmp_path):
    app, _ = make_env(tmp_path)
    with TestClient(app) as c:
        r = c.get(CONTEXT_PATH)
        assert r.status_code == 200
        assert r.content == (CONTEXTS_DIR / "eduledger-v1.json").read_bytes()
        assert r.headers["content-type"].startswith("application/ld+json")
        assert r.headers["access-control-allow-origin"] == "*" and "max-age" in r.headers["cache-control"]
        assert c.get(CONTEXT_PATH.replace("v1", "v9")).status_code == 404


def test_each_institution_s_did_document_lists_its_registered_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("EDULEDGER_NETWORK_URL", "https://edu.example.ru")
    app, _ = make_env(tmp_path)
    with TestClient(app) as c:
        node = app.state.node
        r = c.get("/institutions/school-1/did.json")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/did+json")
        doc = r.json()
        did = institution_did("https://edu.example.ru", "school-1")
        assert doc["id"] == did == "did:web:edu.example.ru:institutions:school-1"
        keys = [k.key for k in node.log.registry.institutions["school-1"].keys]
        assert [m["publicKeyMultibase"] for m in doc["verificationMethod"]] == [multikey(k) for k in keys]
        assert doc["assertionMethod"] == [f"{did}#{multikey(k)}" for k in keys]
        assert c.get("/institutions/no-such-school/did.json").status_code == 404
