"""Public pages (no account): a shared portfolio (with its holder check and CLR 2.0 download), the verify page, bulk verification to CSV, a digest's status."""

from __future__ import annotations

import csv
import io
import json
from itertools import groupby
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ledger.errors import EduledgerError, MalformedError, NotFoundError
from portfolio_api.i18n import catalogue_ids, message, t
from portfolio_api.services.clr_export import ClrExport, holder_checks
from portfolio_api.services.shares import ShareGone, share_viewer
from portfolio_api.web import AnyUser, CurrentUser, ServicesDep, csrf_protect, lang_of, redirect, render
from verifier.document import MAX_DOCUMENT_BYTES
from verifier.holder import normalise_email

router = APIRouter(tags=["web: verify"], dependencies=[Depends(csrf_protect)], include_in_schema=False)

#: The largest file read from an upload: the verifier's largest document (a diploma PDF).
MAX_FILE = MAX_DOCUMENT_BYTES
MAX_BULK = 500
#: The longest e-mail field read on the shared page (an address is at most 254 characters, verifier/holder.py).
MAX_EMAIL_FIELD = 320


def _viewer(user) -> str:
    """The access log's viewer: an opaque id when signed in, never a name (services/shares.py)."""
    return share_viewer(user)


def _shared_page(request: Request, token: str, user, svc, *, holder_email: str = "") -> Response:
    """The shared portfolio; with ``holder_email``, each credential's answer to "issued to this e-mail?"."""
    try:
        share, owner, items = svc.portfolio.open_share(token, viewer=_viewer(user), user_agent=request.headers.get("user-agent", ""))
    except ShareGone as e:
        return render(request, "error.html", status_code=410, detail=str(e), back="/")
    trajectory = [(year, list(its)) for year, its in groupby(items, key=lambda i: i.date[:4])]
    named = user is not None and user.id != owner.id and svc.portfolio.viewer_named(token, user)
    checks, error = None, None
    if holder_email:
        try:
            checks = holder_checks(svc.credentials, items, holder_email)
        except MalformedError:
            error = "err.holder_email_invalid"
    exportable = any(i.status == "verified" and i.credential is not None for i in items)
    return render(request, "shared.html", status_code=400 if error else 200, share=share, owner=owner, items=items, trajectory=trajectory,
                  token=token, named=named, holder_email=holder_email, holder_checks=checks, holder_error=error, exportable=exportable)


@router.get("/s/{token}")
def shared(request: Request, token: str, user: CurrentUser, svc: ServicesDep) -> Response:
    return _shared_page(request, token, user, svc)


@router.post("/s/{token}/holder")
def shared_holder_check(request: Request, token: str, user: CurrentUser, svc: ServicesDep, holder_email: Annotated[str, Form()] = "") -> Response:
    """The shared page with every credential checked against the e-mail a viewer typed (a POST: the address stays
    out of URLs, histories and logs; CSRF-checked like every form)."""
    return _shared_page(request, token, user, svc, holder_email=holder_email.strip()[:MAX_EMAIL_FIELD])


@router.get("/s/{token}/clr.json")
def shared_clr(request: Request, token: str, user: CurrentUser, svc: ServicesDep) -> Response:
    """The link's verified credentials as one CLR 2.0 ClrCredential, signed by this node's institution, to download
    (the same document as ``GET /api/v1/shares/<token>/clr``). Refused as the page is: 404, 410."""
    share, clr = ClrExport(svc.ctx, svc.portfolio, svc.credentials).for_share(token, viewer=_viewer(user), user_agent=request.headers.get("user-agent", ""))
    name = f"clr-{clr['validFrom'][:10]}-{share.id}.json"
    return Response(json.dumps(clr, ensure_ascii=False).encode("utf-8"), media_type="application/vc+ld+json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/s/{token}/name")
def name_to_owner(request: Request, token: str, user: AnyUser, svc: ServicesDep, named: Annotated[str, Form()] = "") -> Response:
    """A signed-in viewer lets the link's owner see her name, or withdraws that (default: not named)."""
    try:
        svc.portfolio.set_viewer_named(token, user, named == "1")
    except ShareGone as e:
        return render(request, "error.html", status_code=410, detail=str(e), back="/")
    return redirect(request, f"/s/{token}", "saved")


@router.get("/c/{digest}")
def credential_status(request: Request, digest: str, svc: ServicesDep) -> Response:
    res = svc.documents.check_digest(digest)
    return render(request, "credential.html", digest=digest, status="valid" if res.ok else res.status, badge=res.status, reasons=res.reasons)


@router.get("/verify")
def verify_form(request: Request) -> Response:
    return render(request, "verify.html", result=None)


@router.post("/verify")
async def verify(request: Request, svc: ServicesDep, file: Annotated[UploadFile, File()], holder_email: Annotated[str, Form()] = "") -> Response:
    too_large = file.size is not None and file.size > MAX_FILE  # counted while spooling: not read at all
    data = b"" if too_large else await _read(file)
    if too_large or len(data) > MAX_FILE:
        return render(request, "verify.html", status_code=400, error=f"the file is larger than {MAX_FILE // (1024 * 1024)} MB", result=None)
    holder_email = holder_email.strip()
    if holder_email:
        try:
            normalise_email(holder_email)
        except MalformedError as e:
            return render(request, "verify.html", status_code=400, error=f"the holder's e-mail: {e}", result=None)
    result = await run_in_threadpool(lambda: svc.documents.check_file(data, holder_email=holder_email or None))
    return render(request, "verify.html", status_code=200 if result.ok else 422, result=result, holder_email=holder_email)


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ``'`` defuses a cell that would start a formula.

    Cells hold what others typed (share-link lines, holder names, credential titles), and a
    spreadsheet evaluates a cell beginning with = + - @ (or tab / CR before them) as a formula
    (OWASP "CSV injection"): ``=HYPERLINK(...)`` in a title must arrive as text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _SafeWriter:
    def __init__(self, out: io.StringIO, delimiter: str = ",") -> None:
        self._w = csv.writer(out, delimiter=delimiter)

    def writerow(self, row: list[object]) -> None:
        self._w.writerow([spreadsheet_safe(c) for c in row])


def _token_of(line: str) -> str:
    line = line.strip().rstrip("/")
    return line.rsplit("/s/", 1)[1] if "/s/" in line else line


@router.post("/verify/bulk")
async def verify_bulk(
    request: Request, user: CurrentUser, svc: ServicesDep, links: Annotated[str, Form()] = "", files: Annotated[list[UploadFile] | None, File()] = None
) -> Response:
    lines = [x for x in links.splitlines() if x.strip()]
    uploads = [f for f in (files or []) if f.filename]
    if not lines and not uploads:
        return render(request, "verify.html", status_code=400, error="give at least one link or file", result=None)
    if len(lines) + len(uploads) > MAX_BULK:
        return render(request, "verify.html", status_code=400, error=f"at most {MAX_BULK} links and files at once", result=None)
    out = io.StringIO()
    lang = lang_of(request)
    # In the reader's language; Russian with ';', as Excel in a Russian locale opens it (UTF-8 with a BOM).
    w = _LocalisedRows(_SafeWriter(out, delimiter=";" if lang == "ru" else ","), lang)
    w.header()

    def work() -> None:
        for line in lines:
            try:
                _, owner, items = svc.portfolio.open_share(_token_of(line), viewer=_viewer(user) or "bulk verification",
                                                           ip=request.client.host if request.client else "", user_agent="bulk verification")
            except (NotFoundError, ShareGone) as e:
                w.writerow([line.strip(), "", "", "", "", "failed", str(e)])
                continue
            if not items:
                w.writerow([line.strip(), owner.name, "", "", "", "empty", "the link shows no items"])
            for it in items:
                w.writerow([line.strip(), owner.name, it.date, it.title, it.issuer, it.status, "; ".join(it.reasons)])

    await run_in_threadpool(work)
    # The files one at a time: read, verified, dropped; only their rows stay (docs/security.md, "Bulk verification").
    for upload in uploads:
        w.writerow(await _file_row(svc, upload))
    return Response(out.getvalue().encode("utf-8-sig"), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": 'attachment; filename="verification.csv"'})


CSV_COLUMNS = ("source", "applicant", "date", "title", "issuer", "status", "reasons")


class _LocalisedRows:
    """The bulk report's rows with their header, status and reasons in ``lang`` (the catalogue's ``csv.*``,
    ``status.*`` and English-message entries); names, titles and links as they are."""

    def __init__(self, w: _SafeWriter, lang: str) -> None:
        self._w, self._lang = w, lang

    def header(self) -> None:
        self._w.writerow([t(f"csv.{c}", self._lang) for c in CSV_COLUMNS])

    def writerow(self, row: list[object]) -> None:
        *cells, status, reasons = row
        key = f"status.{status}"  # English keeps the stable status codes (verified, revoked, failed, ...)
        status_text = t(key, self._lang) if self._lang != "en" and key in catalogue_ids(self._lang) else status
        reasons_text = "; ".join(message(r, self._lang) for r in str(reasons).split("; ")) if reasons else ""
        self._w.writerow([*cells, status_text, reasons_text])


async def _file_row(svc, upload: UploadFile) -> list[object]:
    """The CSV row of one uploaded file. Its size is known before it is read (Starlette counted it while
    spooling), so an oversized file is never read; the rest is read, verified in a worker thread and
    dropped, and its spool (memory, or a temporary file past 1 MiB) is freed at once."""
    name = upload.filename
    try:
        if upload.size is not None and upload.size > MAX_FILE:
            return [name, "", "", "", "", "failed", "file too large"]
        data = await _read(upload)
        if len(data) > MAX_FILE:
            return [name, "", "", "", "", "failed", "file too large"]
        try:
            r = await run_in_threadpool(svc.documents.check_file, data)
        except EduledgerError as e:
            return [name, "", "", "", "", "failed", str(e)]
        return [name, r.holder, "", r.title, r.issuer, r.status, "; ".join(r.reasons)]
    finally:
        await upload.close()


async def _read(upload: UploadFile) -> bytes:
    """The upload's bytes, at most MAX_FILE + 1 of them. Read by its counted size: a file's ``read(n)``
    allocates ``n`` bytes before it reads, so ``read(MAX_FILE + 1)`` would cost 20 MB for any file."""
    return await upload.read(min(MAX_FILE if upload.size is None else upload.size, MAX_FILE) + 1)
