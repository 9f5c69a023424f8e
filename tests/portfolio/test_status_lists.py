"""Status an outside verifier can read (W3C Bitstring Status List v1.0): credentials issued by the e-portfolio
carry a ``credentialStatus``; every node serves each institution's signed status list credential, rebuilt
from the ledger; revoking or superseding publishes the new list in the same batch."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ledger.errors import ConflictError
from ledger.model.issuance import status_publish_statement
from ledger.model.receipts import Rejection
from ledger.model.statuslist import decode_bits
from portfolio_api.services.credentials import IssueRequest
from verifier.dataintegrity import verify_proof
from verifier.jsonld import dropped_terms
from verifier.statuslist import publication, slot_numbers
from tests.portfolio.helpers import env  # noqa: F401

SCHEMA = Path(__file__).parents[1] / "verifier" / "schemas" / "ob_v3p0_achievementcredential_schema.json"


def _issue(env, who="petr@example.org", title="Призёр олимпиады по физике"):
    held = env.svc.credentials.issue(env.users["olymp"], IssueRequest(who, "olympiad", title, "2026-02-10"))
    return held, env.svc.credentials.credential_json(held.id)


def _served(env, cred):
    url = cred["credentialStatus"]["statusListCredential"]
    path = url.split("://", 1)[1].split("/", 1)[1]
    r = env.client.get("/" + path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vc+ld+json")
    return r.json()


def _olymp_key(env):
    return env.node.keys.signing["olymp"].public_key


def test_an_issued_credential_names_its_slot_and_the_node_serves_its_signed_list(env):
    held, cred = _issue(env)
    status = cred["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry" and status["statusPurpose"] == "revocation"
    assert status["statusListCredential"].endswith("/status/olymp/0") and status["id"] == f"{status['statusListCredential']}#{status['statusListIndex']}"
    slot = slot_numbers(cred)
    assert env.node.log.registry.status_slots[held.digest] == slot
    verify_proof(cred, _olymp_key(env))  # the proof covers the status entry
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_bytes()), format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(cred)] == [] and dropped_terms(cred) == []

    listed = _served(env, cred)
    assert listed["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert listed["issuer"] == cred["issuer"]["id"] and listed["id"] == status["statusListCredential"]
    assert decode_bits(listed["credentialSubject"]["encodedList"]) == set()
    verify_proof(listed, _olymp_key(env))
    assert dropped_terms(listed) == []


def test_revoking_and_superseding_set_the_bit_at_once_and_only_that_bit(env):
    a, cred_a = _issue(env, title="Диплом 1")
    b, cred_b = _issue(env, title="Диплом 2")
    c, cred_c = _issue(env, title="Диплом 3")
    slots = [slot_numbers(x) for x in (cred_a, cred_b, cred_c)]
    assert len({s for s in slots}) == 3 and {n for n, _ in slots} == {0}
    env.svc.credentials.revoke(env.users["olymp"], a.id, "issued-in-error")
    listed = _served(env, cred_a)
    verify_proof(listed, _olymp_key(env))
    assert decode_bits(listed["credentialSubject"]["encodedList"]) == {slots[0][1]}
    env.svc.credentials.supersede(env.users["olymp"], b.id, title="Диплом 2 (исправленный)", achieved_on="2026-02-10")
    listed = _served(env, cred_b)
    verify_proof(listed, _olymp_key(env))
    assert decode_bits(listed["credentialSubject"]["encodedList"]) == {slots[0][1], slots[1][1]}
    state = env.client.get("/api/v1/ledger/status-lists/olymp/0").json()
    assert set(state["set"]) == {slots[0][1], slots[1][1]} and slots[2][1] in state["taken"] and len(state["taken"]) == 4  # + the correction
    assert env.client.get(f"/api/v1/ledger/credentials/{c.digest}").json()["status_index"] == slots[2][1]


def test_a_list_that_differs_from_the_ledger_is_refused_and_nothing_changes(env):
    held, cred = _issue(env)
    number, index = slot_numbers(cred)
    before = env.client.get("/status/olymp/0").json()
    lying = publication(env.svc.ctx.signer("olymp"), network_url=env.svc.ctx.network_url, institution="olymp", number=number, bits={index}, created=env.svc.ctx.now())
    (res,) = env.svc.ctx.submit("olymp", [status_publish_statement(env.svc.ctx.network, "olymp", lying)])
    assert isinstance(res, Rejection) and isinstance(res.error, ConflictError)
    assert env.client.get("/status/olymp/0").json() == before


@pytest.mark.parametrize(
    ("path", "code"),
    [("/status/olymp/7", 404), ("/status/nobody/0", 404), ("/status/olymp/-1", 404), ("/status/olymp/99999999999999999999", 404),
     ("/status/olymp/x", 404), ("/api/v1/ledger/status-lists/nobody/0", 404)],
)
def test_unknown_lists_answer_clearly(env, path, code):
    r = env.client.get(path)
    assert r.status_code == code, r.text
