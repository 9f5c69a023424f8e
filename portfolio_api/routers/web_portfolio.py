"""Pages of a student's or teacher's portfolio: timeline, uploads, share links, downloads."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from ledger.errors import EduledgerError, MalformedError
from ledger.tlog.timefmt import format_time
from portfolio_api.deps import PathInt
from portfolio_api.services.credentials import KINDS
from portfolio_api.services.idempotency import new_key
from portfolio_api.web import Holder, ServicesDep, csrf_protect, public_base, redirect, render

router = APIRouter(prefix="/portfolio", tags=["web: portfolio"], dependencies=[Depends(csrf_protect)], include_in_schema=False)


def fmt(ts: int | None) -> str:
    return format_time(ts).replace("T", " ").replace("Z", " UTC") if ts else ""


@router.get("")
def portfolio(request: Request, user: Holder, svc: ServicesDep) -> Response:
    return render(request, "portfolio.html", items=svc.portfolio.timeline(user.id), institutions=svc.credentials.institutions())


@router.post("/items/{ref}/public")
def set_public(request: Request, ref: str, user: Holder, svc: ServicesDep, public: Annotated[str, Form()]) -> Response:
    kind, _, ident = ref.partition(":")
    if kind == "c":
        svc.credentials.set_public(user, ident, public == "1")
    elif kind == "u" and ident.isdigit():
        svc.uploads.set_public(user, int(ident), public == "1")
    else:
        raise MalformedError(f"unknown item {ref!r}")
    return redirect(request, "/portfolio", "saved")


@router.get("/upload")
def upload_form(request: Request, user: Holder, svc: ServicesDep) -> Response:
    return render(request, "upload.html", kinds=KINDS, institutions=svc.credentials.institutions(), max_mb=svc.ctx.upload_max_bytes // (1024 * 1024),
                  idem=new_key())


@router.post("/upload")
async def upload(
    request: Request, user: Holder, svc: ServicesDep, file: Annotated[UploadFile, File()], kind: Annotated[str, Form()],
    title: Annotated[str, Form()], issued_on: Annotated[str, Form()], issuer_id: Annotated[str, Form()] = "", ask: Annotated[str, Form()] = "",
    idem: Annotated[str, Form()] = "",
) -> Response:
    from starlette.concurrency import run_in_threadpool

    data = await file.read(svc.ctx.upload_max_bytes + 1)
    try:
        await run_in_threadpool(
            lambda: svc.uploads.add(user, data=data, filename=file.filename or "document", kind=kind, title=title, issued_on=issued_on,
                                    issuer_id=issuer_id or None, ask_confirmation=ask == "1", idem_key=idem)
        )
    except EduledgerError as e:
        return render(request, "upload.html", status_code=400, error=str(e), kinds=KINDS, institutions=svc.credentials.institutions(),
                      max_mb=svc.ctx.upload_max_bytes // (1024 * 1024), idem=new_key())
    return redirect(request, "/portfolio", "uploaded")


@router.post("/uploads/{upload_id}/ask")
def ask(request: Request, upload_id: PathInt, user: Holder, svc: ServicesDep, institution_id: Annotated[str, Form()]) -> Response:
    svc.uploads.ask(user, upload_id, institution_id)
    return redirect(request, "/portfolio", "asked")


@router.get("/uploads/{upload_id}/file")
def upload_file(upload_id: PathInt, user: Holder, svc: ServicesDep) -> Response:
    data, mime, name = svc.uploads.content(user, upload_id)
    return Response(data, media_type=mime, headers={"Content-Disposition": f"inline; filename*=UTF-8''{_quote(name)}", "X-Content-Type-Options": "nosniff"})


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@router.get("/shares")
def shares(request: Request, user: Holder, svc: ServicesDep) -> Response:
    return render(request, "shares.html", shares=svc.portfolio.shares_of(user), items=svc.portfolio.timeline(user.id), now=svc.ctx.now(),
                  base_url=public_base(request), fmt=fmt)


@router.post("/shares")
def create_share(
    request: Request, user: Holder, svc: ServicesDep, days: Annotated[int, Form()], label: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "all", items: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        svc.portfolio.create_share(user, label=label, items=list(items or []) if scope == "selected" else None, days=days)
    except EduledgerError as e:
        return render(request, "shares.html", status_code=400, error=str(e), shares=svc.portfolio.shares_of(user), items=svc.portfolio.timeline(user.id),
                      now=svc.ctx.now(), base_url=public_base(request), fmt=fmt)
    return redirect(request, "/portfolio/shares", "shared")


@router.post("/shares/{share_id}/revoke")
def revoke_share(request: Request, share_id: PathInt, user: Holder, svc: ServicesDep) -> Response:
    svc.portfolio.revoke_share(user, share_id)
    return redirect(request, "/portfolio/shares", "share_revoked")


@router.get("/shares/{share_id}/qr.svg")
def share_qr(request: Request, share_id: PathInt, user: Holder, svc: ServicesDep) -> Response:
    (share,) = svc.portfolio.shares_of(user, share_id=share_id)
    if not share.token:
        raise MalformedError("this link was erased")
    import io

    buf = io.BytesIO()
    segno.make(f"{public_base(request)}s/{share.token}", error="m").save(buf, kind="svg", scale=4, border=2)
    return Response(buf.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.get("/credentials/{credential_id}/bundle")
def bundle(credential_id: str, user: Holder, svc: ServicesDep) -> Response:
    data = svc.documents.bundle_for_holder(user, credential_id)
    return Response(data, media_type="application/json", headers={"Content-Disposition": f'attachment; filename="credential-{credential_id[:8]}.bundle.json"'})


@router.get("/credentials/{credential_id}/pdf")
def pdf(request: Request, credential_id: str, user: Holder, svc: ServicesDep) -> Response:
    data = svc.documents.pdf_for_holder(user, credential_id, base_url=public_base(request))
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="credential-{credential_id[:8]}.pdf"'})
