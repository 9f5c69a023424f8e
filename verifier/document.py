"""A file a holder hands over: a credential bundle (JSON) or a diploma PDF carrying one (pure).

``verify_document(data, trust, now=...)`` is what ``eduledger verify`` runs on
each file and what ``POST /api/v1/verify`` and the web ``/verify`` page run on
each upload, so all three give the same report. Bytes that start with
``%PDF-`` are a PDF and their embedded bundle is verified
(:func:`verifier.pdf.extract_bundle`); everything else is handed to
:func:`verifier.verify.verify` as it is, which never raises for bad input (a
file too large, not JSON, nested too deeply: step 1 fails with the reason).

A PDF's report also says what its printed page is worth (``Report.printed``,
:func:`verifier.facts.compare_printed`): only the verified facts are confirmed,
and its text layer, read in the same parse as the bundle, is compared with them
(a difference is a warning; no difference confirms nothing).
"""

from __future__ import annotations

from ledger.errors import MalformedError
from verifier.facts import compare_printed
from verifier.pdf import MAX_PDF_BYTES, Diploma, extract_bundle, read_diploma
from verifier.report import FAILED, SKIPPED, STEPS, Report, Step
from verifier.trust import TrustPolicy
from verifier.verify import MAX_BUNDLE_BYTES, CheckpointCache, StatusRefresh, verify

__all__ = ["MAX_DOCUMENT_BYTES", "bundle_bytes", "read_document", "unreadable_report", "verify_document", "with_printed"]

#: The largest file worth reading: a PDF (a bare bundle is refused above MAX_BUNDLE_BYTES by step 1).
MAX_DOCUMENT_BYTES = max(MAX_PDF_BYTES, MAX_BUNDLE_BYTES)


def unreadable_report(message: str) -> Report:
    """The report of a file with no bundle to verify: step 1 failed with ``message``, the rest skipped."""
    steps = [Step(1, "well-formed", FAILED, message)]
    steps += [Step(n, name, SKIPPED, "not checked because step 1 (well-formed) did not pass") for n, name, _ in STEPS[1:]]
    return Report(steps=steps)


def bundle_bytes(data: bytes) -> bytes:
    """The bundle in ``data``: a PDF's embedded bundle, or ``data`` itself. MalformedError for a bad PDF."""
    if data.startswith(b"%PDF-"):
        return extract_bundle(data)
    return data


def read_document(data: bytes) -> tuple[bytes, Diploma | None]:
    """The bundle in ``data``, and for a PDF what :func:`verifier.pdf.read_diploma` found (its printed text);
    MalformedError for a bad PDF."""
    if data.startswith(b"%PDF-"):
        diploma = read_diploma(data)
        return diploma.bundle, diploma
    return data, None


def with_printed(report: Report, diploma: Diploma | None) -> Report:
    """``report`` with, for a PDF, its printed text compared with the report's verified facts."""
    if diploma is not None:
        report.printed = compare_printed(report.facts, diploma.text, diploma.text_problem)
    return report


def verify_document(
    data: bytes, trust: TrustPolicy, *, now: int, seen: CheckpointCache | None = None, refresh: StatusRefresh | None = None,
    holder_email: str | None = None, check_proof: bool = False,
) -> Report:
    """The verifier's report on a bundle or a diploma PDF; never raises for bad input (``verify``'s options pass through)."""
    try:
        bundle, diploma = read_document(data)
    except MalformedError as e:
        return unreadable_report(f"the file is not a well-formed credential bundle: {e}")
    report = verify(bundle, trust, now=now, seen=seen, refresh=refresh, holder_email=holder_email, check_proof=check_proof)
    return with_printed(report, diploma)
