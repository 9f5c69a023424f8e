"""The user stories of issue 18 in a real browser: each in Russian (the default) and English, at a desktop
(1280×800) and a phone (390×844) width, against one live node for the whole module.

Stories: a pupil registers, uploads a diploma, sees it awaiting and shares chosen items by link; school staff
issue a credential and revoke it through the confirmation page; a teacher-training institute issues a
professional-development certificate that the teacher sees verified; an olympiad organiser checks a CSV and
then issues it; an admissions officer lands on the applicants, follows a share link, opens it and verifies a
PDF. Also: every role lands on its page, the top menu is one line at 1280 px and a "Menu" button on a phone
with no horizontal scrolling, and the network page explains itself with the raw checkpoint folded.

Selectors go by role, label and name (``t(key, lang)``: the same words a person reads); waits are for pages
and elements, never for time. Screenshots are ``<lang>-<width>-<story>-<step>.png``: in docs/screenshots/
with EDULEDGER_SCREENSHOTS=1 (``make screenshots``), else in the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from ledger.node import Node, NodeOptions
from ledger.node.datadir import InstitutionSpec, init_network, load_keys
from ledger.storage import open_store
from portfolio_api.app import create_app
from portfolio_api.i18n import t
from portfolio_api.services.credentials import IssueRequest
from portfolio_api.settings import Settings
from tests.nodeproc import FAST_KDF, PASSPHRASE
from tests.portfolio.helpers import NET, PASSWORD, PEOPLE
from tests.web.test_web_flows import SHOTS, _require_browser, chromium_browser, serving

pytestmark = pytest.mark.browser

#: The test network of tests/portfolio/helpers.py plus a teacher-training institute and its staff.
INSTITUTIONS = [
    InstitutionSpec("olymp", "Центр олимпиад «Перспектива»", "olympiad-organiser"),
    InstitutionSpec("school-1", "Школа № 1", "school"),
    InstitutionSpec("uni-1", "Государственный университет", "university"),
    InstitutionSpec("ipk-1", "Институт повышения квалификации учителей", "training-institute"),
]
ACCOUNTS = {**PEOPLE, "ipk": ("staff@ipk.example.org", "Ирина Соколова", "staff", "ipk-1")}
VIEWPORTS = {1280: 800, 390: 844}
VIEWS = [pytest.param(lang, width, id=f"{lang}-{width}") for lang in ("ru", "en") for width in VIEWPORTS]
#: Where each role's work starts after sign-in (portfolio_api/routers/web_auth.py: landing).
LANDING = {"maria": "/portfolio", "anna": "/portfolio", "school": "/staff", "olymp_admin": "/staff", "ipk": "/staff",
           "uni": "/opportunities/applicants", "net": "/network/admin"}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One live node for every story of the module (each story uses its own titles and accounts)."""
    _require_browser()

    data = tmp_path_factory.mktemp("stories") / "node"
    genesis = init_network(data, network=NET, institutions=INSTITUTIONS, sequencer="olymp", quorum=2, passphrase=PASSPHRASE.encode(),
                           created=int(time.time()) - 60, kdf_params=FAST_KDF)
    url = f"sqlite:///{data / 'ledger.db'}"
    ledger_node = Node(open_store(url), genesis, load_keys(data, PASSPHRASE.encode()), options=NodeOptions(batch_ms=5))
    app = create_app(Settings(data_dir=data, database_url=url), node=ledger_node, passphrase=PASSPHRASE.encode())
    with serving(app, ACCOUNTS) as ctx:
        yield ctx


@pytest.fixture(scope="module")
def chromium():
    with chromium_browser() as b:
        yield b


class Person:
    """One browser context at one width and language; ``say`` is the text of an i18n key as its page shows it."""

    def __init__(self, chromium, node, lang: str, width: int, shots: Path) -> None:
        self.url, self.lang, self.width, self.shots = node["url"], lang, width, shots
        phone = width < 900
        self.ctx = chromium.new_context(viewport={"width": width, "height": VIEWPORTS[width]}, is_mobile=phone, has_touch=phone, accept_downloads=True)
        if lang != "ru":  # Russian is the default: no cookie
            self.ctx.add_cookies([{"name": "edu_lang", "value": lang, "url": self.url}])
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(15000)

    def say(self, key: str) -> str:
        return t(key, self.lang)

    def go(self, path: str) -> None:
        self.page.goto(path if path.startswith("http") else self.url + path)

    def sign_in(self, who: str) -> None:
        self.sign_in_as(ACCOUNTS[who][0])

    def sign_in_as(self, email: str) -> None:
        self.go("/login")
        self.page.get_by_label(self.say("f.email")).fill(email)
        self.page.get_by_label(self.say("f.password")).fill(PASSWORD)
        self.page.get_by_role("button", name=self.say("btn.login"), exact=True).click()
        self.page.wait_for_load_state()

    def menu(self, key: str) -> None:
        """Follow a link of the top menu as a person would: open "Menu" (a phone) and "More" when it is folded there."""
        link = self.page.locator("header nav").get_by_role("link", name=self.say(key), exact=True)
        for fold in ("details.menu > summary", "details.more > summary"):
            if link.count() == 0 and self.page.locator(fold).is_visible():
                self.page.locator(fold).click()
        link.click()
        self.page.wait_for_load_state()

    def button(self, key: str, within: str = "main"):
        return self.page.locator(within).get_by_role("button", name=self.say(key), exact=True)

    def shot(self, story: str, step: str) -> None:
        png = self.page.screenshot(full_page=True)
        assert png.startswith(b"\x89PNG")
        folder = SHOTS if os.environ.get("EDULEDGER_SCREENSHOTS") == "1" else self.shots
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{self.lang}-{self.width}-{story}-{step}.png").write_bytes(png)

    def fits(self) -> None:
        """No horizontal scrolling: the page is no wider than the window."""
        overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{self.page.url} scrolls sideways by {overflow} px at {self.width} px"


@pytest.fixture
def person(chromium, node, tmp_path):
    opened: list[Person] = []

    def open_(lang: str, width: int) -> Person:
        opened.append(Person(chromium, node, lang, width, tmp_path / "screenshots"))
        return opened[-1]

    yield open_
    for p in opened:
        p.ctx.close()


@pytest.mark.parametrize(("lang", "width"), VIEWS)
def test_pupil_registers_uploads_a_diploma_sees_it_awaiting_and_shares_chosen_items(person, lang, width, tmp_path):
    pupil = person(lang, width)
    page, email = pupil.page, f"pupil-{lang}-{width}@example.org"
    pupil.go("/register")
    page.get_by_label(pupil.say("f.name")).fill("Дарья Волкова")
    page.get_by_label(pupil.say("f.email")).fill(email)
    page.get_by_label(pupil.say("f.password")).fill(PASSWORD)
    pupil.button("btn.register").click()
    page.wait_for_url("**/login?msg=registered")
    pupil.sign_in_as(email)
    assert page.url.endswith("/portfolio")  # a pupil lands on the portfolio
    pupil.fits()

    pupil.menu("nav.upload")
    scan = tmp_path / "diploma.png"
    scan.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    title = f"Диплом призёра олимпиады по химии ({lang}, {width})"
    page.get_by_label(pupil.say("f.file")).set_input_files(str(scan))
    page.get_by_label(pupil.say("f.kind")).select_option("diploma")
    page.get_by_label(pupil.say("f.title")).fill(title)
    page.get_by_label(pupil.say("f.date")).fill("2025-04-12")
    page.get_by_label(pupil.say("f.issuer")).select_option("school-1")
    pupil.shot("pupil", "upload")
    pupil.button("btn.upload").click()
    page.wait_for_url("**/portfolio?msg=uploaded")
    item = page.locator("ol.timeline li", has_text=title)
    assert pupil.say("status.awaiting") in item.inner_text()
    pupil.fits()
    pupil.shot("pupil", "awaiting")

    pupil.menu("nav.shares")
    page.get_by_label(pupil.say("f.label")).fill("Приёмная комиссия")
    page.get_by_role("checkbox", name=re.compile(re.escape(title))).check()
    pupil.button("btn.share").click()
    assert title in page.locator("#share-confirm").inner_text()  # what the link will show, before it exists
    pupil.shot("pupil", "share-confirm")
    pupil.button("btn.share", within="#share-confirm").click()
    page.wait_for_url("**/portfolio/shares?msg=shared")
    link = page.locator("input.share-url").first.input_value()
    pupil.fits()
    pupil.shot("pupil", "share-link")

    pupil.go(link)  # what the admissions office sees: the chosen item, awaiting confirmation
    shown = page.locator("main").inner_text()
    assert title in shown and pupil.say("status.awaiting") in shown
    pupil.fits()

    pupil.go("/portfolio")
    pupil.menu("nav.consents")  # under "More": the institutions she lets follow her verified record
    page.get_by_label(pupil.say("f.follower")).select_option("uni-1")
    pupil.button("btn.grant").click()
    page.wait_for_url("**/opportunities/consents?msg=saved")
    assert "Государственный университет" in page.locator("table.consents").inner_text()
    pupil.fits()
    pupil.shot("pupil", "consents")


@pytest.mark.parametrize(("lang", "width"), VIEWS)
def test_school_staff_issue_a_credential_and_revoke_it_on_the_confirmation_page(person, lang, width):
    staff = person(lang, width)
    page = staff.page
    staff.sign_in("school")
    assert page.url.endswith("/staff")  # issuing staff land on what they issued
    staff.menu("nav.issue")
    title = f"Грамота за исследовательский проект ({lang}, {width})"
    page.get_by_label(staff.say("f.holder_email")).fill(ACCOUNTS["maria"][0])
    page.get_by_label(staff.say("f.kind")).select_option("school-certificate")
    page.get_by_label(staff.say("f.title")).fill(title)
    page.get_by_label(staff.say("f.date")).fill("2025-12-20")
    staff.shot("school", "issue")
    staff.button("btn.issue").click()
    page.wait_for_url("**/staff?msg=issued")
    row = page.locator("tr", has_text=title)
    assert staff.say("status.verified") in row.inner_text()
    staff.fits()
    staff.shot("school", "issued")

    row.get_by_role("button", name=staff.say("btn.revoke_ask")).click()
    confirm = page.locator("#confirm")
    assert title in confirm.inner_text()
    staff.shot("school", "revoke-confirm")
    confirm.get_by_label(staff.say("revocation.issued-in-error")).check()
    staff.button("btn.revoke_confirm", within="#confirm").click()
    page.wait_for_url("**/staff?msg=revoked")
    assert staff.say("status.revoked") in page.locator("tr", has_text=title).inner_text()
    staff.fits()
    staff.shot("school", "revoked")


@pytest.mark.parametrize(("lang", "width"), VIEWS)
def test_training_institute_issues_a_teacher_certificate_the_teacher_sees_verified(person, lang, width):
    staff = person(lang, width)
    page = staff.page
    staff.sign_in("ipk")
    assert page.url.endswith("/staff")
    staff.menu("nav.issue")
    title = f"Повышение квалификации «Цифровая дидактика», 72 часа ({lang}, {width})"
    page.get_by_label(staff.say("f.holder_email")).fill(ACCOUNTS["anna"][0])
    page.get_by_label(staff.say("f.kind")).select_option("professional-development")
    page.get_by_label(staff.say("f.title")).fill(title)
    page.get_by_label(staff.say("f.date")).fill("2026-02-20")
    staff.shot("institute", "issue")
    staff.button("btn.issue").click()
    page.wait_for_url("**/staff?msg=issued")
    assert staff.say("status.verified") in page.locator("tr", has_text=title).inner_text()

    teacher = person(lang, width)
    teacher.sign_in("anna")
    assert teacher.page.url.endswith("/portfolio")
    item = teacher.page.locator("ol.timeline li", has_text=title).inner_text()
    assert teacher.say("status.verified") in item and teacher.say("kind.professional-development") in item
    teacher.fits()
    teacher.shot("institute", "teacher-portfolio")


@pytest.mark.parametrize(("lang", "width"), VIEWS)
def test_olympiad_organiser_checks_a_csv_then_issues_it(person, lang, width, tmp_path):
    staff = person(lang, width)
    page = staff.page
    staff.sign_in("olymp_admin")
    assert page.url.endswith("/staff")
    staff.menu("nav.batch")
    csv = tmp_path / "winners.csv"  # what a Russian Excel saves: cp1251, semicolons, dd.mm.yyyy
    csv.write_bytes((f"Эл. почта;Вид;Название;Дата\n"
                     f"maria@example.org;олимпиада;Победитель олимпиады по математике ({lang}, {width});01.03.2026\n"
                     f"petr@example.org;олимпиада;Призёр олимпиады по математике ({lang}, {width});01.03.2026\n").encode("cp1251"))
    page.get_by_label(staff.say("batch.file")).set_input_files(str(csv))
    staff.button("btn.batch_check").click()
    check = page.locator("#batch-check")
    assert check.get_attribute("data-bad") == "0" and check.inner_text() == staff.say("batch.check_ok").format(total=2)
    staff.fits()
    staff.shot("olympiad", "checked")

    page.get_by_label(staff.say("batch.file")).set_input_files(str(csv))  # browsers do not keep a file
    staff.button("btn.batch_issue").click()
    page.wait_for_selector("#batch[data-status=done]")
    assert page.locator("#batch-progress").inner_text() == "2/2"
    assert page.locator("table.report").inner_text().count("✓") == 2
    staff.fits()
    staff.shot("olympiad", "issued")


@pytest.mark.parametrize(("lang", "width"), VIEWS)
def test_admissions_officer_lands_on_applicants_follows_a_link_opens_it_and_verifies_a_pdf(person, node, lang, width, tmp_path):
    svc, users = node["svc"], node["users"]
    title = f"Победитель регионального этапа олимпиады по физике ({lang}, {width})"
    c = svc.credentials.issue(users["olymp"], IssueRequest(ACCOUNTS["petr"][0], "olympiad", title, "2026-02-10"))
    share = svc.portfolio.create_share(users["petr"], label="Государственный университет", items=[f"c:{c.id}"], days=30)
    link = f"{node['url']}/s/{share.token}"
    pdf = tmp_path / "diploma.pdf"
    pdf.write_bytes(svc.documents.pdf_for_holder(users["petr"], c.id, base_url=node["url"]))

    officer = person(lang, width)
    page = officer.page
    officer.sign_in("uni")
    assert page.url.endswith("/opportunities/applicants")  # a university lands on its applicants
    assert page.get_by_role("heading", level=1).inner_text() == officer.say("h.applicants")
    officer.fits()
    officer.shot("admissions", "landing")
    page.get_by_label(officer.say("f.share_link")).fill(link)
    officer.button("btn.follow").click()
    page.wait_for_url("**/opportunities/applicants?msg=saved")
    assert ACCOUNTS["petr"][1] in page.locator("section.applicant", has_text=title).inner_text()

    officer.go(link)
    table = page.locator("table.verify-table").inner_text()
    assert title in table and officer.say("status.verified") in table
    officer.fits()
    officer.shot("admissions", "shared")

    officer.go("/opportunities/applicants")
    page.get_by_role("link", name=officer.say("applicants.verify")).click()
    page.locator("#verify-form input[type=file]").set_input_files(str(pdf))
    officer.button("btn.verify", within="#verify-form").click()
    result = page.locator("#verify-result").inner_text()
    assert officer.say("t.result_ok") in result and title in result
    officer.fits()
    officer.shot("admissions", "verified")


@pytest.mark.parametrize(("lang", "width"), VIEWS)
def test_the_network_page_explains_itself_and_folds_the_raw_checkpoint(person, node, lang, width):
    visitor = person(lang, width)
    page = visitor.page
    visitor.go("/")
    visitor.menu("nav.network")
    about = page.locator("#about").inner_text()
    assert visitor.say("net.what") in about and visitor.say("net.final_what") in about
    note = page.locator("#final-note")
    assert not note.is_visible()  # signatures and checkpoint text only on request
    visitor.fits()
    visitor.shot("network", "page")
    page.locator("#final-details > summary").click()
    assert NET in note.inner_text() and note.is_visible()
    visitor.fits()


def _one_line(page) -> float:
    """How far apart (px) the vertical centres of the header's visible links, buttons and menu items are."""
    return page.evaluate("""() => {
        const ys = [...document.querySelectorAll('header a, header button, header summary')]
            .filter(e => e.checkVisibility()).map(e => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; });
        return Math.max(...ys) - Math.min(...ys);
    }""")


@pytest.mark.parametrize("who", [None, *LANDING])
def test_each_role_lands_on_its_page_and_the_menu_is_one_line_on_a_desktop_and_a_button_on_a_phone(person, who):
    for lang in ("ru", "en"):
        desk = person(lang, 1280)
        if who is not None:
            desk.sign_in(who)
            assert desk.page.url.endswith(LANDING[who]), (who, desk.page.url)
        else:
            desk.go("/")
        assert _one_line(desk.page) < 12, f"{who}: the menu wraps at 1280 px ({lang})"
        more = desk.page.locator("details.more > summary")
        if more.count():
            more.click()
            links = desk.page.locator("details.more .more-links a")
            assert links.count() >= 3 and all(links.nth(i).is_visible() for i in range(links.count()))
            desk.fits()
        if lang == "ru":
            desk.shot(f"menu-{who or 'anonymous'}", "desktop")

        phone = person(lang, 390)
        phone.go("/")
        if who is not None:
            phone.sign_in(who)
        nav = phone.page.locator("header nav a")
        assert not nav.first.is_visible()  # folded under the "Menu" button
        phone.fits()
        phone.page.locator("details.menu > summary", has_text=phone.say("nav.menu")).click()
        assert nav.count() >= 3 and all(nav.nth(i).is_visible() for i in range(nav.count()))
        phone.fits()
        if lang == "ru":
            phone.shot(f"menu-{who or 'anonymous'}", "phone")
