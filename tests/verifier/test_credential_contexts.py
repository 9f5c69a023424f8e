"""Credentials conform to code and schemas we did not write: 1EdTech's official Open Badges 3.0 JSON Schema
(checked by ``jsonschema``), and JSON-LD processing by ``pyld`` under contexts loaded offline, dropping nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from ledger.cli.sample_network import FIELDS, TITLES
from ledger.errors import MalformedError
from verifier.credentials import KINDS, build_credential, contexts, extension_context
from verifier.jsonld import CONTEXTS_DIR, LEGACY_CONTEXT, context_document, dropped_terms, load_document

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).with_name("schemas")
EXAMPLES = sorted((ROOT / "examples").rglob("*.bundle.json"))
PROVENANCE = {
    CONTEXTS_DIR / "credentials-v2.json": "8a9f494a89ecc51db093e90e84713e07e84d6d9204364a9b3c7868b21751236f",
    CONTEXTS_DIR / "ob-context-3.0.3.json": "ef2fa9c7846dce233cc166b43639027278be4ee44f00bb1d45c75de2dd0cd761",
    CONTEXTS_DIR / "eduledger-v1.json": "e751cebb4f720cb17952fa182ab2e7620a174051a1ae52611e3c682b3966a62a",
    SCHEMAS / "ob_v3p0_achievementcredential_schema.json": "5753fb3ecf7d024ed273dd364bd683f483eb47257e718e6618832cf89eb2083a",
}


@pytest.fixture(scope="module")
def ob_schema():
    schema = json.loads((SCHEMAS / "ob_v3p0_achievementcredential_schema.json").read_bytes())
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)


def _fresh() -> list[dict]:
    """One credential of every kind, with and without the holder's e-mail, on a network with its own URL."""
    out = []
    for kind in KINDS:
        for email in ("pupil@school.example", None):
            out.append(
                build_credential(kind=kind, issuer_id="olymp-1", issuer_name="Центр олимпиад", holder_name="Иванова Мария", title=TITLES.get(kind, "Грамота"),
                                 issued_at=1_772_000_000, fields=FIELDS.get(kind, {}), holder_email=email, network_url="https://edu.example.ru/")
            )  # fmt: skip
    return out


@pytest.mark.parametrize("path", list(PROVENANCE), ids=lambda p: p.name)
def test_the_vendored_contexts_and_schemas_are_the_upstream_bytes(path):
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PROVENANCE[path]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_every_example_passes_the_official_ob3_schema_and_expands_with_nothing_dropped(path, ob_schema):
    cred = json.loads(path.read_bytes())["credential"]
    assert [e.message for e in ob_schema.iter_errors(cred)] == []
    assert dropped_terms(cred) == []


def test_every_newly_issued_kind_passes_the_schema_meets_the_identifier_rule_and_drops_nothing(ob_schema):
    creds = _fresh()
    assert len(creds) == 2 * len(KINDS)
    for cred in creds:
        assert [e.message for e in ob_schema.iter_errors(cred)] == []
        subject = cred["credentialSubject"]
        assert "id" in subject or subject.get("identifier"), "OB 3.0: an AchievementSubject needs an id or an identifier"
        assert cred["@context"][2] == "https://edu.example.ru/contexts/eduledger-v1.jsonld"
        assert dropped_terms(cred) == [], cred["eduledgerExtension"]["kind"]


def test_without_eduledgers_context_its_extension_is_dropped_so_the_check_can_fail():
    cred = _fresh()[0]
    cred["@context"] = cred["@context"][:2]
    assert "eduledgerExtension" in dropped_terms(cred)
    cred = _fresh()[0]
    cred["eduledgerExtension"]["shoeSize"] = 41  # a term our context does not define
    assert dropped_terms(cred) == ["eduledgerExtension.shoeSize"]


def test_credentials_issued_before_the_context_was_published_still_process():
    cred = _fresh()[0]
    cred["@context"][2] = LEGACY_CONTEXT
    assert dropped_terms(cred) == []


def test_processing_never_fetches_an_unknown_context():
    cred = _fresh()[0]
    cred["@context"].append("https://attacker.example/context.jsonld")
    with pytest.raises(MalformedError, match="JSON-LD processing failed"):
        dropped_terms(cred)
    with pytest.raises(MalformedError, match="unknown JSON-LD context"):
        context_document("https://attacker.example/contexts/eduledger-v1.jsonld?x=1")
    assert load_document("https://node-3.example/contexts/eduledger-v1.jsonld")["document"] == context_document(LEGACY_CONTEXT)


def test_every_term_of_eduledgers_context_is_protected_and_defined_for_every_kind_field():
    ctx = json.loads((CONTEXTS_DIR / "eduledger-v1.json").read_bytes())["@context"]
    ext = ctx["eduledgerExtension"]["@context"]
    assert ctx["@protected"] is True and ext["@protected"] is True
    fields = {f for spec in KINDS.values() for f in (*spec.required, *spec.optional)}
    assert fields | {"kind"} == {k for k in ext if not k.startswith("@")}


@pytest.mark.parametrize("url", ["ftp://x.example", "https://", "https://x.example/?q=1", "https://x.example/#f", "edu.example.ru", 5])
def test_a_bad_network_url_is_refused(url):
    with pytest.raises(MalformedError):
        extension_context(url)
    with pytest.raises(MalformedError):
        contexts(url)
