"""The credential bundle embedded in an eduledger diploma PDF.

A diploma PDF carries its bundle as an embedded file named
``credential.bundle.json`` (PDF 1.7 §7.11.4, EmbeddedFiles name tree), so the
PDF alone verifies offline: ``extract_bundle`` returns those exact bytes and the
verifier checks them like any bundle. Nothing printed on the page is trusted.
"""

from __future__ import annotations

import io

from ledger.errors import MalformedError

ATTACHMENT_NAME = "credential.bundle.json"
MAX_PDF_BYTES = 20 * 1024 * 1024


def extract_bundle(pdf_bytes: bytes) -> bytes:
    """The embedded bundle's bytes; MalformedError if the input is not a PDF or carries no bundle."""
    if not isinstance(pdf_bytes, (bytes, bytearray)):
        raise TypeError("pdf_bytes must be bytes")
    if not pdf_bytes.startswith(b"%PDF-"):
        raise MalformedError("not a PDF file (it does not start with %PDF-)")
    if len(pdf_bytes) > MAX_PDF_BYTES:
        raise MalformedError(f"PDF larger than {MAX_PDF_BYTES // (1024 * 1024)} MB")
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError

        reader = PdfReader(io.BytesIO(bytes(pdf_bytes)), strict=False)
        attachments = reader.attachments
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise MalformedError(f"the PDF does not parse: {e}") from None
    found = attachments.get(ATTACHMENT_NAME)
    if not found:
        raise MalformedError(f"the PDF carries no embedded {ATTACHMENT_NAME}: it is not an eduledger diploma, or it was altered")
    if len(found) != 1:
        raise MalformedError(f"the PDF carries {len(found)} files named {ATTACHMENT_NAME}; exactly one is expected")
    return bytes(found[0])
