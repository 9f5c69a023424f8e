"""eddsa-rdfc-2022 Data Integrity proofs (verifier/dataintegrity.py) and did:web issuer identifiers (verifier/didweb.py)."""

from __future__ import annotations

import copy

import pytest

from keys.signer import Signer
from ledger.cli.sample_network import FIELDS, TITLES
from ledger.errors import MalformedError, SignatureError
from verifier import dataintegrity as di
from verifier import didweb
from verifier.credentials import build_credential

NET = "http://127.0.0.1:8101"


@pytest.fixture(scope="module")
def signer():
    return Signer.from_private_bytes(bytes(range(32)))


def _signed(signer, kind="olympiad-diploma", **over):
    cred = build_credential(kind=kind, issuer_id="olymp-1", issuer_name="Центр олимпиад", holder_name="Иванова Мария", title=TITLES[kind],
                            issued_at=1_772_000_000, fields=FIELDS[kind], holder_email="a@school.example", network_url=NET, **over)  # fmt: skip
    did = didweb.institution_did(NET, "olymp-1")
    return di.add_proof(cred, sign=signer.sign, verification_method=f"{did}#{di.multikey(signer.public_key)}", created="2026-03-01T10:00:00Z")


def test_base58btc_round_trips_and_keeps_leading_zero_bytes():
    for data in (b"", b"\0", b"\0\0\x01", bytes(range(100)), b"\xff" * 34):
        assert di.base58btc_decode(di.base58btc_encode(data) or "1") == (data or b"\0")
    assert di.base58btc_encode(b"hello world") == "StV1DL6CwTryKyV"  # the draft-msporny-base58 example
    with pytest.raises(MalformedError):
        di.base58btc_decode("0OIl")


def test_a_multikey_is_the_ed25519_multicodec_key_in_base58btc():
    # did:key's published example key: z6Mk… is 0xed01 + the 32-byte key.
    mk = "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    key = di.multikey_public_key(mk)
    assert len(key) == 32 and di.multikey(key) == mk
    for bad in ("6Mkh", "z" + di.base58btc_encode(b"\xed\x01" + b"\0" * 31), "z" + di.base58btc_encode(b"\xe7\x01" + key), 5):
        with pytest.raises(MalformedError):
            di.multikey_public_key(bad)


@pytest.mark.parametrize("kind", list(TITLES))
def test_a_proof_verifies_with_the_signers_key_for_every_kind(signer, kind):
    cred = _signed(signer, kind)
    (proof,) = cred["proof"]
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-rdfc-2022" and proof["proofPurpose"] == "assertionMethod"
    assert proof["proofValue"].startswith("z")
    di.verify_proof(cred, signer.public_key)


def test_the_signature_is_over_the_spec_s_hash_data(signer):
    cred = _signed(signer)
    unsecured = {k: v for k, v in cred.items() if k != "proof"}
    options = {k: v for k, v in cred["proof"][0].items() if k != "proofValue"}
    import hashlib

    from verifier.rdfc import reference_canonize

    data = hashlib.sha256(reference_canonize({"@context": cred["@context"], **options}).encode()).digest()
    data += hashlib.sha256(reference_canonize(unsecured).encode()).digest()
    assert signer.sign(data) == di.base58btc_decode(cred["proof"][0]["proofValue"][1:])  # Ed25519 is deterministic


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c.__setitem__("name", c["name"] + "!"),
        lambda c: c["credentialSubject"].__setitem__("name", "Петров Пётр"),
        lambda c: c["eduledgerExtension"].__setitem__("place", "2"),
        lambda c: c["proof"][0].__setitem__("created", "2026-03-02T10:00:00Z"),
        lambda c: c["proof"][0].__setitem__("proofValue", "z" + di.base58btc_encode(b"\1" * 64)),
    ],
)
def test_any_change_makes_the_proof_fail(signer, tamper):
    cred = _signed(signer)
    tamper(cred)
    with pytest.raises(SignatureError):
        di.verify_proof(cred, signer.public_key)


def test_another_key_does_not_verify(signer):
    with pytest.raises(SignatureError):
        di.verify_proof(_signed(signer), Signer.generate().public_key)


@pytest.mark.parametrize(
    "breaks",
    [
        lambda c: c.pop("proof"),
        lambda c: c.__setitem__("proof", c["proof"] * 2),
        lambda c: c["proof"][0].__setitem__("cryptosuite", "eddsa-jcs-2022"),
        lambda c: c["proof"][0].__setitem__("proofPurpose", "authentication"),
        lambda c: c["proof"][0].pop("verificationMethod"),
        lambda c: c["proof"][0].__setitem__("created", "yesterday"),
        lambda c: c["proof"][0].__setitem__("proofValue", "uAAAA"),
        lambda c: c["proof"][0].__setitem__("proofValue", "z" + di.base58btc_encode(b"\1" * 63)),
        lambda c: c["proof"][0].__setitem__("@context", ["https://www.w3.org/ns/credentials/v2"]),
    ],
)
def test_a_missing_or_malformed_proof_is_malformed_not_a_crash(signer, breaks):
    cred = _signed(signer)
    breaks(cred)
    with pytest.raises(MalformedError):
        di.verify_proof(cred, signer.public_key)


def test_adding_a_second_proof_or_a_bad_time_is_a_programming_error(signer):
    cred = _signed(signer)
    with pytest.raises(ValueError):
        di.add_proof(cred, sign=signer.sign, verification_method="x", created="2026-03-01T10:00:00Z")
    unsigned = {k: v for k, v in copy.deepcopy(cred).items() if k != "proof"}
    with pytest.raises(ValueError):
        di.add_proof(unsigned, sign=signer.sign, verification_method="x", created="1 March")


# --- did:web ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, did, doc",
    [
        ("https://edu.example.ru", "did:web:edu.example.ru:institutions:olymp-1", "https://edu.example.ru/institutions/olymp-1/did.json"),
        ("https://Edu.Example.ru/net/", "did:web:edu.example.ru:net:institutions:olymp-1", "https://edu.example.ru/net/institutions/olymp-1/did.json"),
        ("http://127.0.0.1:8101", "did:web:127.0.0.1%3A8101:institutions:olymp-1", "https://127.0.0.1:8101/institutions/olymp-1/did.json"),
    ],
)
def test_an_institution_s_did_web_and_where_its_document_is(url, did, doc):
    assert didweb.institution_did(url, "olymp-1") == did
    assert didweb.document_url(did) == doc
    assert didweb.institution_of_did(did) == "olymp-1"


@pytest.mark.parametrize("bad", ["did:key:z6Mk", "did:web:edu.example.ru", "did:web:edu.example.ru:people:olymp-1", "did:web:x:institutions:X!", 5, "did:web:" + "a" * 400])
def test_other_identifiers_name_no_institution(bad):
    assert didweb.institution_of_did(bad) is None


def test_the_did_document_lists_every_key_as_a_multikey_assertion_method(signer):
    did = didweb.institution_did(NET, "olymp-1")
    old, new = Signer.generate().public_key, signer.public_key
    doc = didweb.did_document(did, [old, new, new])
    assert doc["@context"] == didweb.DID_CONTEXTS and doc["id"] == did
    assert [m["publicKeyMultibase"] for m in doc["verificationMethod"]] == [di.multikey(old), di.multikey(new)]
    assert doc["assertionMethod"] == [m["id"] for m in doc["verificationMethod"]]
    assert all(m["type"] == "Multikey" and m["controller"] == did and "revoked" not in m and "expires" not in m for m in doc["verificationMethod"])
    assert didweb.method_key(doc["verificationMethod"][1]["id"]) == ("olymp-1", new)
    for bad in ("did:web:x:institutions:olymp-1", "did:key:z6Mk#z6Mk", f"{did}#notamultikey"):
        with pytest.raises(MalformedError):
            didweb.method_key(bad)


# --- eduledger's verifier, step "proof" (--check-proof) ----------------------------------------


@pytest.fixture(scope="module")
def sample_net():
    from ledger.cli.sample_network import SampleNetwork

    return SampleNetwork()


def _report(net, cred):
    from verifier.verify import verify

    return verify(net.bundle(cred, net.issue(cred)), net.trust(), now=net.now, check_proof=True)


def test_check_proof_passes_with_the_key_the_ledger_says_was_valid(sample_net):
    r = _report(sample_net, sample_net.credential())
    assert r.ok and r.proof_check.status == "passed" and r.to_json()["proof_check"]["status"] == "passed"


def test_a_credential_of_before_proofs_only_warns(sample_net):
    r = _report(sample_net, sample_net.credential(proof=False))
    assert r.ok and r.proof_check.status == "warning"


def test_a_proof_by_a_key_the_issuer_never_registered_fails_though_the_anchor_is_genuine(sample_net):
    from verifier.didweb import institution_did

    cred = sample_net.credential(proof=False)
    stranger = Signer.generate()
    did = institution_did("http://127.0.0.1:8101", "olymp-1")
    cred = di.add_proof(cred, sign=stranger.sign, verification_method=f"{did}#{di.multikey(stranger.public_key)}", created="2026-03-01T10:00:00Z")
    r = _report(sample_net, cred)
    assert r.first_failure is None and not r.ok and r.status == "invalid-proof" and "not the issuer's signing key" in r.proof_check.message


def test_a_proof_that_does_not_verify_fails_and_a_proof_naming_another_institution_fails(sample_net):
    cred = sample_net.credential()
    cred["proof"][0]["proofValue"] = "z" + di.base58btc_encode(b"\2" * 64)
    r = _report(sample_net, cred)
    assert r.status == "invalid-proof" and "does not verify" in r.proof_check.message
    cred = sample_net.credential()
    cred["proof"][0]["verificationMethod"] = cred["proof"][0]["verificationMethod"].replace("olymp-1", "uni-1")
    assert "not of the issuer" in _report(sample_net, cred).proof_check.message


def test_without_check_proof_the_report_keeps_its_shape(sample_net):
    from verifier.verify import verify

    cred = sample_net.credential()
    r = verify(sample_net.bundle(cred, sample_net.issue(cred)), sample_net.trust(), now=sample_net.now)
    assert r.ok and r.proof_check is None and "proof_check" not in r.to_json()
