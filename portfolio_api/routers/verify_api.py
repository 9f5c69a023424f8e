"""``POST /api/v1/verify``: the verifier's report on one bundle, a list of bundles, or uploaded files.

The body is one of

* ``application/json``: one bundle object (the answer is one report) or a
  list of bundle objects (a list of reports, in order);
* ``multipart/form-data``: one or more files, each a bundle (JSON) or a diploma
  PDF carrying one (one file: one report; several: a list, in order). Each
  report then names its ``file``;
* ``application/pdf``: one diploma PDF (one report).

A report is exactly what ``eduledger verify --json`` prints for a file
(``verifier.Report.to_json``), checked against the trust policy this node
derives from its genesis file and ledger. A bundle that fails verification is
still a 200: the report says which step failed and why. Bad requests get a 4xx
``{"error", "detail"}``: a body over ``verify_max_bytes`` (413), more than
``verify_max_documents`` documents, an empty list, a JSON body that does not
parse under the verifier's strict rules (size, depth, duplicate keys, safe
numbers), an ``application/pdf`` body that is not a diploma PDF carrying exactly
one bundle within the limits of ``verifier/pdf.py`` (several bundles, a
decompression bomb, a filter whose output cannot be capped), or another content
type (400). In a multipart upload such a file gets its own failed report (step 1,
with the same reason), like any other file; files are verified one at a time.
A node whose storage or fork alert is set answers 503 with the alert's reason (it verifies nothing against a log it no longer vouches for).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import MalformedError
from portfolio_api.services.verifier_process import VerifierGone, report_json
from portfolio_api.web import RequestTooLarge
from verifier import safejson
from verifier.document import MAX_DOCUMENT_BYTES
from verifier.report import FAILED
from verifier.verify import MAX_DEPTH

#: A single bundle up to this size may be verified in the event loop (an issued one is about 4 KiB).
INLINE_MAX_BYTES = 16 * 1024

# No CSRF check: verifying needs no account and changes nothing, so a forged cross-site request gains
# nothing; and the check would parse a multipart body before the size limit below applies.
router = APIRouter(prefix="/api/v1", tags=["verify"])


class StepOut(BaseModel):
    step: int = Field(description="1 well-formed, 2 digest, 3 log-signature, 4 cosignatures, 5 consistency, 6 inclusion, 7 issuer, 8 status, 9 validity")
    name: str
    status: str = Field(description="passed | failed | skipped | warning")
    message: str = Field(description="a sentence a person understands")
    evidence: dict[str, Any] | None = Field(default=None, description="what the step found (e.g. both checkpoints of a fork)")


class CheckpointOut(BaseModel):
    size: int
    root: str = Field(description="base64 RFC 9162 root")


class ReportOut(BaseModel):
    """``eduledger verify --json``'s report of one file (docs/formats.md, "Verification and its report")."""

    ok: bool = Field(description="no step failed (warnings allowed)")
    status: str = Field(description="verified | revoked | superseded | expired | not-yet-valid | fork | failed | incomplete")
    kind: str | None = None
    credential_id: str | None = None
    digest: str | None = Field(default=None, description="64 hex: SHA-256 of the RFC 8785 credential")
    issuer: str | None = Field(default=None, description="the issuing institution's name, as in the credential")
    holder: str | None = None
    title: str | None = None
    index: int | None = Field(default=None, description="the anchor's ledger index")
    checkpoint: CheckpointOut | None = None
    status_as_of: int | None = Field(default=None, description="Unix time of the newest status known")
    superseded_by: str | None = None
    steps: list[StepOut]
    file: str | None = Field(default=None, description="the uploaded file's name (multipart uploads only)")


class ErrorOut(BaseModel):
    error: str
    detail: str


BUNDLE_EXAMPLE = {"format": "eduledger-bundle/v1", "credential": {"...": "..."}, "receipt": "c2sp.org/tlog-proof@v1\n...", "issuer_keys": [], "status": []}


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with RequestTooLarge as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"the request is {int(declared)} bytes, limit {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"the request is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_documents(body: bytes, limit: int, max_documents: int) -> tuple[list[bytes], bool]:
    """The bundles of a JSON body, as bytes for the verifier, and whether the body was a list."""
    try:
        # One level more than a bundle may have: the list around the bundles.
        doc = safejson.loads(body, max_bytes=limit, max_depth=MAX_DEPTH + 1)
    except MalformedError as e:
        raise MalformedError(f"the body is not a bundle or a list of bundles: {e}") from None
    if isinstance(doc, dict):
        return [body], False  # the exact bytes: the same report as the CLI on this file
    if not isinstance(doc, list):
        raise MalformedError("the body must be a bundle (a JSON object) or a list of bundles")
    if not doc:
        raise MalformedError("the list is empty; send at least one bundle")
    if len(doc) > max_documents:
        raise MalformedError(f"the list has {len(doc)} bundles, at most {max_documents} per request")
    # An item is re-encoded: same values, so the same digest and the same report as its own file.
    return [json.dumps(item, ensure_ascii=False).encode("utf-8") for item in doc], True


async def _verify_uploads(request: Request, svc: Any, max_documents: int, options: dict[str, Any] | None = None) -> tuple[list[str], list[bytes]]:
    """The uploaded files' names and reports, in order, verified one file at a time.

    The multipart parser reads the request stream, which BodyLimit (portfolio_api/bodylimit.py) cuts at
    ``verify_max_bytes``: that is all that is ever spooled (up to 1 MiB a file in memory, the rest in
    temporary files). Each file is then read (at most MAX_DOCUMENT_BYTES), verified and dropped with
    its spool before the next is read, so one file, never all of them, is in memory at a time."""
    try:
        form = await request.form(max_files=max_documents, max_fields=16)
    except StarletteHTTPException as e:  # the multipart parser's refusals (too many files, bad boundary)
        raise MalformedError(f"the upload does not parse: {e.detail}") from None
    try:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise MalformedError("the upload holds no file; send one or more bundle or PDF files")
        names, reports = [], []
        for f in files:
            # By its counted size: a file's read(n) allocates n bytes first, whatever the file holds.
            data = await f.read(min(MAX_DOCUMENT_BYTES if f.size is None else f.size, MAX_DOCUMENT_BYTES) + 1)
            await f.close()
            names.append(f.filename or "")
            reports += await _reports(request, svc, [data], False, options)
            del data  # before the next file is read
        return names, reports
    finally:
        await form.close()


@router.post(
    "/verify",
    response_model=ReportOut | list[ReportOut],
    response_model_exclude_unset=True,  # "file" only on uploads, as in the CLI's output
    summary="Verify credential bundles or diploma PDFs (the report of eduledger verify --json)",
    responses={
        400: {"model": ErrorOut, "description": "not a bundle, a list of bundles or files; an empty or too long list"},
        413: {"model": ErrorOut, "description": "the request is larger than the limit"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]},
                                     "example": BUNDLE_EXAMPLE},
                "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
            "required": True,
        }
    },
)
async def verify(request: Request) -> Any:
    """The body is read by hand (three content types, a size limit before parsing); see the module docstring.

    One report for one bundle or file, a list of reports (in order) for a list or several files.
    The services and settings are read from the app's state, not through dependencies: the
    hottest public route pays for no dependency resolution."""
    svc, settings = request.app.state.portfolio, request.app.state.settings
    node = getattr(request.app.state, "node", None)
    if node is not None:
        # A halted node (storage or fork alert) verifies nothing against its log: 503 with the
        # reason. Cheap in the event loop: a negative answer is re-read at most every 0.5 s.
        node.check_serving()
    limit, max_documents = settings.verify_max_bytes, settings.verify_max_documents
    options = _options(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    names: list[str] | None = None
    if content_type == "multipart/form-data":  # files: verified one at a time, the body never held whole
        names, reports = await _verify_uploads(request, svc, max_documents, options)
        body, single, many = b"", False, len(reports) > 1
    else:
        body = await _read_body(request, limit)
        single = content_type == "application/json" and body.lstrip()[:1] == b"{"
        if single:
            datas, many = [body], False  # one bundle: the verifier parses it, as strictly, once
        elif content_type == "application/json":
            datas, many = _json_documents(body, limit, max_documents)
        elif content_type == "application/pdf":
            datas, many = [body], False
        else:
            raise MalformedError("send a bundle or a list of bundles as application/json, files as multipart/form-data, or a PDF as application/pdf")
        reports = await _reports(request, svc, datas, single, options)
    if (single or content_type == "application/pdf") and (why := _unreadable(reports[0])) is not None:
        # A body that is not JSON at all, or not a diploma PDF carrying one bundle (several, a
        # decompression bomb, a filter that cannot be capped: verifier/pdf.py), is a bad request
        # (400) saying why, as for a list; a readable bundle that fails its checks stays a 200 report.
        # The reason is the verifier's own: the body is never parsed a second time.
        if single:
            _json_documents(body, limit, max_documents)  # JSON that is not a bundle stays a 200 report
        else:
            raise MalformedError(why)
    if names is not None:  # "file" first, as in the CLI's --json output
        reports = [b'{"file":' + report_json(name) + b"," + r[1:] for name, r in zip(names, reports)]
    # The reports are already the documented shape (ReportOut, in the OpenAPI schema), as JSON:
    # returned as they are, they skip a validation and an encoding pass.
    return Response(b"[" + b",".join(reports) + b"]" if many else reports[0], media_type="application/json")


def _unreadable(report: bytes) -> str | None:
    """Why step 1 failed because the file could not be read at all (not a PDF with one bundle), else None."""
    if not report.startswith(b'{"ok":false'):
        return None
    step = json.loads(report)["steps"][0]
    prefix = "the file is not a well-formed credential bundle: "
    if step["status"] != FAILED or not step["message"].startswith(prefix):
        return None
    return step["message"][len(prefix) :]


def _options(request: Request) -> dict[str, Any]:
    """``?holder_email=ADDRESS`` and ``?check_proof=true``: the report's ``holder_check`` and ``proof_check``."""
    holder_email = request.query_params.get("holder_email") or None
    if holder_email is not None:
        from verifier.holder import normalise_email

        normalise_email(holder_email)  # a malformed address is a 400 before any body is read
    flag = request.query_params.get("check_proof", "false").lower()
    if flag not in ("true", "false", "1", "0"):
        raise MalformedError("check_proof must be true or false")
    return {"holder_email": holder_email, "check_proof": flag in ("true", "1")} if holder_email or flag in ("true", "1") else {}


async def _reports(request: Request, svc: Any, datas: list[bytes], single: bool, options: dict[str, Any] | None = None) -> list[bytes]:
    """The reports on ``datas`` as JSON, in order: from the verifier process when the node runs
    one (services/verifier_process.py), else here. One ordinary bundle (about 0.1 ms) is verified
    in the event loop when the verifier is free; anything larger (a bundle may carry hundreds of
    entries to check), or a busy verifier, in a worker thread. With ``options`` (a holder e-mail, the
    proof check) always here, in a worker thread: the process's fast path takes bundles only."""
    if options:
        done = await run_in_threadpool(lambda: svc.documents.verify_documents(datas, **options))
        return [report_json(r.to_json()) for r in done]
    process = getattr(request.app.state, "verifier_process", None)
    if process is not None:
        try:
            return await process.verify(datas, svc.ctx.now())
        except VerifierGone:
            pass
    done = svc.documents.verify_now(datas) if single and len(datas[0]) <= INLINE_MAX_BYTES else None
    if done is None:
        done = await run_in_threadpool(svc.documents.verify_documents, datas)
    return [report_json(r.to_json()) for r in done]

