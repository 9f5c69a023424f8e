"""eduledger's credentials, checked by verifiers we did not write (STYLE rule 15; issue 17).

Two outside implementations check the credentials' W3C Data Integrity proofs (``eddsa-rdfc-2022``):

* Digital Bazaar's ``@digitalbazaar/vc`` with ``@digitalbazaar/data-integrity`` and
  ``@digitalbazaar/eddsa-rdfc-2022-cryptosuite`` (npm, ``tests/interop/js``), one Node process for this module;
* ``openbadgeslib`` (PyPI, ``[ldp]`` extra): its Data Integrity proof check with our context handed over as an
  extra context, and its full Open Badges 3.0 verifier, which takes no context outside its bundled allow-list.

What they resolve comes from a real node: the app is built as tests/portfolio/helpers.py ``make_env`` builds
it, and eduledger's context and each institution's DID document are what ``GET <network URL>/contexts/
eduledger-v1.jsonld`` and ``GET /institutions/<id>/did.json`` answer. Nothing is fetched from the network:
both verifiers get those documents through their document loaders, and refuse anything else.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openbadgeslib.ob3.did import resolve_verification_method
from openbadgeslib.ob3.ldp import OB3LdpVerifier, OB3VerificationError, verify_data_integrity_proof

from keys.signer import Signer
from ledger.cli.main import main as eduledger
from ledger.cli.sample_network import FIELDS, INSTITUTIONS, NETWORK
from ledger.model.entries import Statement
from ledger.model.receipts import Receipt
from ledger.node import Node, NodeOptions
from ledger.node.datadir import InstitutionSpec, init_network, load_genesis, load_keys
from ledger.storage import open_store
from ledger.tlog.encoding import b64e
from ledger.tlog.timefmt import format_time
from portfolio_api.app import create_app
from portfolio_api.services.credentials import IssueRequest
from portfolio_api.settings import Settings
from tests.interop.node_verifier import ensure_node_modules, verify_with_node
from tests.nodeproc import FAST_KDF, PASSPHRASE
from verifier.clr import CLR_CONTEXT
from verifier.credentials import KINDS, build_credential, extension_context
from verifier.dataintegrity import add_proof, multikey, proof_of
from verifier.didweb import document_path, document_url, institution_did
from verifier.jsonld import CONTEXT_PATH, context_document

NETWORK_URL = "http://127.0.0.1:8101"  # as `make run`'s demo: the DID's host carries a port (did:web:127.0.0.1%3A8101:…)
CLI_NETWORK_URL = "http://127.0.0.1:8102"  # the network `eduledger credential issue --data-dir` issues on
ELSEWHERE_URL = "https://elsewhere.invalid"  # a network no document of which is handed to the verifiers
TAMPERINGS = ("name", "extension", "created")
EXTRA_FIELDS = {"generic": {"details": "Участие в проектной смене"}}


# --- the node and the credentials -------------------------------------------------------------


@contextmanager
def serving_node(data: Path, network_url: str) -> Iterator[tuple[Any, TestClient]]:
    """The app over ``data`` as make_env builds it, its network URL ``network_url``; started (lifespan) while open."""
    url = f"sqlite:///{data / 'ledger.db'}"
    node = Node(open_store(url), load_genesis(data), load_keys(data, PASSPHRASE.encode()), options=NodeOptions(batch_ms=5))
    app = create_app(Settings(data_dir=data, database_url=url, network_url=network_url), node=node, passphrase=PASSPHRASE.encode())
    with TestClient(app, follow_redirects=False) as client:
        yield app, client


def served(client: TestClient, path: str, media_type: str) -> dict[str, Any]:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith(media_type), r.headers["content-type"]
    return r.json()


def signed(cred: dict[str, Any], institution: str, signer: Signer, network_url: str, created: str) -> dict[str, Any]:
    """``cred`` issued by ``institution``'s did:web and secured with ``signer``'s eddsa-rdfc-2022 proof."""
    did = institution_did(network_url, institution)
    unsigned = {**cred, "issuer": {**cred["issuer"], "id": did}}
    return add_proof(unsigned, sign=signer.sign, verification_method=f"{did}#{multikey(signer.public_key)}", created=created)


def credential(kind: str, institution: str, signer: Signer, *, network_url: str = NETWORK_URL, email: bool = True) -> dict[str, Any]:
    now = int(time.time())
    cred = build_credential(
        kind=kind, issuer_id=institution, issuer_name="Центр олимпиад «Перспектива»", holder_name="Иванова Мария Петровна",
        holder_email="maria@example.org" if email else None, title=f"Достижение: {kind}", issued_at=now,
        fields=EXTRA_FIELDS.get(kind, FIELDS[kind]), network_url=network_url,
    )
    return signed(cred, institution, signer, network_url, format_time(now))


def one_character_changed(text: str) -> str:
    last = text[-1]
    return text[:-1] + ("1" if last == "0" else "0" if last.isdigit() else "я" if last != "я" else "ю")


def tampered(cred: dict[str, Any], where: str) -> dict[str, Any]:
    """``cred`` with one character changed: in the holder's name, an extension field, or the proof's created time."""
    out = copy.deepcopy(cred)
    if where == "name":
        out["credentialSubject"]["name"] = one_character_changed(out["credentialSubject"]["name"])
    elif where == "extension":
        ext = out["eduledgerExtension"]
        field = next(k for k, v in ext.items() if k != "kind" and isinstance(v, str))
        ext[field] = one_character_changed(ext[field])
    else:
        proof = proof_of(out)  # the proof object itself (a list of one or the object), changed in place
        proof["created"] = one_character_changed(proof["created"][:-1]) + "Z"
    assert out != cred
    return out


class Served:
    """What this module verifies, with the documents a real node served for it."""

    def __init__(self) -> None:
        self.cases: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, Any] = {}  # context URL or DID -> document, as served
        self.did_json: dict[str, bytes] = {}  # https URL of a DID document (did:web §3.2.1) -> the bytes served
        self.rotation: dict[str, Any] = {}
        self.olymp: Signer | None = None  # the key that signed every kind's credential

    def add_context(self, client: TestClient, network_url: str) -> None:
        self.documents[extension_context(network_url)] = served(client, CONTEXT_PATH, "application/ld+json")

    def add_did(self, client: TestClient, network_url: str, institution: str) -> dict[str, Any]:
        did = institution_did(network_url, institution)
        r = client.get(document_path(institution))
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/did+json"), r.text[:500]
        self.documents[did] = r.json()
        self.did_json[document_url(did)] = r.content
        return r.json()

    def add_status_list(self, client: TestClient, cred: dict[str, Any]) -> dict[str, Any]:
        """The status list credential ``cred``'s credentialStatus names, as the node serves it, under its URL."""
        url = cred["credentialStatus"]["statusListCredential"]
        listed = served(client, "/" + url.split("://", 1)[1].split("/", 1)[1], "application/vc+ld+json")
        self.documents[url] = listed
        return listed

    def download(self, url: str) -> bytes:
        """openbadgeslib's did:web fetch, answered from what the node served; any other URL is refused."""
        if url not in self.did_json:
            raise LookupError(f"no document was served at {url}")
        return self.did_json[url]

    def extra_contexts(self) -> dict[str, Any]:
        return {url: doc for url, doc in self.documents.items() if not url.startswith("did:")}


def _init(data: Path, institutions: list[InstitutionSpec], sequencer: str) -> None:
    init_network(data, network=NETWORK, institutions=institutions, sequencer=sequencer, quorum=2,
                 passphrase=PASSPHRASE.encode(), created=int(time.time()) - 60, kdf_params=FAST_KDF)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Served:
    tmp = tmp_path_factory.mktemp("interop")
    out = Served()
    # The e-portfolio's network (tests/portfolio/helpers.py make_env), under NETWORK_URL.
    data = tmp / "node"
    _init(data, [
        InstitutionSpec("olymp", "Центр олимпиад «Перспектива»", "olympiad-organiser"),
        InstitutionSpec("school-1", "Школа № 1", "school"),
        InstitutionSpec("uni-1", "Государственный университет", "university"),
        InstitutionSpec("lyc-1", "Лицей № 2", "school"),
    ], "olymp")
    with serving_node(data, NETWORK_URL) as (app, client):
        out.add_context(client, NETWORK_URL)
        olymp = out.olymp = app.state.node.keys.signing["olymp"]
        for kind in KINDS:
            cred = credential(kind, "olymp", olymp, email=kind != "school-leaving")  # both holder identities
            out.cases[kind] = cred
            for where in TAMPERINGS:
                out.cases[f"{kind}/{where}"] = tampered(cred, where)
        out.add_did(client, NETWORK_URL, "olymp")

        # Issued by the e-portfolio, so with a BitstringStatusListEntry; one of the two then revoked by its staff.
        svc = app.state.portfolio
        staff = svc.accounts.create("staff@olymp.example.org", "correct horse battery", "Сергей Орлов", "staff", "olymp")
        maria = svc.accounts.create("maria@example.org", "correct horse battery", "Мария Иванова", "student", None)
        kept = svc.credentials.issue(staff, IssueRequest("maria@example.org", "olympiad", "Победитель олимпиады по физике", "2026-02-10"))
        gone = svc.credentials.issue(staff, IssueRequest("maria@example.org", "olympiad", "Призёр олимпиады по химии", "2026-02-11"))
        svc.credentials.revoke(staff, gone.id, "issued-in-error")
        out.cases["status/valid"] = svc.credentials.credential_json(kept.id)
        out.cases["status/revoked"] = svc.credentials.credential_json(gone.id)
        out.add_status_list(client, out.cases["status/valid"])

        # Her share link's CLR 2.0 record, as the node serves it (issue 17): signed by the node's institution.
        share = svc.portfolio.create_share(maria, label="ГУ", items=[f"c:{kept.id}", f"c:{gone.id}"], days=5)
        out.cases["clr"] = served(client, f"/s/{share.token}/clr.json", "application/vc+ld+json")
        out.cases["clr/tampered"] = clr_tampered(out.cases["clr"])
        out.documents[CLR_CONTEXT] = context_document(CLR_CONTEXT)

        # A key rotation on the ledger: a credential signed with school-1's old key, one with its new key.
        old = app.state.node.keys.signing["school-1"]
        out.cases["rotation/old-key"] = credential("school-leaving", "school-1", old)
        before = out.add_did(client, NETWORK_URL, "school-1")
        new = Signer.generate()
        rotate = Statement(NETWORK, "key.rotate", "school-1", {"old": b64e(old.public_key), "new": b64e(new.public_key),
                                                              "valid_from": format_time(int(time.time()))})
        (receipt,) = app.state.portfolio.ctx.submit("school-1", [rotate])  # signed with the old key, as a rotation is
        assert isinstance(receipt, Receipt), receipt
        app.state.node.keys.signing["school-1"] = new
        out.cases["rotation/new-key"] = credential("school-leaving", "school-1", new)
        after = out.add_did(client, NETWORK_URL, "school-1")
        out.rotation = {"before": before, "after": after, "old": old.public_key, "new": new.public_key}

    # Signed by a real key of a network whose documents nobody handed over: the loaders must refuse, not fetch.
    out.cases["unserved"] = credential("olympiad-diploma", "uni-1", Signer.generate(), network_url=ELSEWHERE_URL)

    # `eduledger credential issue --data-dir`, on a network of its own; its DID document from a node of it.
    cli_data = tmp / "cli-net"
    _init(cli_data, list(INSTITUTIONS), "olymp-1")
    out.cases["cli"] = issue_with_cli(cli_data, tmp / "cli-cwd")
    with serving_node(cli_data, CLI_NETWORK_URL) as (_, client):
        out.add_context(client, CLI_NETWORK_URL)
        out.add_did(client, CLI_NETWORK_URL, "olymp-1")
        out.add_status_list(client, out.cases["cli"])
    return out


def clr_tampered(clr: dict[str, Any]) -> dict[str, Any]:
    """``clr`` with one character changed in the title of the credential it carries."""
    out = copy.deepcopy(clr)
    cred = out["credentialSubject"]["verifiableCredential"][0]
    cred["name"] = one_character_changed(cred["name"])
    return out


def issue_with_cli(data: Path, cwd: Path) -> dict[str, Any]:
    cwd.mkdir()
    flags = [a for k, v in FIELDS["olympiad-diploma"].items() for a in ("--field", f"{k}={v}")]
    argv = ["credential", "issue", "--data-dir", str(data), "--institution", "olymp-1", "--kind", "olympiad-diploma",
            "--holder", "Иванова Мария Петровна", "--holder-email", "maria@example.org", "--title", "Диплом победителя", *flags]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDULEDGER_KEY_PASSPHRASE", PASSPHRASE)
        mp.setenv("EDULEDGER_NETWORK_URL", CLI_NETWORK_URL)
        mp.chdir(cwd)
        assert eduledger(argv) == 0
    (stored,) = (cwd / "issued").glob("*.credential.json")
    return json.loads(stored.read_text(encoding="utf-8"))


# --- Digital Bazaar (npm), one Node process ---------------------------------------------------


@pytest.fixture(scope="module")
def node_ready() -> str:
    """node with the pinned packages, checked before the network is built (skips or fails without them)."""
    return ensure_node_modules()


@pytest.fixture(scope="module")
def node_results(node_ready: str, world: Served, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    names = list(world.cases)
    results = verify_with_node([world.cases[n] for n in names], world.documents, tmp_path_factory.mktemp("node"))
    return dict(zip(names, results))


def test_every_kind_verifies_with_digital_bazaars_verifier(node_results):
    failed = {kind: node_results[kind]["error"] for kind in KINDS if not node_results[kind]["verified"]}
    assert failed == {}


@pytest.mark.parametrize("where", TAMPERINGS)
def test_one_changed_character_fails_with_digital_bazaars_verifier(node_results, where):
    passed = [kind for kind in KINDS if node_results[f"{kind}/{where}"]["verified"]]
    assert passed == []
    assert all("signature" in node_results[f"{kind}/{where}"]["error"].lower() for kind in KINDS)


def test_a_credential_signed_with_the_rotated_out_key_still_verifies_with_digital_bazaars_verifier(world, node_results):
    before, after = world.rotation["before"], world.rotation["after"]
    assert [m["publicKeyMultibase"] for m in before["verificationMethod"]] == [multikey(world.rotation["old"])]
    assert [m["publicKeyMultibase"] for m in after["verificationMethod"]] == [multikey(world.rotation["old"]), multikey(world.rotation["new"])]
    assert after["assertionMethod"] == [m["id"] for m in after["verificationMethod"]]
    assert node_results["rotation/old-key"] == {"verified": True, "error": None, "revoked": None}
    assert node_results["rotation/new-key"] == {"verified": True, "error": None, "revoked": None}


def test_digital_bazaars_verifier_is_given_documents_and_fetches_none(node_results):
    result = node_results["unserved"]
    assert result["verified"] is False
    assert ELSEWHERE_URL.split("//")[1] in result["error"]


def test_a_credential_issued_by_the_cli_verifies_with_digital_bazaars_verifier(world, node_results):
    cred = world.cases["cli"]
    assert cred["issuer"]["id"] == institution_did(CLI_NETWORK_URL, "olymp-1")
    assert proof_of(cred)["verificationMethod"].startswith(cred["issuer"]["id"] + "#")
    assert node_results["cli"] == {"verified": True, "error": None, "revoked": False}


def test_digital_bazaars_status_list_check_reads_a_revocation_from_the_list_the_node_serves(world, node_results):
    """vc-bitstring-status-list fetches the status list credential the credential names (here: as the node served
    it), verifies its proof and issuer, and reads the credential's bit."""
    for name in ("status/valid", "status/revoked"):
        assert world.cases[name]["credentialStatus"]["type"] == "BitstringStatusListEntry"
    assert node_results["status/valid"] == {"verified": True, "error": None, "revoked": False}
    assert node_results["status/revoked"] == {"verified": True, "error": None, "revoked": True}


def test_a_share_links_clr_record_verifies_with_digital_bazaars_verifier_and_one_changed_character_fails(world, node_results):
    """The ClrCredential of ``GET /s/<token>/clr.json`` (CLR 2.0's context handed over as a document, like eduledger's):
    its proof verifies; it carries the link's one verified credential, as stored; a changed character in it fails."""
    clr = world.cases["clr"]
    assert clr["type"] == ["VerifiableCredential", "ClrCredential"] and CLR_CONTEXT in clr["@context"]
    assert clr["credentialSubject"]["verifiableCredential"] == [world.cases["status/valid"]]
    assert node_results["clr"] == {"verified": True, "error": None, "revoked": None}
    assert node_results["clr/tampered"]["verified"] is False
    assert "signature" in node_results["clr/tampered"]["error"].lower()


# --- openbadgeslib (PyPI) ---------------------------------------------------------------------


def openbadgeslib_check(world: Served) -> Callable[[dict[str, Any]], None]:
    """openbadgeslib's Data Integrity proof check: the key resolved by its did:web resolver from the served DID
    document, our context (as the node served it) handed over as an extra context. Raises OB3VerificationError."""

    def check(cred: dict[str, Any]) -> None:
        pem = resolve_verification_method(proof_of(cred)["verificationMethod"], download=world.download)
        verify_data_integrity_proof(cred, pem, extra_contexts=world.extra_contexts())

    return check


def test_every_kind_verifies_with_openbadgeslib(world):
    check = openbadgeslib_check(world)
    for kind in [*KINDS, "rotation/old-key", "rotation/new-key", "cli", "status/valid", "status/revoked"]:
        check(world.cases[kind])


@pytest.mark.parametrize("where", TAMPERINGS)
def test_one_changed_character_fails_with_openbadgeslib(world, where):
    check = openbadgeslib_check(world)
    for kind in KINDS:
        with pytest.raises(OB3VerificationError, match="signature mismatch"):
            check(world.cases[f"{kind}/{where}"])


def test_openbadgeslib_resolves_only_the_documents_it_was_given(world):
    with pytest.raises(OB3VerificationError, match="could not fetch DID document https://elsewhere.invalid/"):
        openbadgeslib_check(world)(world.cases["unserved"])


def test_openbadgeslibs_full_ob3_verifier_refuses_our_context_and_accepts_the_rest(world):
    """Its OB3LdpVerifier verifies against its bundled contexts only (no way to add one): our credentials name
    eduledger's context, so it refuses them for that reason alone. Without that context and the extension it
    defines, re-signed by the same key, each credential passes all of its checks: the OB 3.0 model, the proof,
    the issuer's did:web owning the verification method, the validity window."""
    for kind in KINDS:
        with pytest.raises(OB3VerificationError, match="is not in the bundled allowlist"):
            OB3LdpVerifier().verify(world.cases[kind], download=world.download)
    for kind, cred in _ob_terms_only(world).items():
        parsed = OB3LdpVerifier().verify(cred, download=world.download)
        assert parsed.name == cred["name"], kind


def _ob_terms_only(world: Served) -> dict[str, dict[str, Any]]:
    """Each kind's credential without eduledger's context and extension, signed by the key that signed it."""
    out = {}
    for kind in KINDS:
        cred = {k: v for k, v in world.cases[kind].items() if k not in ("proof", "eduledgerExtension")}
        cred["@context"] = cred["@context"][:2]
        proof = proof_of(world.cases[kind])
        out[kind] = add_proof(cred, sign=world.olymp.sign,
                              verification_method=proof["verificationMethod"], created=proof["created"])
    return out
