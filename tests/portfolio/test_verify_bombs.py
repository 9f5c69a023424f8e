"""PDF bombs and bulk uploads through the real app: ``POST /api/v1/verify``, the ``/verify`` page and ``/verify/bulk``.

A PDF carrying eight ``credential.bundle.json`` files of 70 MB of compressed zeros each (about 560 KB on the
wire), or one such bundle, is refused with a 4xx that says why, and costs neither the node nor the verifier
process more than a bounded amount of memory (tracemalloc's peak in this process, the verifier process's
peak resident size from /proc); a bulk upload verifies its files one at a time and gives each its CSV row."""

from __future__ import annotations

import asyncio
import csv
import io
import tracemalloc
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portfolio_api.app import create_app
from portfolio_api.services.credentials import IssueRequest
from portfolio_api.settings import Settings
from tests.portfolio import helpers
from tests.portfolio.helpers import form
from tests.verifier.test_pdf_bombs import bundles_pdf, zeros_deflated
from verifier.pdf import ATTACHMENT_NAME
from verifier.verify import MAX_BUNDLE_BYTES

env = helpers.env  # the fixture: a three-institution network served by one app

EIGHT = f"the PDF carries 8 files named {ATTACHMENT_NAME}; exactly one is expected"
INFLATED = f"decompresses to more than {MAX_BUNDLE_BYTES} bytes, the bundle size limit"
#: What one bomb may cost this process (the node), all of the request's handling included; the bomb itself
#: inflates to 560 MB, and before the cap it cost about that much.
NODE_PEAK_LIMIT = 8 << 20


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {"eight.pdf": bundles_pdf(8, zeros_deflated(), ["/FlateDecode"]), "one.pdf": bundles_pdf(1, zeros_deflated(), ["/FlateDecode"])}


@pytest.fixture
def issued(env):
    """A diploma PDF the portfolio made and a bundle, both of anchored credentials."""
    creds = [
        env.svc.credentials.issue(env.users["olymp"], IssueRequest(email, "olympiad", title, "2026-03-01"))
        for email, title in (("maria@example.org", "Победитель олимпиады"), ("petr@example.org", "Призёр олимпиады"))
    ]
    pdf = env.browser("maria").get(f"/portfolio/credentials/{creds[0].id}/pdf").content
    assert pdf.startswith(b"%PDF-")
    return pdf, env.svc.documents.bundle(creds[1].id)


def _peak(call):
    """``call()`` and the peak memory this process allocated meanwhile (every thread: the app's too)."""
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_pdf_bomb_posted_to_the_api_is_a_400_saying_why(env, bombs):
    for name, words in (("eight.pdf", EIGHT), ("one.pdf", INFLATED)):
        r, peak = _peak(lambda: env.client.post("/api/v1/verify", content=bombs[name], headers={"content-type": "application/pdf"}))
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "malformed" and words in r.json()["detail"]
        assert peak < NODE_PEAK_LIMIT


def test_a_pdf_bomb_among_uploaded_files_gets_its_own_failed_report(env, bombs, issued):
    pdf, bundle = issued
    files = [("file", ("eight.pdf", bombs["eight.pdf"], "application/pdf")), ("file", ("diploma.pdf", pdf, "application/pdf")),
             ("file", ("one.pdf", bombs["one.pdf"], "application/pdf")), ("file", ("petr.json", bundle, "application/json"))]
    r = env.client.post("/api/v1/verify", files=files)
    assert r.status_code == 200, r.text
    reports = r.json()
    assert [(x["file"], x["ok"]) for x in reports] == [("eight.pdf", False), ("diploma.pdf", True), ("one.pdf", False), ("petr.json", True)]
    assert EIGHT in reports[0]["steps"][0]["message"] and INFLATED in reports[2]["steps"][0]["message"]
    assert all(x["steps"][0]["status"] == "failed" for x in (reports[0], reports[2]))


def test_a_good_diploma_pdf_body_is_still_a_200_report(env, issued):
    pdf, _ = issued
    r = env.client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"})
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["status"] == "verified"


def test_a_pdf_bomb_on_the_verify_page_fails_with_the_reason(env, bombs):
    browser = env.browser()
    for name, words in (("eight.pdf", EIGHT), ("one.pdf", INFLATED)):
        page, peak = _peak(lambda: form(browser, "/verify", files={"file": (name, bombs[name], "application/pdf")}))
        assert page.status_code == 422
        assert "Проверка НЕ пройдена" in page.text and words in page.text
        assert peak < NODE_PEAK_LIMIT
    # The page's CSRF check still holds for a bomb: without the token nothing is verified.
    r = browser.post("/verify", files={"file": ("eight.pdf", bombs["eight.pdf"], "application/pdf")})
    assert r.status_code == 403


def _csv_rows(body: bytes) -> list[dict[str, str]]:
    """The bulk report's rows, by its English header (the reader's language is English here: ``_english``)."""
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def _english(c):
    c.cookies.set("edu_lang", "en")
    return c


def test_bulk_verification_gives_a_row_per_file_and_a_bomb_fails_alone(env, bombs, issued):
    pdf, bundle = issued
    files = [("files", ("diploma.pdf", pdf, "application/pdf")), ("files", ("eight.pdf", bombs["eight.pdf"], "application/pdf")),
             ("files", ("petr.json", bundle, "application/json")), ("files", ("one.pdf", bombs["one.pdf"], "application/pdf")),
             ("files", ("junk.bin", b"junk", "application/octet-stream"))]
    r = form(_english(env.browser()), "/verify/bulk", files=files)
    assert r.status_code == 200, r.text
    rows = _csv_rows(r.content)
    assert [(x["source"], x["status"]) for x in rows] == [
        ("diploma.pdf", "verified"), ("eight.pdf", "failed"), ("petr.json", "verified"), ("one.pdf", "failed"), ("junk.bin", "failed"),
    ]
    assert rows[0]["applicant"] == "Мария Иванова" and rows[2]["applicant"] == "Пётр Смирнов"
    assert EIGHT in rows[1]["reasons"] and INFLATED in rows[3]["reasons"]


def _asgi_post(app, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST ``body`` to the ASGI app in 64 KiB chunks, as a server would (the test client would copy it whole)."""
    sent: dict = {"status": None, "body": b""}
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http", "path": path,
        "raw_path": path.encode(), "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        "headers": [(k.encode(), v.encode()) for k, v in {**headers, "content-length": str(len(body))}.items()],
    }
    view, offset = memoryview(body), 0

    async def receive():
        nonlocal offset
        chunk = bytes(view[offset:offset + (64 << 10)])
        offset += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": offset < len(body)}

    async def send(message):
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return sent["status"], sent["body"]


def test_bulk_verification_holds_one_file_at_a_time(env):
    """Twelve files of 2 MiB (24 MiB, within the 40 MiB bulk limit): read all at once they would cost 24 MiB
    in memory; read, verified and dropped one at a time, the peak is a few files' worth at most."""
    size, count = 2 << 20, 12
    token, boundary = "t" * 32, "bulk-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'.encode()]
    for i in range(count):
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="f{i}.json"\r\nContent-Type: application/json\r\n\r\n'
        parts.append(head.encode() + bytes([0x30 + i % 10]) * size + b"\r\n")
    body = b"".join([*parts, f"--{boundary}--\r\n".encode()])
    headers = {"content-type": f"multipart/form-data; boundary={boundary}", "cookie": f"edu_csrf={token}; edu_lang=en"}
    (status, answer), peak = _peak(lambda: _asgi_post(env.app, "/verify/bulk", body, headers))
    assert status == 200, answer[:500]
    rows = _csv_rows(answer)
    assert [x["source"] for x in rows] == [f"f{i}.json" for i in range(count)] and {x["status"] for x in rows} == {"failed"}
    assert all("larger than the limit" in x["reasons"] for x in rows)
    assert peak < count * size // 3


def _peak_rss(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def test_the_verifier_process_refuses_bombs_with_its_memory_bounded(env, bombs, issued):
    pdf, _ = issued
    settings = Settings(data_dir=env.data, database_url=f"sqlite:///{env.data / 'ledger.db'}", verify_process=True)
    app = create_app(settings, node=env.node)
    with TestClient(app) as client:
        process = app.state.verifier_process
        good = client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"})
        assert good.status_code == 200 and good.json()["ok"] is True
        before = _peak_rss(process.pid)
        for _ in range(3):
            for name, words in (("eight.pdf", EIGHT), ("one.pdf", INFLATED)):
                r = client.post("/api/v1/verify", content=bombs[name], headers={"content-type": "application/pdf"})
                assert r.status_code == 400 and words in r.json()["detail"]
        assert process.running and process.answered == 7  # the process checked every one, and is still there
        assert _peak_rss(process.pid) - before < 32 << 20  # 560 MB inflated before the cap; now at most a bundle
        assert client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}).json()["ok"] is True
