"""The QR code on a diploma PDF: ``/q/<digest>/<secret>`` shows the verified facts; the digest alone shows only the status.

Every digest is public (the log's tiles hold them all), so ``/c/<digest>`` names no one; the QR code carries a
per-credential secret (``Vault.qr_secret``: an HMAC of the digest under a key derived from the node's master
key), and only with it does the page show the holder, achievement, date and issuer in large type."""

from __future__ import annotations

import io
import re

import segno
from PIL import Image
from pypdf import PdfReader

from portfolio_api.services.credentials import IssueRequest
from tests.portfolio import helpers

env = helpers.env  # the fixture: a four-institution network served by one app

TITLE = "Призёр олимпиады по информатике"


def _issue(env, who: str = "maria@example.org", title: str = TITLE):
    return env.svc.credentials.issue(env.users["olymp"], IssueRequest(who, "olympiad", title, "2026-03-01"))


def _qr_url(pdf: bytes) -> str:
    """The URL the PDF prints under "Проверка / Verify:", checked to be exactly what its QR code encodes."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    url = re.search(r"Проверка / Verify: (\S+)", page.extract_text()).group(1)
    drawn = page.images[0].image.convert("L")
    expected = io.BytesIO()
    segno.make(url, error="m").save(expected, kind="png", scale=6, border=1)  # as portfolio_api/pdf.py draws it
    assert drawn.tobytes() == Image.open(expected).convert("L").tobytes(), "the QR code encodes another URL"
    return url


def test_the_qr_code_on_the_pdf_carries_the_credentials_secret(env):
    c = _issue(env)
    pdf = env.browser("maria").get(f"/portfolio/credentials/{c.id}/pdf").content
    url = _qr_url(pdf)
    secret = env.svc.ctx.vault.qr_secret(c.digest)
    assert url == f"{env.app.state.settings.effective_public_url}/q/{c.digest}/{secret}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", secret)  # 128 bits, base64url
    other = _issue(env, "petr@example.org", "Победитель олимпиады")
    assert env.svc.ctx.vault.qr_secret(other.digest) != secret  # one per credential
    again = env.browser("maria").get(f"/portfolio/credentials/{c.id}/pdf").content
    assert _qr_url(again) == url  # derived, not stored: every PDF of the credential carries the same one


def test_the_page_shows_the_verified_facts_only_with_the_right_secret(env):
    c = _issue(env)
    secret = env.svc.ctx.vault.qr_secret(c.digest)
    browser = env.browser()
    page = browser.get(f"/q/{c.digest}/{secret}")
    assert page.status_code == 200
    facts = page.text[page.text.index('id="verified-facts"'):]
    assert "Подтверждённые сведения" in facts and "Сверьте с бумажным документом" in facts
    assert 'id="fact-holder">Мария Иванова<' in facts and f'id="fact-title">{TITLE}<' in facts
    assert 'id="fact-date">2026-03-01<' in facts and 'id="fact-issuer">' in facts
    assert "Подтверждено в реестре" in page.text  # and the ledger status
    browser.cookies.set("edu_lang", "en")
    assert "Verified facts" in browser.get(f"/q/{c.digest}/{secret}").text

    other = _issue(env, "petr@example.org", "Победитель олимпиады")
    for wrong in ("A" * 22, secret[:-1], env.svc.ctx.vault.qr_secret(other.digest), secret + "x"):
        page = env.browser().get(f"/q/{c.digest}/{wrong}")
        assert page.status_code == 200 and "Мария Иванова" not in page.text and TITLE not in page.text
        assert 'id="qr-no-secret"' in page.text and "Подтверждено в реестре" in page.text


def test_the_digest_alone_names_no_one(env):
    c = _issue(env)
    page = env.browser().get(f"/c/{c.digest}")
    assert page.status_code == 200 and "Подтверждено в реестре" in page.text
    assert "Мария Иванова" not in page.text and TITLE not in page.text


def test_a_revoked_credential_shows_its_status_first_and_an_unknown_digest_no_facts(env):
    c = _issue(env)
    env.svc.credentials.revoke(env.users["olymp"], c.id, "issued-in-error")
    page = env.browser().get(f"/q/{c.digest}/{env.svc.ctx.vault.qr_secret(c.digest)}").text
    assert page.index("Отозвано") < page.index('id="verified-facts"') and "Мария Иванова" in page
    unknown = "0" * 64
    page = env.browser().get(f"/q/{unknown}/{env.svc.ctx.vault.qr_secret(unknown)}")
    assert page.status_code == 200 and 'id="qr-no-facts"' in page.text and "этого хеша нет в реестре" in page.text
    assert env.browser().get(f"/q/not-a-digest/{'A' * 22}").status_code == 400
