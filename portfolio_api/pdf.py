"""The diploma PDF: holder, achievement, issuer, a QR code to the verification page,
and the credential bundle embedded as ``credential.bundle.json`` (see verifier/pdf.py).

The page prints what the verifier will report as the credential's verified facts
(``verifier.report.Facts``): holder, title in full (never cut: a smaller size if it is
long), the place and stage of an olympiad or the hours of a programme, the date, the
issuer. So a genuine PDF's text layer agrees with them (``verifier/facts.py``). The QR
code encodes ``verify_url``: the e-portfolio passes ``/q/<digest>/<secret>``, the page
that shows those facts (portfolio_api/services/credential_facts.py).

Text is set in DejaVu Sans so Cyrillic renders; the fonts come from Debian's
fonts-dejavu-core (/usr/share/fonts/truetype/dejavu).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import segno
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from ledger.errors import KeyFileError
from verifier.credentials import EXTENSION, PLACE_LEVELS, STAGE_LEVELS
from verifier.pdf import ATTACHMENT_NAME

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path(__file__).parent / "fonts")
_registered = False

KIND_RU = {
    "olympiad": "Олимпиада", "contest": "Конкурс", "conference": "Конференция", "school-certificate": "Школьный аттестат",
    "diploma": "Диплом", "professional-development": "Повышение квалификации",
    # verifier.credentials.KINDS, for credentials issued with ``eduledger credential`` (no word that claims a place)
    "olympiad-diploma": "Олимпиада", "participation": "Участие", "school-leaving": "Аттестат", "teacher-pd": "Повышение квалификации",
    "generic": "Документ",
}
#: Title sizes, largest first: the first that sets the title in at most four lines is used.
TITLE_SIZES = (16, 13, 11, 9)


def _fonts() -> None:
    global _registered
    if _registered:
        return
    for d in FONT_DIRS:
        regular, bold = d / "DejaVuSans.ttf", d / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont("DejaVu", str(regular)))
            pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(bold)))
            _registered = True
            return
    raise KeyFileError("DejaVu fonts not found (install fonts-dejavu-core): Cyrillic text cannot be set")


def _wrap(c: canvas.Canvas, text: str, font: str, size: float, width: float) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        trial = f"{line} {w}".strip()
        if c.stringWidth(trial, font, size) <= width:
            line = trial
        else:
            if line:
                lines.append(line)
            line = w
    if line:
        lines.append(line)
    return lines


def result_line(bundle: bytes) -> str:
    """What the bundle's credential certifies beyond its title, as the page prints it: an olympiad's place and
    stage ("2 место, региональный этап"), a programme's hours ("72 ч"); "" for other kinds or an unreadable bundle."""
    try:
        ext = json.loads(bundle)["credential"].get(EXTENSION) or {}
        kind = ext.get("kind")
        if kind == "olympiad-diploma":
            return f"{PLACE_LEVELS[ext['place']]}, {STAGE_LEVELS[ext['stage']]}"
        if kind == "participation" and "stage" in ext:
            return STAGE_LEVELS[ext["stage"]]
        if kind == "teacher-pd":
            return f"{int(ext['hours'])} ч"
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return ""


def render_credential_pdf(*, holder: str, title: str, kind: str, issuer: str, achieved_on: str, digest: str, verify_url: str, bundle: bytes,
                          result: str | None = None) -> bytes:
    """The diploma's PDF; ``result`` (default: :func:`result_line` of ``bundle``) is printed under the title."""
    _fonts()
    result = result_line(bundle) if result is None else result
    buf = io.BytesIO()
    page_w, page_h = landscape(A4)
    c = canvas.Canvas(buf, pagesize=(page_w, page_h), invariant=1)
    c.setTitle(f"{title} — {holder}")
    c.setAuthor(issuer)
    c.setSubject("eduledger credential")
    c.setLineWidth(2)
    c.setStrokeColorRGB(0.12, 0.3, 0.61)
    c.rect(12 * mm, 12 * mm, page_w - 24 * mm, page_h - 24 * mm)
    c.setFont("DejaVu", 14)
    c.drawCentredString(page_w / 2, page_h - 35 * mm, issuer)
    c.setFont("DejaVu-Bold", 30)
    c.drawCentredString(page_w / 2, page_h - 55 * mm, KIND_RU.get(kind, kind).upper())
    c.setFont("DejaVu", 14)
    c.drawCentredString(page_w / 2, page_h - 72 * mm, "удостоверяет, что / certifies that")
    c.setFont("DejaVu-Bold", 24)
    c.drawCentredString(page_w / 2, page_h - 88 * mm, holder)
    y = page_h - 105 * mm
    size = next((z for z in TITLE_SIZES if len(_wrap(c, title, "DejaVu", z, page_w - 80 * mm)) <= 4), TITLE_SIZES[-1])
    c.setFont("DejaVu", size)
    for line in _wrap(c, title, "DejaVu", size, page_w - 80 * mm):  # all of it: the page must show the verified title
        c.drawCentredString(page_w / 2, y, line)
        y -= size / 2 * mm
    if result:
        c.setFont("DejaVu-Bold", 14)
        c.drawCentredString(page_w / 2, y - 2 * mm, result)
        y -= 8 * mm
    c.setFont("DejaVu", 12)
    c.drawCentredString(page_w / 2, y - 4 * mm, f"Дата / Date: {achieved_on}")
    qr = segno.make(verify_url, error="m")
    qr_buf = io.BytesIO()
    qr.save(qr_buf, kind="png", scale=6, border=1)
    qr_buf.seek(0)
    from reportlab.lib.utils import ImageReader

    c.drawImage(ImageReader(qr_buf), page_w - 62 * mm, 20 * mm, 40 * mm, 40 * mm)
    c.setFont("DejaVu", 8)
    c.drawString(22 * mm, 30 * mm, "Проверка / Verify: " + verify_url)
    c.drawString(22 * mm, 25 * mm, "SHA-256: " + digest)
    c.drawString(22 * mm, 20 * mm, "Документ содержит вложение credential.bundle.json для офлайн-проверки (eduledger verify).")
    c.showPage()
    c.save()
    return with_bundle(buf.getvalue(), bundle)


def with_bundle(pdf: bytes, bundle: bytes) -> bytes:
    """``pdf`` with ``bundle`` embedded as its ``credential.bundle.json`` attachment (what verifiers read)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_attachment(ATTACHMENT_NAME, bundle)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
