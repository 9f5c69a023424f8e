"""POST /api/v1/verify: one bundle, a list, files and PDFs get the CLI's report; bad requests a 4xx, never a 500."""

from __future__ import annotations

import json

import pytest

from portfolio_api.services.credentials import IssueRequest
from tests.portfolio.helpers import env, form  # noqa: F401
from verifier.cli import main as verify_main


@pytest.fixture
def issued(env):
    """Two anchored credentials of the e-portfolio and their bundles (bytes)."""
    creds = [
        env.svc.credentials.issue(env.users["olymp"], IssueRequest(email, "olympiad", title, "2026-03-01"))
        for email, title in (("maria@example.org", "Победитель олимпиады"), ("petr@example.org", "Призёр олимпиады"))
    ]
    return creds, [env.svc.documents.bundle(c.id) for c in creds]


def _tampered(bundle: bytes) -> bytes:
    doc = json.loads(bundle)
    doc["credential"]["credentialSubject"]["name"] = "Сидоров Сидор"
    return json.dumps(doc, ensure_ascii=False).encode()


def _cli_report(env, tmp_path, bundle: bytes, capsys) -> dict:
    """What ``eduledger verify --json`` prints for this bundle, with the node's trust file."""
    (tmp_path / "trust.json").write_bytes(env.svc.documents.trust().to_bytes())
    (tmp_path / "b.json").write_bytes(bundle)
    capsys.readouterr()
    verify_main([str(tmp_path / "b.json"), "--trust", str(tmp_path / "trust.json"), "--json"])
    (report,) = json.loads(capsys.readouterr().out)["files"]
    report.pop("file")
    return report


def test_one_bundle_as_json_gets_the_cli_report(env, issued, tmp_path, capsys):
    creds, bundles = issued
    r = env.client.post("/api/v1/verify", content=bundles[0], headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["ok"] is True and report["status"] == "verified" and report["digest"] == creds[0].digest
    assert [s["step"] for s in report["steps"]] == list(range(1, 10))
    assert all(s["status"] == "passed" for s in report["steps"])
    assert report == _cli_report(env, tmp_path, bundles[0], capsys)


def test_a_list_of_bundles_gets_a_list_of_reports_in_order(env, issued):
    creds, bundles = issued
    body = [json.loads(bundles[1]), json.loads(_tampered(bundles[0])), json.loads(bundles[0])]
    r = env.client.post("/api/v1/verify", json=body)
    assert r.status_code == 200, r.text
    reports = r.json()
    assert [x["ok"] for x in reports] == [True, False, True]
    assert [x["digest"] for x in (reports[0], reports[2])] == [creds[1].digest, creds[0].digest]


def test_a_tampered_bundle_reports_the_failing_step(env, issued):
    _, bundles = issued
    r = env.client.post("/api/v1/verify", content=_tampered(bundles[0]), headers={"content-type": "application/json"})
    assert r.status_code == 200
    report = r.json()
    assert report["ok"] is False and report["status"] == "failed"
    first = next(s for s in report["steps"] if s["status"] == "failed")
    assert (first["step"], first["name"]) == (2, "digest")
    assert next(s for s in report["steps"] if s["name"] == "inclusion")["status"] == "passed"  # the receipt itself is genuine


def test_uploaded_files_bundles_and_pdf_each_get_a_report_naming_the_file(env, issued):
    creds, bundles = issued
    pdf = env.browser("maria").get(f"/portfolio/credentials/{creds[0].id}/pdf").content
    assert pdf.startswith(b"%PDF-")
    files = [
        ("file", ("diploma.pdf", pdf, "application/pdf")),
        ("file", ("petr.json", bundles[1], "application/json")),
        ("file", ("junk.bin", b"junk", "application/octet-stream")),
    ]
    r = env.client.post("/api/v1/verify", files=files)
    assert r.status_code == 200, r.text
    reports = r.json()
    assert [(x["file"], x["ok"]) for x in reports] == [("diploma.pdf", True), ("petr.json", True), ("junk.bin", False)]
    assert reports[0]["digest"] == creds[0].digest and reports[0]["holder"] == "Мария Иванова"
    assert reports[2]["steps"][0]["name"] == "well-formed" and reports[2]["steps"][0]["status"] == "failed"
    # One file: one report, not a list. A bare PDF body too.
    one = env.client.post("/api/v1/verify", files={"file": ("diploma.pdf", pdf, "application/pdf")}).json()
    assert one["file"] == "diploma.pdf" and one["ok"] is True
    bare = env.client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}).json()
    assert bare["ok"] is True and "file" not in bare


def test_a_deeply_nested_body_or_file_is_a_4xx_or_a_failed_report_never_a_500(env):
    deep = b"[" * 200_000
    r = env.client.post("/api/v1/verify", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "malformed" and "nested" in r.json()["detail"]
    r = env.client.post("/api/v1/verify", files={"file": ("deep.json", deep, "application/json")})
    assert r.status_code == 200
    assert r.json()["steps"][0]["status"] == "failed" and "nested" in r.json()["steps"][0]["message"]
    # The web page shares the path: a failed result, not a server error.
    page = form(env.browser(), "/verify", files={"file": ("deep.json", deep, "application/json")})
    assert page.status_code == 422 and "Проверка НЕ пройдена" in page.text


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"this is not json", "application/json", "not a bundle or a list of bundles"),
        (b'"a string"', "application/json", "must be a bundle"),
        (b"[]", "application/json", "the list is empty"),
        (b'{"a": 1, "a": 2}', "application/json", "duplicate key"),
        (b'  {"format": "eduledger-bundle/v1"} trailing', "application/json", "not a bundle or a list of bundles"),
        (b'{"format": ', "application/json", "not a bundle or a list of bundles"),
        (b"hello", "text/plain", "send a bundle"),
    ],
)
def test_bad_requests_get_400_with_error_and_detail(env, body, content_type, words):
    r = env.client.post("/api/v1/verify", content=body, headers={"content-type": content_type})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "malformed" and words in r.json()["detail"]


def test_a_multipart_request_without_files_is_refused(env):
    r = env.client.post("/api/v1/verify", data={"note": "no file"}, files={"x": ("", b"", "application/octet-stream")})
    assert r.status_code in (400, 422) and set(r.json()) == {"error", "detail"}


def test_oversized_requests_get_413_and_long_lists_400(env, issued):
    settings = env.app.state.settings
    r = env.client.post("/api/v1/verify", content=b" " * (settings.verify_max_bytes + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too-large"
    _, bundles = issued
    too_many = [json.loads(bundles[0])] * (settings.verify_max_documents + 1)
    r = env.client.post("/api/v1/verify", json=too_many)
    assert r.status_code == 400 and f"at most {settings.verify_max_documents}" in r.json()["detail"]


def test_an_oversized_bundle_file_fails_step_one(env):
    big = b'{"format": "eduledger-bundle/v1", "pad": "' + b"x" * (600 * 1024) + b'"}'
    r = env.client.post("/api/v1/verify", files={"file": ("big.json", big, "application/json")})
    assert r.status_code == 200
    step = r.json()["steps"][0]
    assert step["status"] == "failed" and "larger than the limit" in step["message"]


def test_the_openapi_documents_the_report(env):
    spec = env.client.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/verify"]["post"]
    assert set(op["requestBody"]["content"]) == {"application/json", "multipart/form-data", "application/pdf"}
    assert {"400", "413"} <= set(op["responses"])
    assert "ReportOut" in json.dumps(op["responses"]["200"]) and "StepOut" in spec["components"]["schemas"]


def test_the_node_verifies_a_checkpoint_once_until_the_ledger_grows(env, issued):
    """One verifier for the node: the second request reuses the first's checkpoint check; a new
    ledger entry rebuilds the trust policy (and its cache) from the ledger."""
    _, bundles = issued
    docs = env.svc.documents
    post = lambda b: env.client.post("/api/v1/verify", content=b, headers={"content-type": "application/json"})  # noqa: E731
    assert post(bundles[0]).json()["ok"] and post(bundles[1]).json()["ok"]
    size, _, seen = docs._verifier
    assert seen.signature_checks == 1 and size == env.app.state.node.log.state
    env.svc.credentials.issue(env.users["olymp"], IssueRequest("maria@example.org", "olympiad", "Призёр этапа", "2026-03-02"))
    assert env.app.state.node.log.size > size[1]
    assert post(bundles[0]).json()["ok"]
    assert docs._verifier[0] == env.app.state.node.log.state and docs._verifier[2] is not seen


def test_a_single_bundle_waits_for_a_busy_verifier_in_a_worker_thread(env, issued):
    """The event loop never waits for the verifier's lock: while another call holds it, one bundle
    goes to a worker thread, and gets its report once the lock is free."""
    import threading

    _, bundles = issued
    docs = env.svc.documents
    assert docs.verify_now([bundles[0]])[0].ok
    docs._verifying.acquire()
    try:
        assert docs.verify_now([bundles[0]]) is None
        timer = threading.Timer(0.2, docs._verifying.release)
        timer.start()
        r = env.client.post("/api/v1/verify", content=bundles[0], headers={"content-type": "application/json"})
    finally:
        timer.join()
    assert r.status_code == 200 and r.json()["status"] == "verified"


def test_the_api_checks_the_proof_and_the_holder_when_asked(env, issued):
    _, bundles = issued
    post = lambda q: env.client.post(f"/api/v1/verify{q}", content=bundles[0], headers={"content-type": "application/json"})  # noqa: E731
    plain = post("").json()
    assert plain["ok"] and "proof_check" not in plain and "holder_check" not in plain
    checked = post("?check_proof=true&holder_email=MARIA@example.org").json()
    assert checked["ok"] and checked["proof_check"]["status"] == "passed" and checked["holder_check"]["status"] == "passed"
    other = post("?holder_email=petr@example.org").json()
    assert not other["ok"] and other["status"] == "other-holder"
    assert post("?holder_email=not-an-address").status_code == 400
    assert post("?check_proof=maybe").status_code == 400
