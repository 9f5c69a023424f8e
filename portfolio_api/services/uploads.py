"""Diplomas uploaded by their holders, and the requests that ask the issuer to confirm them.

A file's type is decided by its first bytes (PDF, JPEG, PNG), never by its
name or the browser's Content-Type. Files are encrypted with the owner's data
key. Confirming a request issues and anchors a credential whose evidence is the
file's SHA-256: the ledger holds only digests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from ledger.errors import AuthorizationError, ConflictError, MalformedError, NotFoundError
from portfolio_api.db import tables as t
from portfolio_api.services import audit
from portfolio_api.services.accounts import Accounts, User
from portfolio_api.services.context import Ctx
from portfolio_api.services.credentials import KINDS, Credentials, HeldCredential, IssueRequest
from portfolio_api.services.dates import refuse_future, server_today
from portfolio_api.services.idempotency import form_key

MAGIC = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


def sniff(data: bytes) -> str:
    """The MIME type of ``data`` by content; MalformedError if it is not a PDF, JPEG or PNG."""
    for magic, mime in MAGIC:
        if data.startswith(magic):
            return mime
    raise MalformedError("the file is not a PDF, JPEG or PNG (checked by its content, not its name)")


@dataclass(frozen=True)
class Upload:
    id: int
    owner_id: int
    kind: str
    title: str
    filename: str
    mime: str
    size: int
    sha256: str
    issuer_id: str | None
    issued_on: str
    public: bool
    created_at: int
    request_status: str | None  # None | pending | confirmed | rejected
    request_reason: str | None
    request_id: int | None
    credential_id: str | None


class Uploads:
    def __init__(self, ctx: Ctx, accounts: Accounts, credentials: Credentials) -> None:
        self.ctx, self.accounts, self.credentials = ctx, accounts, credentials

    def add(self, owner: User, *, data: bytes, filename: str, kind: str, title: str, issued_on: str, issuer_id: str | None, ask_confirmation: bool,
            idem_key: str | None = None) -> Upload:
        """Store an uploaded diploma (and its confirmation request). Idempotent per (owner, ``idem_key``):
        the upload form submitted twice returns the first upload; no second file, no second request.
        A date after the server's today is refused (``dates.FutureDate``)."""
        if not owner.is_holder:
            raise AuthorizationError("only students and teachers keep a portfolio")
        if not data:
            raise MalformedError("the file is empty")
        if len(data) > self.ctx.upload_max_bytes:
            raise MalformedError(f"the file is larger than {self.ctx.upload_max_bytes // (1024 * 1024)} MB")
        mime = sniff(data)
        if kind not in KINDS:
            raise MalformedError(f"kind must be one of {', '.join(KINDS)}")
        title = " ".join(title.split())
        if not 2 <= len(title) <= 300:
            raise MalformedError("title must be 2 to 300 characters")
        try:
            issued_day = date.fromisoformat(issued_on)
        except ValueError:
            raise MalformedError(f"date must be YYYY-MM-DD, got {issued_on!r}") from None
        refuse_future(issued_day, server_today(self.ctx.now()))  # FutureDate: a diploma is not issued after today
        issued = issued_day.isoformat()
        issuer_id = issuer_id or None
        if ask_confirmation and issuer_id not in self.credentials.institutions():
            raise MalformedError("choose the institution that issued the diploma to ask it for confirmation")
        idem_key = form_key(idem_key)
        now = self.ctx.now()
        try:
            uid = self._store(owner, data=data, filename=filename, kind=kind, title=title, mime=mime, issued=issued, issuer_id=issuer_id,
                              ask_confirmation=ask_confirmation, idem_key=idem_key, now=now)
        except sa.exc.IntegrityError:  # a concurrent duplicate won the unique index: answer with its row
            with self.ctx.engine.connect() as conn:
                uid = self._by_key(conn, owner.id, idem_key)
            if uid is None:
                raise
        return self.get(uid)

    def _by_key(self, conn: sa.Connection, owner_id: int, idem_key: str | None) -> int | None:
        if idem_key is None:
            return None
        return conn.execute(sa.select(t.uploads.c.id).where(t.uploads.c.owner_id == owner_id, t.uploads.c.idem_key == idem_key)).scalar()

    def _store(self, owner: User, *, data: bytes, filename: str, kind: str, title: str, mime: str, issued: str, issuer_id: str | None,
               ask_confirmation: bool, idem_key: str | None, now: int) -> int:
        with self.ctx.engine.begin() as conn:
            if (existing := self._by_key(conn, owner.id, idem_key)) is not None:
                return existing
            uid = conn.execute(
                t.uploads.insert().values(
                    owner_id=owner.id, kind=kind, mime=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                    issuer_id=issuer_id, issued_on=issued, public=True, created_at=now, idem_key=idem_key,
                )
            ).inserted_primary_key[0]
            enc = lambda purpose, b: self.accounts.encrypt_for(conn, owner.id, f"{purpose}/{uid}", b)  # noqa: E731
            conn.execute(
                t.uploads.update().where(t.uploads.c.id == uid).values(
                    content_enc=enc("upload", data), title_enc=enc("upload-title", title.encode()), filename_enc=enc("upload-name", filename[:200].encode())
                )
            )
            if ask_confirmation:
                conn.execute(t.requests.insert().values(upload_id=uid, owner_id=owner.id, institution_id=issuer_id, status="pending", created_at=now))
        return uid

    def _row(self, conn: sa.Connection, r: sa.Row) -> Upload:
        req = conn.execute(sa.select(t.requests).where(t.requests.c.upload_id == r.id)).first()
        try:
            title = self.accounts.decrypt_for(conn, r.owner_id, f"upload-title/{r.id}", r.title_enc).decode()
            filename = self.accounts.decrypt_for(conn, r.owner_id, f"upload-name/{r.id}", r.filename_enc).decode()
        except NotFoundError:
            title = filename = "—"
        return Upload(
            r.id, r.owner_id, r.kind, title, filename, r.mime, r.size, r.sha256, r.issuer_id, r.issued_on, bool(r.public), r.created_at,
            req.status if req else None, req.reason if req else None, req.id if req else None, req.credential_id if req else None,
        )

    def get(self, upload_id: int) -> Upload:
        with self.ctx.engine.begin() as conn:
            r = conn.execute(sa.select(t.uploads).where(t.uploads.c.id == upload_id)).first()
            if r is None:
                raise NotFoundError(f"no upload {upload_id}")
            return self._row(conn, r)

    def owned_by(self, owner_id: int) -> list[Upload]:
        with self.ctx.engine.begin() as conn:
            rows = conn.execute(sa.select(t.uploads).where(t.uploads.c.owner_id == owner_id).order_by(t.uploads.c.id)).all()
            return [self._row(conn, r) for r in rows]

    def content(self, viewer: User, upload_id: int) -> tuple[bytes, str, str]:
        """The decrypted file, for its owner or for staff of the institution asked to confirm it."""
        with self.ctx.engine.begin() as conn:
            r = conn.execute(sa.select(t.uploads).where(t.uploads.c.id == upload_id)).first()
            if r is None:
                raise NotFoundError(f"no upload {upload_id}")
            allowed = r.owner_id == viewer.id
            if not allowed and viewer.is_staff:
                req = conn.execute(sa.select(t.requests).where(t.requests.c.upload_id == upload_id)).first()
                allowed = req is not None and req.institution_id == viewer.institution_id
            if not allowed:
                raise NotFoundError(f"no upload {upload_id}")
            data = self.accounts.decrypt_for(conn, r.owner_id, f"upload/{r.id}", r.content_enc)
            name = self.accounts.decrypt_for(conn, r.owner_id, f"upload-name/{r.id}", r.filename_enc).decode()
            return data, r.mime, name

    def set_public(self, owner: User, upload_id: int, public: bool) -> None:
        with self.ctx.engine.begin() as conn:
            n = conn.execute(t.uploads.update().where(t.uploads.c.id == upload_id, t.uploads.c.owner_id == owner.id).values(public=public)).rowcount
        if n != 1:
            raise NotFoundError(f"no upload {upload_id} in your portfolio")

    def ask(self, owner: User, upload_id: int, institution_id: str) -> None:
        if institution_id not in self.credentials.institutions():
            raise MalformedError(f"unknown institution {institution_id!r}")
        with self.ctx.engine.begin() as conn:
            r = conn.execute(sa.select(t.uploads).where(t.uploads.c.id == upload_id, t.uploads.c.owner_id == owner.id)).first()
            if r is None:
                raise NotFoundError(f"no upload {upload_id} in your portfolio")
            req = conn.execute(sa.select(t.requests).where(t.requests.c.upload_id == upload_id)).first()
            if req is not None and req.status in ("pending", "confirmed"):
                raise ConflictError("this diploma already has a confirmation request")
            if req is not None:
                conn.execute(t.requests.delete().where(t.requests.c.id == req.id))
            conn.execute(t.uploads.update().where(t.uploads.c.id == upload_id).values(issuer_id=institution_id))
            conn.execute(t.requests.insert().values(upload_id=upload_id, owner_id=owner.id, institution_id=institution_id, status="pending", created_at=self.ctx.now()))

    # --- staff review ---

    def requests_for(self, staff: User, status: str | None = "pending") -> list[tuple[dict, Upload, str]]:
        if not staff.is_staff:
            raise AuthorizationError("only institution staff review requests")
        with self.ctx.engine.begin() as conn:
            q = sa.select(t.requests).where(t.requests.c.institution_id == staff.institution_id).order_by(t.requests.c.id)
            if status:
                q = q.where(t.requests.c.status == status)
            reqs = conn.execute(q).all()
            names = self.accounts.names(conn, {r.owner_id for r in reqs})
            out = []
            for req in reqs:
                up = conn.execute(sa.select(t.uploads).where(t.uploads.c.id == req.upload_id)).one()
                out.append((dict(req._mapping), self._row(conn, up), names[req.owner_id]))
            return out

    def _request(self, conn: sa.Connection, staff: User, request_id: int) -> sa.Row:
        req = conn.execute(sa.select(t.requests).where(t.requests.c.id == request_id)).first()
        if req is None or not staff.is_staff or req.institution_id != staff.institution_id:
            raise NotFoundError(f"no request {request_id} for your institution")
        return req

    def confirm(self, staff: User, request_id: int, *, title: str | None = None) -> HeldCredential:
        """Confirm: issue and anchor a credential for the upload (idempotent per request)."""
        with self.ctx.engine.begin() as conn:
            req = self._request(conn, staff, request_id)
            if req.status == "rejected":
                raise ConflictError("this request was rejected")
            owner = self.accounts._user(conn, conn.execute(sa.select(t.users).where(t.users.c.id == req.owner_id)).one())
        up = self.get(req.upload_id)
        cred = self.credentials.issue(
            staff, IssueRequest(owner.email, up.kind, title or up.title, up.issued_on, idem_key=f"request-{request_id}"),
            upload_id=up.id, evidence_sha256=up.sha256, action="confirm",
        )
        with self.ctx.engine.begin() as conn:
            conn.execute(
                t.requests.update().where(t.requests.c.id == request_id, t.requests.c.status == "pending").values(
                    status="confirmed", credential_id=cred.id, decided_at=self.ctx.now(), decided_by=staff.id
                )
            )
        return cred

    def reject(self, staff: User, request_id: int, reason: str) -> None:
        reason = " ".join(reason.split())
        if not 3 <= len(reason) <= 1000:
            raise MalformedError("give a reason for the rejection (3 to 1000 characters)")
        with self.ctx.engine.begin() as conn:
            req = self._request(conn, staff, request_id)
            if req.status == "confirmed":
                raise ConflictError("this request was already confirmed; revoke the credential instead")
            if req.status == "rejected":
                return  # a re-submitted form changes nothing
            now = self.ctx.now()
            conn.execute(t.requests.update().where(t.requests.c.id == request_id).values(status="rejected", reason=reason, decided_at=now, decided_by=staff.id))
            audit.record(conn, at=now, actor_id=staff.id, actor=f"{staff.role}#{staff.id}", institution_id=req.institution_id, action="reject",
                         target=f"request:{request_id}", detail=reason)
