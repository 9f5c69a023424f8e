"""Pages of a student's or teacher's portfolio: timeline, uploads, share links, downloads."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from ledger.errors import EduledgerError, MalformedError
from ledger.tlog.timefmt import format_time
from portfolio_api.deps import PathInt
from portfolio_api.i18n import t
from portfolio_api.services.credentials import KINDS
from portfolio_api.services.dates import server_today
from portfolio_api.services.idempotency import new_key
from portfolio_api.web import Holder, ServicesDep, csrf_protect, lang_of, public_base, redirect, render

router = APIRouter(prefix="/portfolio", tags=["web: portfolio"], dependencies=[Depends(csrf_protect)], include_in_schema=False)


def fmt(ts: int | None) -> str:
    return format_time(ts).replace("T", " ").replace("Z", " UTC") if ts else ""


#: The hidden field only a confirmation page sends: an irreversible action posted without it shows that page instead.
CONFIRMED = "yes"


def say(request: Request, key: str, **args: str) -> str:
    """The catalogue message ``key`` (portfolio_api/i18n.py) in the reader's language, ``args`` filled in."""
    text = t(key, lang_of(request))
    return text.format(**args) if args else text


def error_text(request: Request, e: EduledgerError) -> str:
    """What a form shows for ``e``: its catalogue message if its class names one (``message_key``), else its own text."""
    key = getattr(type(e), "message_key", None)
    return say(request, key, **getattr(e, "message_args", {})) if isinstance(key, str) else str(e)


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


def _upload_page(request: Request, svc, *, status_code: int = 200, error: str | None = None, form: dict | None = None) -> Response:
    """The upload form; after an error, with everything typed kept (``form``) and a word that the file must be chosen again."""
    return render(request, "upload.html", status_code=status_code, error=error, form=form or {}, kinds=KINDS, institutions=svc.credentials.institutions(),
                  max_mb=svc.ctx.upload_max_bytes // (1024 * 1024), idem=new_key(), today=server_today(svc.ctx.now()).isoformat())


@router.get("/upload")
def upload_form(request: Request, user: Holder, svc: ServicesDep) -> Response:
    return _upload_page(request, svc)


@router.post("/upload")
async def upload(
    request: Request, user: Holder, svc: ServicesDep, file: Annotated[UploadFile, File()], kind: Annotated[str, Form()],
    title: Annotated[str, Form()], issued_on: Annotated[str, Form()], issuer_id: Annotated[str, Form()] = "", ask: Annotated[str, Form()] = "",
    idem: Annotated[str, Form()] = "",
) -> Response:
    from starlette.concurrency import run_in_threadpool

    data = await file.read(svc.ctx.upload_max_bytes + 1)
    form = {"kind": kind, "title": title, "issued_on": issued_on, "issuer_id": issuer_id, "ask": ask}
    try:
        await run_in_threadpool(
            lambda: svc.uploads.add(user, data=data, filename=file.filename or "document", kind=kind, title=title, issued_on=issued_on,
                                    issuer_id=issuer_id or None, ask_confirmation=ask == "1", idem_key=idem)
        )
    except EduledgerError as e:
        return _upload_page(request, svc, status_code=400, error=error_text(request, e), form=form)
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


def _shares_page(request: Request, svc, user, *, status_code: int = 200, error: str | None = None, form: dict | None = None) -> Response:
    """The links and the form for a new one; ``form`` keeps what was typed and ticked (the default shows only ticked items)."""
    return render(request, "shares.html", status_code=status_code, error=error, form=form or {}, shares=svc.portfolio.shares_of(user),
                  items=svc.portfolio.timeline(user.id), now=svc.ctx.now(), base_url=public_base(request), fmt=fmt)


@router.get("/shares")
def shares(request: Request, user: Holder, svc: ServicesDep) -> Response:
    return _shares_page(request, svc, user)


@router.post("/shares")
def create_share(
    request: Request, user: Holder, svc: ServicesDep, days: Annotated[int, Form()], label: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "selected", items: Annotated[list[str] | None, Form()] = None, confirmed: Annotated[str, Form()] = "",
    edit: Annotated[str, Form()] = "",
) -> Response:
    """Issue 18: the form leads to a page saying exactly what the link will show; only that page's button
    (``confirmed``) creates it. Leaving the scope alone limits the link to the ticked items; ticking none is refused."""
    form = {"label": label, "days": days, "scope": scope, "ticked": list(items or [])}
    if edit:  # "Change" on the confirmation page: back to the form as it was filled in
        return _shares_page(request, svc, user, form=form)
    try:
        if scope not in ("selected", "all"):
            raise MalformedError("choose whether the link shows the ticked items or the whole public portfolio")
        chosen = form["ticked"] if scope == "selected" else None
        if confirmed != CONFIRMED:
            preview = svc.portfolio.preview_share(user, label=label, items=chosen, days=days)
            return render(request, "share_confirm.html", preview=preview, form=form, fmt=fmt)
        svc.portfolio.create_share(user, label=label, items=chosen, days=days)
    except EduledgerError as e:
        return _shares_page(request, svc, user, status_code=400, error=error_text(request, e), form=form)
    return redirect(request, "/portfolio/shares", "shared")


@router.get("/shares/{share_id}/revoke")
def revoke_share_confirm(request: Request, share_id: PathInt, user: Holder, svc: ServicesDep) -> Response:
    """Asks first: a revoked link cannot be turned back on."""
    (share,) = svc.portfolio.shares_of(user, share_id=share_id)
    shown = svc.portfolio.timeline(user.id, only=set(share.items)) if share.items is not None else None
    return render(request, "confirm_share_revoke.html", share=share, shown=shown, now=svc.ctx.now(), fmt=fmt)


@router.post("/shares/{share_id}/revoke")
def revoke_share(request: Request, share_id: PathInt, user: Holder, svc: ServicesDep, confirmed: Annotated[str, Form()] = "") -> Response:
    if confirmed != CONFIRMED:
        return revoke_share_confirm(request, share_id, user, svc)
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
