"""Browser tests: Playwright driving Debian's Chromium against a live node with the e-portfolio.

Skipped (with the reason) when /usr/bin/chromium is missing, except under CI=true,
where a missing browser is a failure. Screenshots of the key pages are written
to docs/screenshots/.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from portfolio_api.services.credentials import IssueRequest
from tests.portfolio.helpers import PASSWORD, PEOPLE, make_env
from tests.ports import free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _require_browser() -> None:
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (install Debian's chromium package)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright Python package is not installed"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests cannot run: {problem} (required under CI=true)")
        pytest.skip(f"browser tests skipped: {problem}")


@contextmanager
def serving(app, people: dict) -> Iterator[dict]:
    """``app`` behind uvicorn on a free port, in a thread, with ``people`` signed up:
    ``{"url", "app", "svc", "users"}``; its public URL is where it listens (the links on its pages)."""
    import uvicorn

    port = free_port()
    app.state.settings.public_url = f"http://127.0.0.1:{port}"  # EDULEDGER_PUBLIC_URL
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the node did not start")
        time.sleep(0.05)
    svc = app.state.portfolio
    users = {k: svc.accounts.create(email, PASSWORD, name, role, inst) for k, (email, name, role, inst) in people.items()}
    try:
        yield {"url": f"http://127.0.0.1:{port}", "app": app, "svc": svc, "users": users}
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def live(tmp_path):
    _require_browser()
    app, _data = make_env(tmp_path)
    with serving(app, PEOPLE) as ctx:
        yield ctx


@contextmanager
def chromium_browser() -> Iterator:
    """Debian's Chromium through Playwright, closed on the way out (skips or fails without it: _require_browser)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def browser():
    with chromium_browser() as b:
        yield b


def _page(browser, live, who: str | None = None):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(15000)
    if who is not None:
        page.goto(live["url"] + "/login")
        page.fill("input[name=email]", PEOPLE[who][0])
        page.fill("input[name=password]", PASSWORD)
        page.click("form.card button")
        page.wait_for_load_state()
    return page


def _shot(page, name: str) -> None:
    """Screenshots of the key pages; written to docs/screenshots/ only when
    EDULEDGER_SCREENSHOTS=1, so an ordinary test run leaves the tree untouched."""
    png = page.screenshot(full_page=True)
    assert png.startswith(b"\x89PNG")
    if os.environ.get("EDULEDGER_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / f"{name}.png").write_bytes(png)


def test_upload_confirm_share_and_university_sees_verified(live, browser, tmp_path):
    student = _page(browser, live, "maria")
    student.goto(live["url"] + "/portfolio/upload")
    scan = tmp_path / "diploma.png"
    scan.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    student.set_input_files("input[name=file]", str(scan))
    student.select_option("select[name=kind]", "diploma")
    student.fill("input[name=title]", "Диплом победителя муниципального этапа олимпиады по химии")
    student.fill("input[name=issued_on]", "2025-04-12")
    student.select_option("select[name=issuer_id]", "school-1")
    _shot(student, "student-upload")
    student.click("form.card button")
    student.wait_for_url("**/portfolio?msg=uploaded")
    assert "Ожидает подтверждения" in student.inner_text("ol.timeline")

    staff = _page(browser, live, "school")
    staff.goto(live["url"] + "/staff/requests")
    assert "Диплом победителя" in staff.inner_text("main")
    _shot(staff, "staff-requests")
    staff.click("section.request form[action$='/confirm'] button")
    staff.wait_for_url("**/staff/requests?msg=confirmed")

    student.goto(live["url"] + "/portfolio")
    assert "Подтверждено в реестре" in student.inner_text("ol.timeline")
    _shot(student, "student-portfolio")
    student.goto(live["url"] + "/portfolio/shares")
    student.fill("input[name=label]", "Приёмная комиссия университета")
    student.check("input[name=items]")  # only the ticked items unless the whole portfolio is chosen (issue 18)
    student.click("form.card button")
    assert "Диплом победителя" in student.inner_text("#share-confirm")  # what the link will show, before it exists
    student.click("#share-confirm button[name=confirmed]")
    student.wait_for_url("**/portfolio/shares?msg=shared")
    link = student.input_value("input.share-url")
    _shot(student, "student-shares")

    university = _page(browser, live)  # no account
    university.goto(link)  # click 0: the link itself shows every item with its result
    table = university.inner_text("table.verify-table")
    assert "Подтверждено в реестре" in table and "Диплом победителя" in table
    assert "совпадают с хешем, записанным в реестре" in table
    _shot(university, "university-shared-view")
    student.goto(live["url"] + "/portfolio/shares")
    assert "Кто открывал (1)" in student.inner_text("main")


def test_batch_csv_issuance_shows_progress_and_per_row_report(live, browser, tmp_path):
    staff = _page(browser, live, "olymp")
    staff.goto(live["url"] + "/staff/batch")
    f = tmp_path / "list.csv"
    # What Excel saves in Russia: cp1251, semicolons, dd.mm.yyyy, Russian headers and kinds.
    f.write_bytes("Эл. почта;Вид;Название;Дата\n"
                  "maria@example.org;олимпиада;Победитель олимпиады по математике;01.03.2026\n"
                  "petr@example.org;олимпиада;Призёр олимпиады по математике;01.03.2026\n"
                  "nobody@example.org;олимпиада;Призёр;01.03.2026\n".encode("cp1251"))
    staff.set_input_files("input[name=file]", str(f))
    staff.click("button[value=issue]")
    staff.wait_for_selector("table.report")
    assert "nobody@example.org" in staff.inner_text("table.report")  # refused whole, every bad row named
    f.write_bytes("\n".join(f.read_bytes().decode("cp1251").splitlines()[:3]).encode("cp1251") + b"\n")
    staff.set_input_files("input[name=file]", str(f))
    staff.click("button[value=issue]")
    staff.wait_for_selector("#batch[data-status=done]")
    assert staff.inner_text("#batch-progress") == "2/2"
    report = staff.inner_text("table.report")
    assert report.count("✓") == 2
    _shot(staff, "staff-batch-report")
    staff.goto(live["url"] + "/staff")
    _shot(staff, "staff-issued")


def test_revocation_is_shown_on_the_verify_page(live, browser, tmp_path):
    svc, users = live["svc"], live["users"]
    c = svc.credentials.issue(users["olymp"], IssueRequest("petr@example.org", "olympiad", "Призёр олимпиады по физике", "2026-02-10"))
    student = _page(browser, live, "petr")
    student.goto(live["url"] + "/portfolio")
    with student.expect_download() as dl:
        student.click(f"a[href='/portfolio/credentials/{c.id}/pdf']")
    pdf_path = tmp_path / "diploma.pdf"
    dl.value.save_as(pdf_path)

    staff = _page(browser, live, "olymp")
    staff.goto(live["url"] + "/staff")
    staff.click(f"tr[data-id='{c.id}'] form[action$='/revoke'] button")  # opens the confirmation page (issue 18)
    assert "Призёр олимпиады по физике" in staff.inner_text("#confirm")
    staff.check("input[name=reason][value=issued-in-error]")
    staff.click("#confirm button.danger")
    staff.wait_for_url("**/staff?msg=revoked")

    verifier = _page(browser, live)
    verifier.goto(live["url"] + "/verify")
    verifier.set_input_files("#verify-form input[type=file]", str(pdf_path))
    verifier.click("#verify-form button")
    result = verifier.inner_text("#verify-result")
    assert "Отозвано" in result and "выдан по ошибке" in result
    _shot(verifier, "verify-revoked")


def test_tampered_pdf_is_shown_as_failed(live, browser, tmp_path):
    from pypdf import PdfReader, PdfWriter

    from verifier.pdf import ATTACHMENT_NAME, extract_bundle

    svc, users = live["svc"], live["users"]
    c = svc.credentials.issue(users["olymp"], IssueRequest("maria@example.org", "olympiad", "Участник олимпиады", "2026-02-10"))
    pdf = svc.documents.pdf_for_holder(users["maria"], c.id, base_url=live["url"])
    bundle = json.loads(extract_bundle(pdf))
    bundle["credential"]["name"] = "Победитель олимпиады"
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    w._root_object.pop("/Names", None)
    w.add_attachment(ATTACHMENT_NAME, json.dumps(bundle).encode())
    forged = tmp_path / "forged.pdf"
    with open(forged, "wb") as fh:
        w.write(fh)
    page = _page(browser, live)
    page.goto(live["url"] + "/verify")
    _shot(page, "verify-page")
    page.set_input_files("#verify-form input[type=file]", str(forged))
    page.click("#verify-form button")
    result = page.inner_text("#verify-result")
    assert "Проверка НЕ пройдена" in result and "документ изменён или никогда не выдавался" in result
    _shot(page, "verify-tampered")


def test_language_switch_to_english(live, browser):
    page = _page(browser, live)
    page.goto(live["url"] + "/verify")
    assert "Проверка документа" in page.inner_text("h1")
    page.click("a[href^='/lang/en']")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Verify a document"
