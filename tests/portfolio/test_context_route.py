"""Every node serves eduledger's JSON-LD context at the path credentials name, byte for byte the repository's."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.portfolio.helpers import make_env
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
