"""The holder is identified by a salted, hashed e-mail (OB 3.0 IdentityObject), and the verifier can confirm it."""

from __future__ import annotations

import json
import random as _random

import pytest

from ledger.cli.main import main
from ledger.cli.sample_network import SAMPLE_HOLDER_EMAIL, SampleNetwork
from ledger.errors import MalformedError
from verifier.credentials import build_credential, parse_credential
from verifier.holder import email_identity, identity_hash, matches_email, normalise_email, parse_identifiers
from verifier.verify import verify


def _cred(**over):
    args = dict(kind="generic", issuer_id="olymp-1", issuer_name="Центр олимпиад", holder_name="Иванова Мария", title="Грамота", issued_at=1_772_000_000)
    args.update(over)
    return build_credential(**args)


def test_identity_hash_matches_the_open_badges_3_specs_own_example():
    # OB 3.0, IdentityHash: "sha256$b5809d8a…" is SHA-256 of 'a@example.com' salted with 'Kosher'.
    assert identity_hash("a@example.com", "Kosher") == "sha256$b5809d8a92f8858436d7e6b87c12ebc0ae1eac4baecc2c0b913aee2c922ef399"


def test_a_credential_issued_with_an_email_carries_only_its_salted_hash():
    cred = _cred(holder_email="Maria.Ivanova@School57.example")
    raw = json.dumps(cred, ensure_ascii=False).lower()
    assert "maria.ivanova" not in raw and "school57" not in raw
    (ident,) = cred["credentialSubject"]["identifier"]
    assert ident["type"] == "IdentityObject" and ident["identityType"] == "emailAddress" and ident["hashed"] is True
    assert ident["identityHash"] == identity_hash("maria.ivanova@school57.example", ident["salt"])
    assert len(ident["salt"]) == 32 and "id" not in cred["credentialSubject"]
    parsed = parse_credential(cred)
    assert matches_email(parsed.holder_identities, " maria.ivanova@school57.EXAMPLE ") is True
    assert matches_email(parsed.holder_identities, "maria.ivanova@school58.example") is False


def test_two_credentials_of_one_holder_cannot_be_linked_by_their_hashes():
    a, b = _cred(holder_email="pupil@example.org"), _cred(holder_email="pupil@example.org")
    ia, ib = a["credentialSubject"]["identifier"][0], b["credentialSubject"]["identifier"][0]
    assert ia["salt"] != ib["salt"] and ia["identityHash"] != ib["identityHash"]


def test_without_an_email_the_subject_gets_a_random_uuid_id():
    subject = _cred()["credentialSubject"]
    assert subject["id"].startswith("urn:uuid:") and subject["id"][23] == "4" and "identifier" not in subject
    assert _cred()["credentialSubject"]["id"] != subject["id"]
    assert _cred(holder_id="urn:example:pupil:7")["credentialSubject"]["id"] == "urn:example:pupil:7"


def test_injected_randomness_makes_issuance_reproducible():
    r1, r2 = _random.Random(5), _random.Random(5)
    a = _cred(holder_email="x@example.org", random=lambda n: r1.randbytes(n))
    b = _cred(holder_email="x@example.org", random=lambda n: r2.randbytes(n))
    assert a == b


@pytest.mark.parametrize(
    "bad",
    ["", "no-at-sign", "a@b", "two words@example.org", "a\x00b@example.org", "@example.org", "a@", "x" * 250 + "@example.org", 7],
)
def test_a_bad_address_is_refused_with_a_clear_error(bad):
    with pytest.raises(MalformedError):
        normalise_email(bad)
    if isinstance(bad, str) and bad:  # an empty address means "no address" to build_credential
        with pytest.raises(MalformedError):
            _cred(holder_email=bad)


@pytest.mark.parametrize(
    "identifier, reason",
    [
        ("x", "list"),
        ([], "list"),
        ([{"type": "IdentityObject"}] * 9, "list"),
        ([{"type": "Other", "identityType": "emailAddress", "hashed": True, "identityHash": "sha256$" + "0" * 64}], "IdentityObject"),
        ([{"type": "IdentityObject", "identityType": "shoeSize", "hashed": True, "identityHash": "sha256$" + "0" * 64}], "identityType"),
        ([{"type": "IdentityObject", "identityType": "emailAddress", "hashed": "yes", "identityHash": "sha256$" + "0" * 64}], "hashed"),
        ([{"type": "IdentityObject", "identityType": "emailAddress", "hashed": True, "identityHash": "sha256$xyz"}], "sha256"),
        ([{"type": "IdentityObject", "identityType": "emailAddress", "hashed": False, "identityHash": "a@example.org"}], "in the clear"),
        ([{"type": "IdentityObject", "identityType": "emailAddress", "hashed": True, "identityHash": "sha256$" + "0" * 64, "salt": 5}], "salt"),
    ],
)
def test_a_malformed_identifier_is_refused_naming_the_problem(identifier, reason):
    with pytest.raises(MalformedError, match=reason):
        parse_identifiers(identifier)
    cred = _cred(holder_email="a@example.org")
    cred["credentialSubject"]["identifier"] = identifier
    with pytest.raises(MalformedError):
        parse_credential(cred)


def test_an_ext_identity_type_and_md5_hashes_parse_but_md5_never_confirms_an_email():
    ids = parse_identifiers(
        [
            {"type": "IdentityObject", "identityType": "ext:schoolPupilNumber", "hashed": False, "identityHash": "57-1234"},
            {"type": "IdentityObject", "identityType": "emailAddress", "hashed": True, "identityHash": "md5$" + "0" * 32, "salt": ""},
        ]
    )
    assert len(ids) == 2 and matches_email(ids, "a@example.org") is False
    assert matches_email(ids[:1], "a@example.org") is None
    assert email_identity("a@example.org", random=lambda n: b"\x01" * n)["salt"] == "01" * 16


# --- the verifier -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    net = SampleNetwork()
    with_email = net.credential()
    by_name_only = net.credential(holder_name="Петров Пётр")
    b1, b2 = net.bundle(with_email, net.issue(with_email)), net.bundle(by_name_only, net.issue(by_name_only))
    return net.trust(), b1, b2, net.now


def test_verify_confirms_the_holder_without_the_credential_revealing_the_address(sample):
    trust, bundle, _, now = sample
    r = verify(bundle, trust, now=now, holder_email=SAMPLE_HOLDER_EMAIL.upper())
    assert r.ok and r.status == "verified" and r.holder_check.status == "passed"
    assert r.to_json()["holder_check"] == {"status": "passed", "message": "issued to the person with this e-mail address"}
    assert SAMPLE_HOLDER_EMAIL.encode() not in bundle


def test_verify_says_other_holder_for_another_address_and_is_not_ok(sample):
    trust, bundle, _, now = sample
    r = verify(bundle, trust, now=now, holder_email="someone.else@example.org")
    assert not r.ok and r.status == "other-holder" and r.first_failure is None
    assert "someone else" in str(r)


def test_a_credential_naming_no_address_only_warns_and_still_verifies(sample):
    trust, _, bundle, now = sample
    r = verify(bundle, trust, now=now, holder_email=SAMPLE_HOLDER_EMAIL)
    assert r.ok and r.holder_check.status == "warning" and "Петров Пётр" in r.holder_check.message


def test_without_holder_email_the_report_keeps_its_shape(sample):
    trust, bundle, _, now = sample
    r = verify(bundle, trust, now=now)
    assert r.ok and r.holder_check is None and "holder_check" not in r.to_json()


def test_a_malformed_bundle_skips_the_holder_check(sample):
    trust, _, _, now = sample
    r = verify(b"{}", trust, now=now, holder_email=SAMPLE_HOLDER_EMAIL)
    assert not r.ok and r.holder_check.status == "skipped"


def test_cli_holder_email_exit_codes(sample, tmp_path, capsys):
    trust, bundle, name_only, _ = sample
    (tmp_path / "trust.json").write_bytes(trust.to_bytes())
    (tmp_path / "a.bundle.json").write_bytes(bundle)
    (tmp_path / "b.bundle.json").write_bytes(name_only)
    args = ["verify", str(tmp_path / "a.bundle.json"), "--trust", str(tmp_path / "trust.json"), "--at", "2026-03-02T00:00:00Z"]
    assert main([*args, "--holder-email", SAMPLE_HOLDER_EMAIL]) == 0
    assert "holder: issued to the person with this e-mail address" in capsys.readouterr().out
    assert main([*args, "--holder-email", "other@example.org"]) == 1
    assert "OTHER-HOLDER" in capsys.readouterr().out
    assert main([*args, "--holder-email", "not an address"]) == 2
    assert "--holder-email" in capsys.readouterr().err
    both = ["verify", str(tmp_path / "b.bundle.json"), "--trust", str(tmp_path / "trust.json"), "--at", "2026-03-02T00:00:00Z", "--json"]
    assert main([*both, "--holder-email", SAMPLE_HOLDER_EMAIL]) == 0
    assert json.loads(capsys.readouterr().out)["files"][0]["holder_check"]["status"] == "warning"

