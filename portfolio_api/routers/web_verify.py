"""Public pages (no account): a shared portfolio, the verify page, bulk verification to CSV, a digest's status."""

from __future__ import annotations

import csv
import io
from itertools import groupby
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ledger.errors import EduledgerError, NotFoundError
from portfolio_api.services.shares import ShareGone
from portfolio_api.web import CurrentUser, ServicesDep, csrf_protect, render

router = APIRouter(tags=["web: verify"], dependencies=[Depends(csrf_protect)], include_in_schema=False)

MAX_FILE = 20 * 1024 * 1024
MAX_BULK = 500


def _viewer(user) -> str:
    if user is None:
        return ""
    return f"{user.name} ({user.institution_id})" if user.institution_id else user.name


@router.get("/s/{token}")
def shared(request: Request, token: str, user: CurrentUser, svc: ServicesDep) -> Response:
    try:
        share, owner, items = svc.portfolio.open_share(
            token, viewer=_viewer(user), ip=request.client.host if request.client else "", user_agent=request.headers.get("user-agent", "")
        )
    except ShareGone as e:
        return render(request, "error.html", status_code=410, detail=str(e), back="/")
    trajectory = [(year, list(its)) for year, its in groupby(items, key=lambda i: i.date[:4])]
    return render(request, "shared.html", share=share, owner=owner, items=items, trajectory=trajectory)


@router.get("/c/{digest}")
def credential_status(request: Request, digest: str, svc: ServicesDep) -> Response:
    res = svc.documents.check_digest(digest)
    return render(request, "credential.html", digest=digest, status="valid" if res.ok else res.status, badge=res.status, reasons=res.reasons)


@router.get("/verify")
def verify_form(request: Request) -> Response:
    return render(request, "verify.html", result=None)


@router.post("/verify")
async def verify(request: Request, svc: ServicesDep, file: Annotated[UploadFile, File()]) -> Response:
    data = await file.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        return render(request, "verify.html", status_code=400, error=f"the file is larger than {MAX_FILE // (1024 * 1024)} MB", result=None)
    result = await run_in_threadpool(svc.documents.check_file, data)
    return render(request, "verify.html", status_code=200 if result.ok else 422, result=result)


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ``'`` defuses a cell that would start a formula.

    Cells hold what others typed (share-link lines, holder names, credential titles), and a
    spreadsheet evaluates a cell beginning with = + - @ (or tab / CR before them) as a formula
    (OWASP "CSV injection"): ``=HYPERLINK(...)`` in a title must arrive as text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _SafeWriter:
    def __init__(self, out: io.StringIO) -> None:
        self._w = csv.writer(out)

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
    datas = [(f.filename, await f.read(MAX_FILE + 1)) for f in uploads]

    def work() -> str:
        out = io.StringIO()
        w = _SafeWriter(out)
        w.writerow(["source", "applicant", "date", "title", "issuer", "status", "reasons"])
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
        for name, data in datas:
            if len(data) > MAX_FILE:
                w.writerow([name, "", "", "", "", "failed", "file too large"])
                continue
            try:
                r = svc.documents.check_file(data)
            except EduledgerError as e:
                w.writerow([name, "", "", "", "", "failed", str(e)])
                continue
            w.writerow([name, r.holder, "", r.title, r.issuer, r.status, "; ".join(r.reasons)])
        return out.getvalue()

    body = await run_in_threadpool(work)
    return Response(body.encode("utf-8-sig"), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": 'attachment; filename="verification.csv"'})
