"""The diploma PDF: holder, achievement, issuer, a QR code to the verification page,
and the credential bundle embedded as ``credential.bundle.json`` (see verifier/pdf.py).

Text is set in DejaVu Sans so Cyrillic renders; the fonts come from Debian's
fonts-dejavu-core (/usr/share/fonts/truetype/dejavu).
"""

from __future__ import annotations

import io
from pathlib import Path

import segno
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from ledger.errors import KeyFileError
from verifier.pdf import ATTACHMENT_NAME

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path(__file__).parent / "fonts")
_registered = False

KIND_RU = {
    "olympiad": "Олимпиада", "contest": "Конкурс", "conference": "Конференция", "school-certificate": "Школьный аттестат",
    "diploma": "Диплом", "professional-development": "Повышение квалификации",
}


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


def render_credential_pdf(*, holder: str, title: str, kind: str, issuer: str, achieved_on: str, digest: str, verify_url: str, bundle: bytes) -> bytes:
    _fonts()
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
    c.setFont("DejaVu", 16)
    for line in _wrap(c, title, "DejaVu", 16, page_w - 80 * mm)[:4]:
        c.drawCentredString(page_w / 2, y, line)
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
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buf.getvalue())))
    writer.add_attachment(ATTACHMENT_NAME, bundle)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
