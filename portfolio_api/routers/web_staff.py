"""Pages of institution staff: issued credentials, issuing (one or a CSV batch), requests, revocation, audit log."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ledger.errors import EduledgerError
from ledger.model.entries import REVOCATION_REASONS
from portfolio_api.deps import PathInt
from portfolio_api.routers.web_portfolio import _quote, fmt
from portfolio_api.services.credentials import KINDS, IssueRequest
from portfolio_api.web import ServicesDep, Staff, csrf_protect, redirect, render

router = APIRouter(prefix="/staff", tags=["web: staff"], dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _idem() -> str:
    return uuid.uuid4().hex


@router.get("")
def issued(request: Request, user: Staff, svc: ServicesDep) -> Response:
    suspended = svc.admin.is_suspended(user.institution_id)
    return render(request, "staff.html", issued=svc.credentials.issued_by(user.institution_id), institution_name=svc.credentials.institution_name(user.institution_id),
                  suspended=suspended, reasons=sorted(REVOCATION_REASONS), fmt=fmt, idem=_idem)


def _issue_page(request: Request, svc, user, *, status_code: int = 200, error: str | None = None, form: dict | None = None) -> Response:
    return render(request, "issue.html", status_code=status_code, error=error, form=form or {}, kinds=KINDS,
                  templates=svc.credentials.templates(user.institution_id), idem=(form or {}).get("idem") or _idem())


@router.get("/issue")
def issue_form(request: Request, user: Staff, svc: ServicesDep) -> Response:
    return _issue_page(request, svc, user)


@router.post("/issue")
def issue(
    request: Request, user: Staff, svc: ServicesDep, holder_email: Annotated[str, Form()], achieved_on: Annotated[str, Form()],
    idem: Annotated[str, Form()], template_id: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "olympiad",
    title: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
) -> Response:
    form = {"holder_email": holder_email, "achieved_on": achieved_on, "kind": kind, "title": title, "description": description, "idem": idem}
    try:
        if template_id:
            tp = svc.credentials.template(user.institution_id, int(template_id))
            kind, title, description = tp["kind"], title or tp["title"], description or tp["description"]
        svc.credentials.issue(user, IssueRequest(holder_email, kind, title, achieved_on, description, idem_key=idem))
    except (EduledgerError, ValueError) as e:
        return _issue_page(request, svc, user, status_code=400, error=str(e), form=form)
    return redirect(request, "/staff", "issued")


@router.get("/batch")
def batch_form(request: Request, user: Staff, svc: ServicesDep) -> Response:
    return render(request, "batch.html", idem=_idem(), batches=svc.batches.list(user), fmt=fmt)


@router.post("/batch")
async def batch(request: Request, user: Staff, svc: ServicesDep, file: Annotated[UploadFile, File()], idem: Annotated[str, Form()] = "") -> Response:
    data = await file.read(2 * 1024 * 1024 + 1)
    try:
        bid, rows = await run_in_threadpool(svc.batches.start, user, data, idem or _idem())
    except EduledgerError as e:
        return render(request, "batch.html", status_code=400, error=str(e), idem=_idem(), batches=svc.batches.list(user), fmt=fmt)
    if rows:
        task = asyncio.get_running_loop().run_in_executor(None, svc.batches.run, user, bid, rows)
        svc.background.add(task)
        task.add_done_callback(svc.background.discard)
    return redirect(request, f"/staff/batches/{bid}")


@router.get("/batches/{batch_id}")
def batch_status(request: Request, batch_id: PathInt, user: Staff, svc: ServicesDep) -> Response:
    b, report = svc.batches.get(user, batch_id)
    return render(request, "batch_status.html", batch=b, report=report)


@router.get("/requests")
def requests_page(request: Request, user: Staff, svc: ServicesDep, status: str = "") -> Response:
    return render(request, "requests.html", reqs=svc.uploads.requests_for(user, status or None))


@router.post("/requests/{request_id}/confirm")
def confirm(request: Request, request_id: PathInt, user: Staff, svc: ServicesDep) -> Response:
    svc.uploads.confirm(user, request_id)
    return redirect(request, "/staff/requests", "confirmed")


@router.post("/requests/{request_id}/reject")
def reject(request: Request, request_id: PathInt, user: Staff, svc: ServicesDep, reason: Annotated[str, Form()]) -> Response:
    svc.uploads.reject(user, request_id, reason)
    return redirect(request, "/staff/requests", "rejected")


@router.get("/uploads/{upload_id}/file")
def upload_file(upload_id: PathInt, user: Staff, svc: ServicesDep) -> Response:
    data, mime, name = svc.uploads.content(user, upload_id)
    return Response(data, media_type=mime, headers={"Content-Disposition": f"inline; filename*=UTF-8''{_quote(name)}", "X-Content-Type-Options": "nosniff"})


@router.post("/credentials/{credential_id}/revoke")
def revoke(request: Request, credential_id: str, user: Staff, svc: ServicesDep, reason: Annotated[str, Form()]) -> Response:
    svc.credentials.revoke(user, credential_id, reason)
    return redirect(request, "/staff", "revoked")


@router.post("/credentials/{credential_id}/supersede")
def supersede(
    request: Request, credential_id: str, user: Staff, svc: ServicesDep, title: Annotated[str, Form()], achieved_on: Annotated[str, Form()],
    idem: Annotated[str, Form()] = "",
) -> Response:
    svc.credentials.supersede(user, credential_id, title=title, achieved_on=achieved_on, idem_key=idem)
    return redirect(request, "/staff", "superseded")


@router.get("/audit")
def audit_page(request: Request, user: Staff, svc: ServicesDep) -> Response:
    return render(request, "audit.html", records=svc.audit.for_institution(user.institution_id), fmt=fmt)
