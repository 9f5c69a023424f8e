"""Pages of institution staff: issued credentials, issuing (one or a CSV batch), requests, revocation, audit log."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ledger.errors import EduledgerError, MalformedError, NotFoundError
from ledger.model.entries import REVOCATION_REASONS
from portfolio_api.deps import PathInt
from portfolio_api.routers.web_portfolio import CONFIRMED, _quote, error_text, fmt, say
from portfolio_api.services import batches as batch_svc
from portfolio_api.services.credentials import KINDS, HeldCredential, IssueRequest
from portfolio_api.services.dates import refuse_future_text, server_today
from portfolio_api.web import ServicesDep, Staff, csrf_protect, lang_of, redirect, render

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
                  templates=svc.credentials.templates(user.institution_id), idem=(form or {}).get("idem") or _idem(),
                  today=server_today(svc.ctx.now()).isoformat())


@router.get("/issue")
def issue_form(request: Request, user: Staff, svc: ServicesDep) -> Response:
    return _issue_page(request, svc, user)


@router.post("/issue")
def issue(
    request: Request, user: Staff, svc: ServicesDep, holder_email: Annotated[str, Form()], achieved_on: Annotated[str, Form()],
    idem: Annotated[str, Form()], template_id: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "olympiad",
    title: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
) -> Response:
    form = {"holder_email": holder_email, "achieved_on": achieved_on, "kind": kind, "title": title, "description": description, "idem": idem,
            "template_id": template_id}
    try:
        refuse_future_text(achieved_on, server_today(svc.ctx.now()))  # FutureDate (issue 18); a malformed date is IssueRequest's to refuse
        if template_id:
            tp = svc.credentials.template(user.institution_id, int(template_id))
            kind, title, description = tp["kind"], title or tp["title"], description or tp["description"]
        svc.credentials.issue(user, IssueRequest(holder_email, kind, title, achieved_on, description, idem_key=idem))
    except (EduledgerError, ValueError) as e:
        return _issue_page(request, svc, user, status_code=400, error=error_text(request, e) if isinstance(e, EduledgerError) else str(e), form=form)
    return redirect(request, "/staff", "issued")


def _batch_page(request: Request, svc, user, *, status_code: int = 200, error: EduledgerError | None = None, results: list | None = None,
                checked: bool = False) -> Response:
    """The batch form with the kinds and column names; after a check or a refused file, every row's result."""
    lang = lang_of(request)
    return render(request, "batch.html", status_code=status_code, error=batch_svc.error_text(error, lang) if error else None,
                  results=batch_svc.page_rows(results or [], lang), checked=checked, kinds=batch_svc.kind_names(lang), headers=batch_svc.HEADERS,
                  idem=_idem(), batches=svc.batches.list(user), fmt=fmt)


@router.get("/batch")
def batch_form(request: Request, user: Staff, svc: ServicesDep) -> Response:
    return _batch_page(request, svc, user)


@router.get("/batch/template.csv")
def batch_template(user: Staff) -> Response:
    return Response(batch_svc.template_csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="batch-template.csv"', "X-Content-Type-Options": "nosniff"})


@router.post("/batch")
async def batch(
    request: Request, user: Staff, svc: ServicesDep, file: Annotated[UploadFile, File()], idem: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "issue",
) -> Response:
    """``mode=check``: every row's result, nothing written. Otherwise the file is issued only if every row is valid."""
    data = await file.read(batch_svc.MAX_CSV_BYTES + 1)
    try:
        if mode == "check":
            return _batch_page(request, svc, user, results=await run_in_threadpool(svc.batches.check, user, data), checked=True)
        bid, rows = await run_in_threadpool(svc.batches.start, user, data, idem or _idem())
    except batch_svc.BatchRefused as e:
        return _batch_page(request, svc, user, status_code=400, error=e, results=e.results)
    except EduledgerError as e:
        return _batch_page(request, svc, user, status_code=400, error=e)
    if rows:
        task = asyncio.get_running_loop().run_in_executor(None, svc.batches.run, user, bid, rows)
        svc.background.add(task)
        task.add_done_callback(svc.background.discard)
    return redirect(request, f"/staff/batches/{bid}")


@router.get("/batches/{batch_id}")
def batch_status(request: Request, batch_id: PathInt, user: Staff, svc: ServicesDep) -> Response:
    b, report = svc.batches.get(user, batch_id)
    return render(request, "batch_status.html", batch=b, report=batch_svc.page_rows(report, lang_of(request)))


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


# Revoking and superseding cannot be undone (issue 18): the list links to a page showing the credential and saying so;
# only that page's form (hidden ``confirmed``) acts. A POST without it shows the page and changes nothing.

#: The reasons offered, most common first; none is preselected. Shown in words (i18n ``revocation.<code>``).
REASON_ORDER = ("issued-in-error", "withdrawn", "fraud", "superseded", "key-compromise", "other")
REASON_CHOICES = tuple(r for r in REASON_ORDER if r in REVOCATION_REASONS) + tuple(sorted(REVOCATION_REASONS - set(REASON_ORDER)))


def _issued_credential(svc, user, credential_id: str) -> tuple[HeldCredential, str]:
    """A credential of the staff member's own institution and its holder's name; NotFoundError for any other."""
    c = svc.credentials.get(credential_id)
    if c.institution_id != user.institution_id:
        raise NotFoundError(f"no credential {credential_id} issued by {user.institution_id}")
    return c, svc.accounts.get(c.holder_id).name


def _revoke_page(request: Request, svc, user, credential_id: str, *, status_code: int = 200, error: str | None = None) -> Response:
    c, holder = _issued_credential(svc, user, credential_id)
    return render(request, "confirm_revoke.html", status_code=status_code, error=error, c=c, holder=holder, reasons=REASON_CHOICES, fmt=fmt)


@router.get("/credentials/{credential_id}/revoke")
def revoke_confirm(request: Request, credential_id: str, user: Staff, svc: ServicesDep) -> Response:
    return _revoke_page(request, svc, user, credential_id)


@router.post("/credentials/{credential_id}/revoke")
def revoke(
    request: Request, credential_id: str, user: Staff, svc: ServicesDep, reason: Annotated[str, Form()] = "", confirmed: Annotated[str, Form()] = "",
) -> Response:
    if confirmed != CONFIRMED:
        return _revoke_page(request, svc, user, credential_id)  # a reason posted from elsewhere is not carried over
    if reason not in REVOCATION_REASONS:
        return _revoke_page(request, svc, user, credential_id, status_code=400, error=say(request, "err.reason_required"))
    svc.credentials.revoke(user, credential_id, reason)
    return redirect(request, "/staff", "revoked")


def _supersede_page(request: Request, svc, user, credential_id: str, *, status_code: int = 200, error: str | None = None,
                    form: dict | None = None) -> Response:
    c, holder = _issued_credential(svc, user, credential_id)
    form = form or {"title": c.title, "achieved_on": c.achieved_on, "idem": _idem()}
    return render(request, "confirm_supersede.html", status_code=status_code, error=error, c=c, holder=holder, form=form, fmt=fmt,
                  today=server_today(svc.ctx.now()).isoformat())


@router.get("/credentials/{credential_id}/supersede")
def supersede_confirm(request: Request, credential_id: str, user: Staff, svc: ServicesDep) -> Response:
    return _supersede_page(request, svc, user, credential_id)


@router.post("/credentials/{credential_id}/supersede")
def supersede(
    request: Request, credential_id: str, user: Staff, svc: ServicesDep, title: Annotated[str, Form()] = "", achieved_on: Annotated[str, Form()] = "",
    idem: Annotated[str, Form()] = "", confirmed: Annotated[str, Form()] = "",
) -> Response:
    form = {"title": title, "achieved_on": achieved_on, "idem": idem or _idem()}
    if confirmed != CONFIRMED:
        return _supersede_page(request, svc, user, credential_id, form=form if title or achieved_on else None)
    _issued_credential(svc, user, credential_id)  # another institution's credential: 404 before anything about the form
    try:
        refuse_future_text(achieved_on, server_today(svc.ctx.now()))
        svc.credentials.supersede(user, credential_id, title=title, achieved_on=achieved_on, idem_key=idem)
    except MalformedError as e:  # the corrected details do not parse: the page again, as typed
        return _supersede_page(request, svc, user, credential_id, status_code=400, error=error_text(request, e), form=form)
    return redirect(request, "/staff", "superseded")


@router.get("/audit")
def audit_page(request: Request, user: Staff, svc: ServicesDep) -> Response:
    return render(request, "audit.html", records=svc.audit.for_institution(user.institution_id), fmt=fmt)
