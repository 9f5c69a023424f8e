"""The CLR 2.0 record (``verifier/clr.py``) conforms to what we did not write: 1EdTech's official ClrCredential
JSON Schema (``jsonschema``, Draft 2019-09) and JSON-LD processing by ``pyld`` under the vendored contexts; its
proof verifies, carries the credentials unchanged, and one changed character breaks it."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from keys.signer import Signer
from ledger.cli.sample_network import FIELDS, TITLES
from ledger.errors import MalformedError, SignatureError
from ledger.tlog.canonical import canonical_digest
from verifier.clr import CLR_CONTEXT, CLR_SCHEMA, MAX_CREDENTIALS, build_clr, parse_clr, prove_clr
from verifier.credentials import KINDS, build_credential, prove
from verifier.dataintegrity import multikey, proof_of, verify_proof
from verifier.didweb import institution_did
from verifier.holder import matches_email, parse_identifiers
from verifier.jsonld import CONTEXTS_DIR, context_document, dropped_terms

SCHEMAS = Path(__file__).with_name("schemas")
PROVENANCE = {
    CONTEXTS_DIR / "clr-context-2.0.1.json": "880f1902d4158f2f33ce06af41b90719977cd1ea337a9de2e41edb3ff5e543d6",
    SCHEMAS / "clr_v2p0_clrcredential_schema.json": "59d778659204b0bd593e9e2ab1683fb6f688e339885c44019f606ed6feb4caee",
}
URL = "https://edu.example.ru"
EMAIL = "pupil@school.example"
ISSUED = 1_772_000_000


@pytest.fixture(scope="module")
def clr_schema():
    schema = json.loads((SCHEMAS / "clr_v2p0_clrcredential_schema.json").read_bytes())
    jsonschema.Draft201909Validator.check_schema(schema)
    assert schema["$id"] == CLR_SCHEMA
    return jsonschema.Draft201909Validator(schema, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def keys() -> dict[str, Signer]:
    return {"olymp-1": Signer.generate(), "uni-1": Signer.generate()}


@pytest.fixture(scope="module")
def issued(keys) -> list[dict]:
    """One signed credential of every kind, with and without the holder's e-mail, as an issuer stores it."""
    out = []
    for kind in KINDS:
        for email in (EMAIL, None):
            cred = build_credential(kind=kind, issuer_id="olymp-1", issuer_name="Центр олимпиад", holder_name="Иванова Мария", title=TITLES.get(kind, "Грамота"),
                                    issued_at=ISSUED, fields=FIELDS.get(kind, {}), holder_email=email, network_url=URL)  # fmt: skip
            out.append(prove(cred, keys["olymp-1"], network_url=URL, created=ISSUED))
    return out


@pytest.fixture(scope="module")
def signed(issued, keys) -> dict:
    clr = build_clr(issued, issuer_id="uni-1", issuer_name="Государственный университет", holder_name="Мария Иванова", network_url=URL,
                    issued_at=ISSUED + 100, holder_email=EMAIL)
    return prove_clr(clr, keys["uni-1"], network_url=URL, created=ISSUED + 100)


@pytest.mark.parametrize("path", list(PROVENANCE), ids=lambda p: p.name)
def test_the_vendored_clr_context_and_schema_are_the_upstream_bytes(path):
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PROVENANCE[path]


def test_the_clr_context_is_loaded_offline():
    assert context_document(CLR_CONTEXT) == json.loads((CONTEXTS_DIR / "clr-context-2.0.1.json").read_bytes())


def test_the_record_passes_the_official_clr_schema(signed, clr_schema):
    assert [f"{list(e.path)}: {e.message}" for e in clr_schema.iter_errors(signed)] == []


def test_json_ld_processing_of_the_record_drops_nothing(signed):
    assert dropped_terms(signed) == []


def test_a_term_dropped_inside_an_embedded_credential_is_found(signed):
    doc = copy.deepcopy(signed)
    doc["credentialSubject"]["verifiableCredential"][3]["eduledgerExtension"]["shoeSize"] = 41
    doc["credentialSubject"]["favouriteColour"] = "red"
    assert sorted(dropped_terms(doc)) == ["credentialSubject.favouriteColour", "credentialSubject.verifiableCredential[3].eduledgerExtension.shoeSize"]


def test_the_proof_verifies_with_the_issuers_key_named_by_its_did_web(signed, keys):
    did = institution_did(URL, "uni-1")
    assert signed["issuer"]["id"] == did
    proof = proof_of(signed)
    assert proof["verificationMethod"] == f"{did}#{multikey(keys['uni-1'].public_key)}"
    assert isinstance(signed["proof"], list) and proof["cryptosuite"] == "eddsa-rdfc-2022"
    verify_proof(signed, keys["uni-1"].public_key)
    with pytest.raises(SignatureError):
        verify_proof(signed, keys["olymp-1"].public_key)


def test_the_credentials_are_carried_unchanged_and_still_verify_on_their_own(signed, issued, keys):
    embedded = signed["credentialSubject"]["verifiableCredential"]
    assert embedded == issued
    assert [canonical_digest(c) for c in embedded] == [canonical_digest(c) for c in issued]
    for cred in embedded:
        verify_proof(cred, keys["olymp-1"].public_key)
    parsed = parse_clr(signed)
    assert parsed.credentials == tuple(issued) and parsed.institution == "uni-1" and parsed.partial is True


def _change_name(doc):
    cred = doc["credentialSubject"]["verifiableCredential"][0]
    name = cred["credentialSubject"]["name"]
    cred["credentialSubject"]["name"] = name[:-1] + ("ю" if name.endswith("я") else "я")


TAMPERINGS = {
    "embedded credential": _change_name,
    "partial": lambda doc: doc.update(partial=False),
    "credential dropped": lambda doc: doc["credentialSubject"]["verifiableCredential"].pop(),
    "holder": lambda doc: doc["credentialSubject"].update(name="Мария Иванов"),
    "issue time": lambda doc: doc.update(validFrom="2026-02-25T06:13:21Z"),
}


@pytest.mark.parametrize("where", list(TAMPERINGS))
def test_a_tampered_record_fails(signed, keys, where):
    doc = copy.deepcopy(signed)
    TAMPERINGS[where](doc)
    assert doc != signed
    with pytest.raises(SignatureError):
        verify_proof(doc, keys["uni-1"].public_key)


def test_the_order_of_the_credentials_is_not_signed(signed, keys):
    """CLR 2.0's context makes ``verifiableCredential`` a set (``@container: @set``): the signed RDF dataset has no order."""
    doc = copy.deepcopy(signed)
    doc["credentialSubject"]["verifiableCredential"].reverse()
    verify_proof(doc, keys["uni-1"].public_key)


def test_the_holder_is_named_by_a_random_id_and_a_salted_hash_never_the_address(signed, issued):
    subject = signed["credentialSubject"]
    assert subject["id"].startswith("urn:uuid:") and signed["id"].startswith("urn:uuid:") and subject["id"] != signed["id"]
    assert EMAIL not in json.dumps(signed["credentialSubject"]["identifier"])
    assert matches_email(parse_identifiers(subject["identifier"]), " Pupil@School.example ") is True
    assert matches_email(parse_identifiers(subject["identifier"]), "other@school.example") is False
    again = build_clr(issued, issuer_id="uni-1", issuer_name="ГУ", holder_name="Мария Иванова", network_url=URL, issued_at=ISSUED, holder_email=EMAIL)
    assert again["credentialSubject"]["id"] != subject["id"]  # two exports are not linkable by the subject
    assert again["credentialSubject"]["identifier"][0]["salt"] != subject["identifier"][0]["salt"]
    anonymous = build_clr(issued, issuer_id="uni-1", issuer_name="ГУ", holder_name="Мария Иванова", network_url=URL, issued_at=ISSUED)
    assert "identifier" not in anonymous["credentialSubject"]


def _unsigned(issued):
    cred = {k: v for k, v in issued[0].items() if k != "proof"}
    return cred


@pytest.mark.parametrize(
    "credentials, message",
    [
        ("none", "1 to"),
        ("not a list", "1 to"),
        ("null", "1 to"),
        ("twice", "twice"),
        ("unsigned", "proof"),
        ("not a credential", r"verifiableCredential\[0\]"),
    ],
)
def test_build_refuses_what_is_not_a_record(issued, credentials, message):
    creds = {"none": [], "null": None, "twice": [issued[0], issued[0]], "unsigned": [_unsigned(issued)],
             "not a credential": [{"type": ["VerifiableCredential"]}]}.get(credentials, credentials)
    with pytest.raises(MalformedError, match=message):
        build_clr(creds, issuer_id="uni-1", issuer_name="ГУ", holder_name="Мария", network_url=URL, issued_at=ISSUED)


def test_build_refuses_more_than_the_limit(issued):
    many = [dict(issued[0], id=f"urn:eduledger:credential:{n:032x}") for n in range(MAX_CREDENTIALS + 1)]
    with pytest.raises(MalformedError, match=f"1 to {MAX_CREDENTIALS}"):
        build_clr(many, issuer_id="uni-1", issuer_name="ГУ", holder_name="Мария", network_url=URL, issued_at=ISSUED)


@pytest.mark.parametrize("change", ["no proof", "wrong type", "no subject id", "not OB", "bad context"])
def test_parse_refuses_a_malformed_record(signed, change):
    doc = copy.deepcopy(signed)
    if change == "no proof":
        del doc["proof"]
    elif change == "wrong type":
        doc["type"] = ["VerifiableCredential"]
    elif change == "no subject id":
        del doc["credentialSubject"]["id"], doc["credentialSubject"]["identifier"]
    elif change == "not OB":
        doc["credentialSubject"]["verifiableCredential"][0]["type"] = ["VerifiableCredential"]
    else:
        doc["@context"] = doc["@context"][::-1]
    with pytest.raises(MalformedError):
        parse_clr(doc)
