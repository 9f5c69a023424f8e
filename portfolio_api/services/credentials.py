"""Credentials: issuing (one, from a template, or a batch), revoking, superseding, and reading them.

Write order of an issuance, and what a crash at each step leaves:

1. The credential (OB3 JSON, encrypted with the holder's data key) is stored
   with ``anchor_index`` NULL, unique per (institution, idempotency key): a
   form submitted twice finds the first row and issues nothing new.
2. The anchor statement (digest, type, issue time) is signed and sequenced;
   ``submit`` returns once the block is committed. A crash before the commit
   leaves a row with no anchor: ``anchor_pending`` re-submits the same
   statement, which the ledger accepts once (entries are unique by statement).
3. ``anchor_index`` is recorded. A crash between 2 and 3 is repaired the same
   way: the re-submission answers with the existing index (duplicate).

After a crash or a restore the e-portfolio follows the ledger (``reconcile``, run in the background at
start-up): rows left without an anchor are anchored; rows whose anchor the node's ledger no longer holds
(a sequencer restored from an older backup acknowledged them, then lost them before they became final)
are reset and anchored again — the statement is the same, so a re-mirrored original counts as a
duplicate — and rows whose anchor moved take the ledger's index. Until then they show as awaiting.
A row the ledger refuses at that point (say, the signing key was retired since) is not deleted as a
refusal during issuance is (the staff member sees that one): it keeps ``anchor_error``, shows as
failed with that reason to its holder, and is not re-submitted.

The ledger holds only the digest; names stay in this database, encrypted.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from ledger.errors import AuthorizationError, ConflictError, EduledgerError, MalformedError, NotFoundError
from ledger.model.entries import Statement
from ledger.model.issuance import anchor_statement, receipts, revoke_statement, supersede_statement
from ledger.model.receipts import Rejection
from ledger.tlog.canonical import canonical_digest
from ledger.tlog.timefmt import format_time
from portfolio_api.db import tables as t
from portfolio_api.services import audit
from portfolio_api.services.accounts import Accounts, User
from portfolio_api.services.context import Ctx
from verifier.credentials import build_credential as shared_build_credential
from verifier.credentials import prove
from verifier.statuslist import slot_numbers

log = logging.getLogger("eduledger.portfolio")

KINDS = ("olympiad", "contest", "conference", "school-certificate", "diploma", "professional-development")
_IDEM = re.compile(r"\A[A-Za-z0-9_-]{8,64}\Z")


@dataclass(frozen=True)
class IssueRequest:
    holder_email: str
    kind: str
    title: str
    achieved_on: str  # YYYY-MM-DD
    description: str = ""
    idem_key: str = ""

    def checked(self) -> "IssueRequest":
        if self.kind not in KINDS:
            raise MalformedError(f"kind must be one of {', '.join(KINDS)}")
        title = " ".join(self.title.split())
        if not 2 <= len(title) <= 300:
            raise MalformedError("title must be 2 to 300 characters")
        try:
            d = date.fromisoformat(self.achieved_on)
        except (TypeError, ValueError):
            raise MalformedError(f"date must be YYYY-MM-DD, got {self.achieved_on!r}") from None
        if len(self.description) > 2000:
            raise MalformedError("description must be at most 2000 characters")
        key = self.idem_key or uuid.uuid4().hex
        if not _IDEM.match(key):
            raise MalformedError("idempotency key must be 8 to 64 letters, digits, '-' or '_'")
        return IssueRequest(self.holder_email.strip(), self.kind, title, d.isoformat(), self.description.strip(), key)


@dataclass(frozen=True)
class HeldCredential:
    id: str
    institution_id: str
    institution_name: str
    holder_id: int
    kind: str
    title: str
    issued_at: int
    achieved_on: str
    digest: str
    anchor_index: int | None
    status: str  # verified | awaiting | failed (anchor_error) | revoked | superseded
    public: bool
    revocation_reason: str | None = None
    superseded_by: str | None = None
    anchor_error: str | None = None


#: The e-portfolio's kinds as Open Badges 3.0 achievement types (its credentials are of eduledger kind ``generic``).
ACHIEVEMENT_TYPES = {
    "olympiad": "Award",
    "contest": "Award",
    "conference": "ext:Participation",
    "school-certificate": "Certificate",
    "diploma": "Diploma",
    "professional-development": "CertificateOfCompletion",
}


def build_credential(*, institution_id: str, institution_name: str, holder_name: str, holder_email: str, kind: str, title: str,
                     description: str, achieved_on: str, issued_at: int, credential_id: str, network_url: str,
                     evidence_sha256: str | None = None) -> dict:
    """The e-portfolio's credential: the one builder every issuer uses (``verifier.credentials``), kind ``generic``
    with the OB 3.0 achievement type of the portfolio kind, the holder's e-mail as a salted hash, and the scanned
    document's SHA-256 as OB 3.0 ``evidence`` when there is one. The Data Integrity proof is added by the caller."""
    cred = shared_build_credential(
        kind="generic", issuer_id=institution_id, issuer_name=institution_name, holder_name=holder_name, holder_email=holder_email,
        title=title, description=description or title, achieved_on=achieved_on, issued_at=issued_at,
        fields={"achievementType": ACHIEVEMENT_TYPES[kind]}, credential_id=f"urn:uuid:{credential_id}", network_url=network_url,
    )
    if evidence_sha256:
        cred["evidence"] = [{"type": ["Evidence"], "name": "scanned document", "description": f"sha256:{evidence_sha256}"}]
    return cred


class Credentials:
    def __init__(self, ctx: Ctx, accounts: Accounts) -> None:
        self.ctx, self.accounts = ctx, accounts

    # --- institutions (names from the ledger registry, suspension from our table) ---

    def institution_name(self, institution_id: str) -> str:
        inst = self.ctx.node.log.registry.institutions.get(institution_id)
        return inst.name if inst else institution_id

    def institutions(self) -> dict[str, str]:
        return {i: inst.name for i, inst in sorted(self.ctx.node.log.registry.institutions.items())}

    def is_suspended(self, conn: sa.Connection, institution_id: str) -> bool:
        return conn.execute(
            sa.select(t.institutions.c.suspended_at).where(t.institutions.c.id == institution_id, t.institutions.c.suspended_at.is_not(None))
        ).first() is not None

    def _check_can_issue(self, conn: sa.Connection, institution_id: str) -> None:
        if institution_id not in self.ctx.node.log.registry.institutions:
            raise NotFoundError(f"institution {institution_id} is not registered on the ledger")
        if self.is_suspended(conn, institution_id):
            raise AuthorizationError(f"institution {institution_id} is suspended and may not issue")

    # --- templates ---

    def templates(self, institution_id: str) -> list[dict]:
        with self.ctx.engine.begin() as conn:
            rows = conn.execute(sa.select(t.templates).where(t.templates.c.institution_id == institution_id).order_by(t.templates.c.id)).all()
        return [dict(r._mapping) for r in rows]

    def template(self, institution_id: str, template_id: int) -> dict:
        with self.ctx.engine.begin() as conn:
            r = conn.execute(sa.select(t.templates).where(t.templates.c.id == template_id)).first()
        if r is None or r.institution_id != institution_id:
            raise NotFoundError(f"no template {template_id} in {institution_id}")
        return dict(r._mapping)

    def add_template(self, institution_id: str, kind: str, title: str, description: str = "") -> int:
        if kind not in KINDS or not title.strip():
            raise MalformedError("a template needs a known kind and a title")
        with self.ctx.engine.begin() as conn:
            return conn.execute(t.templates.insert().values(institution_id=institution_id, kind=kind, title=title.strip(), description=description)).inserted_primary_key[0]

    # --- issuing ---

    def issue(self, staff: User, req: IssueRequest, *, upload_id: int | None = None, evidence_sha256: str | None = None, action: str = "issue") -> HeldCredential:
        """Issue one credential (see the module docstring for the write order). Idempotent per ``req.idem_key``."""
        return self.issue_many(staff, [req], upload_id=upload_id, evidence_sha256=evidence_sha256, action=action)[0]

    def issue_many(self, staff: User, reqs: list[IssueRequest], *, upload_id: int | None = None, evidence_sha256: str | None = None,
                   action: str = "issue") -> list[HeldCredential]:
        """Issue many credentials with one ledger submission (one batch signature). All requests must be valid."""
        inst = self._staff_institution(staff)
        reqs = [r.checked() for r in reqs]
        now = self.ctx.now()
        inst_name = self.institution_name(inst)
        ids: list[str] = []
        with self.ctx.engine.begin() as conn:
            self._check_can_issue(conn, inst)
            for req in reqs:
                existing = conn.execute(
                    sa.select(t.credentials.c.id).where(t.credentials.c.institution_id == inst, t.credentials.c.idem_key == req.idem_key)
                ).scalar()
                if existing is not None:
                    ids.append(existing)
                    continue
                holder = conn.execute(
                    sa.select(t.users).where(t.users.c.email_index == self.ctx.vault.email_index(req.holder_email), t.users.c.deleted_at.is_(None))
                ).first()
                if holder is None or holder.role not in ("student", "teacher"):
                    raise NotFoundError(f"no student or teacher with e-mail {req.holder_email}")
                holder_name = self.accounts.decrypt_for(conn, holder.id, "name", holder.name_enc).decode()
                cid = str(uuid.uuid4())
                cred = build_credential(
                    institution_id=inst, institution_name=inst_name, holder_name=holder_name, holder_email=req.holder_email, kind=req.kind,
                    title=req.title, description=req.description, achieved_on=req.achieved_on, issued_at=now, credential_id=cid,
                    network_url=self.ctx.network_url, evidence_sha256=evidence_sha256,
                )
                # Its slot in the institution's status lists, then the institution's Data Integrity proof, before
                # the digest: the anchor covers both (verifier/statuslist.py, verifier/dataintegrity.py).
                (slot,), _ = self.ctx.node.status_slots.reserve(inst, 1)
                cred = prove(cred, self.ctx.signer(inst), network_url=self.ctx.network_url, created=now, status_slot=slot)
                conn.execute(
                    t.credentials.insert().values(
                        id=cid, institution_id=inst, holder_id=holder.id, kind=req.kind, title=req.title, issued_at=now,
                        digest=canonical_digest(cred).hex(),
                        credential_enc=self.accounts.encrypt_for(conn, holder.id, "credential", json.dumps(cred, ensure_ascii=False).encode()),
                        anchor_index=None, public=True, idem_key=req.idem_key, issued_by=staff.id, upload_id=upload_id,
                    )
                )
                audit.record(conn, at=now, actor_id=staff.id, actor=f"{staff.role}#{staff.id}", institution_id=inst, action=action,
                             target=f"credential:{cid}", detail=req.title)
                ids.append(cid)
        self.anchor_pending(inst, ids)
        return [self.get(cid) for cid in ids]

    def anchor_pending(self, institution_id: str, ids: list[str] | None = None, *, keep_refused: bool = False) -> int:
        """Anchor every stored credential of ``institution_id`` that has no anchor index yet (steps 2 and 3).

        A refused row is deleted and the refusal raised (the issuing staff member sees it), or, with
        ``keep_refused`` (start-up), kept with its ``anchor_error`` for the holder to see."""
        with self.ctx.engine.begin() as conn:
            q = sa.select(t.credentials.c.id, t.credentials.c.digest, t.credentials.c.kind, t.credentials.c.issued_at).where(
                t.credentials.c.institution_id == institution_id, t.credentials.c.anchor_index.is_(None), t.credentials.c.anchor_error.is_(None)
            )
            if ids is not None:
                q = q.where(t.credentials.c.id.in_(ids))
            rows = conn.execute(q).all()
        if not rows:
            return 0
        slots = self._slots(rows)
        statements = [
            anchor_statement(self.ctx.network, institution_id, digest=r.digest, kind=r.kind, issued_at=r.issued_at, slot=slots.get(r.id)) for r in rows
        ]
        # A status list none of whose credentials was anchored before is published (empty) first, so that outside
        # verifiers find it: it is signed in the same batch as the anchors.
        published = self.ctx.node.log.registry.status_published
        new_lists = {n for n, _ in slots.values() if (institution_id, n) not in published}
        publications = self.ctx.status_publications(institution_id, new_lists) if new_lists else []
        results = self.ctx.submit(institution_id, publications + statements)
        for res in results[: len(publications)]:
            if isinstance(res, Rejection):
                log.warning("the ledger refused a status list of %s: %s", institution_id, res.error)
        results = results[len(publications) :]
        failed: list[tuple[str, EduledgerError]] = []
        with self.ctx.engine.begin() as conn:
            for r, res in zip(rows, results):
                if isinstance(res, Rejection):
                    failed.append((r.id, res.error))
                    continue
                conn.execute(t.credentials.update().where(t.credentials.c.id == r.id).values(anchor_index=res.index))
            for cid, error in failed:
                if keep_refused:
                    conn.execute(t.credentials.update().where(t.credentials.c.id == cid, t.credentials.c.anchor_index.is_(None))
                                 .values(anchor_error=str(error)[:300] or "refused"))
                else:
                    conn.execute(t.credentials.delete().where(t.credentials.c.id == cid, t.credentials.c.anchor_index.is_(None)))
        if failed and keep_refused:
            log.warning("the ledger refused %d credentials of %s left unanchored: %s", len(failed), institution_id, failed[0][1])
            return len(rows) - len(failed)
        if failed:
            err = failed[0][1]
            raise type(err)(f"the ledger refused the credential: {err}") if isinstance(err, EduledgerError) else err
        return len(rows)

    def reconcile(self) -> dict[str, int]:
        """Make this database agree with the node's ledger; counts of ``moved``, ``lost``, ``anchored`` and ``refused`` rows.

        Only institutions whose signing key this node holds are (re-)anchored; the others' rows stay
        awaiting until their own node reconciles. A refusal or an unreachable sequencer is logged and
        left for the next start: nothing here may keep the node from serving."""
        reg = self.ctx.node.log.registry
        c = t.credentials.c
        moved = lost = anchored = refused = 0
        with self.ctx.engine.begin() as conn:
            for r in conn.execute(sa.select(c.id, c.digest, c.anchor_index).where(c.anchor_index.is_not(None))).all():
                a = reg.anchors.get(r.digest)
                if a is None:
                    conn.execute(t.credentials.update().where(c.id == r.id).values(anchor_index=None))
                    lost += 1
                elif a.index != r.anchor_index:
                    conn.execute(t.credentials.update().where(c.id == r.id).values(anchor_index=a.index))
                    moved += 1
            pending = sorted({row.institution_id for row in conn.execute(
                sa.select(c.institution_id).where(c.anchor_index.is_(None), c.anchor_error.is_(None))).all()})
        for institution in pending:
            if institution not in self.ctx.node.keys.signing:
                continue
            try:
                with self.ctx.engine.connect() as conn:
                    waiting = conn.execute(sa.select(sa.func.count()).where(
                        c.institution_id == institution, c.anchor_index.is_(None), c.anchor_error.is_(None))).scalar_one()
                done = self.anchor_pending(institution, keep_refused=True)
                anchored, refused = anchored + done, refused + waiting - done
            except EduledgerError as e:
                log.warning("credentials of %s still await their ledger anchor: %s", institution, e)
        if moved or lost or anchored or refused:
            log.warning("reconciled the e-portfolio with the ledger: %d anchors moved, %d lost, %d anchored, %d refused", moved, lost, anchored, refused)
        return {"moved": moved, "lost": lost, "anchored": anchored, "refused": refused}

    def _staff_institution(self, staff: User) -> str:
        if not staff.is_staff or staff.institution_id is None:
            raise AuthorizationError("only institution staff may do this")
        return staff.institution_id

    def _slots(self, rows: list[sa.Row]) -> dict[str, tuple[int, int]]:
        """Credential id -> its status list slot, read from the stored credentials (those issued with one)."""
        out: dict[str, tuple[int, int]] = {}
        with self.ctx.engine.begin() as conn:
            stored = conn.execute(
                sa.select(t.credentials.c.id, t.credentials.c.holder_id, t.credentials.c.credential_enc).where(t.credentials.c.id.in_([r.id for r in rows]))
            ).all()
            for r in stored:
                if r.credential_enc is None:
                    continue
                slot = slot_numbers(json.loads(self.accounts.decrypt_for(conn, r.holder_id, "credential", r.credential_enc)))
                if slot is not None:
                    out[r.id] = slot
        return out

    def _submit_status_change(self, institution_id: str, digest: str, statement: Statement) -> None:
        """Submit ``statement`` (a revocation or supersession of ``digest``) and, when the credential has a status
        list slot, the list as it stands after it, in the same batch: outside verifiers see the change at once.
        A refused list (another change of the same list got in first) is published again from the ledger."""
        slot = self.ctx.node.log.registry.status_slots.get(digest)
        if slot is None:
            receipts(self.ctx.submit(institution_id, [statement]))
            return
        first, *published = self.ctx.submit(institution_id, [statement, *self.ctx.status_publications(institution_id, [slot[0]], also={slot[0]: [slot[1]]})])
        receipts([first])
        if any(isinstance(r, Rejection) for r in published):
            retried = self.ctx.submit(institution_id, self.ctx.status_publications(institution_id, [slot[0]]))
            if isinstance(retried[0], Rejection):
                log.warning("status list %s/%d is behind the ledger: %s", institution_id, slot[0], retried[0].error)

    def _own(self, conn: sa.Connection, staff: User, credential_id: str) -> sa.Row:
        inst = self._staff_institution(staff)
        row = conn.execute(sa.select(t.credentials).where(t.credentials.c.id == credential_id)).first()
        if row is None or row.institution_id != inst:
            raise NotFoundError(f"no credential {credential_id} issued by {inst}")
        return row

    def revoke(self, staff: User, credential_id: str, reason: str) -> HeldCredential:
        with self.ctx.engine.begin() as conn:
            row = self._own(conn, staff, credential_id)
        statement = revoke_statement(self.ctx.network, row.institution_id, row.digest, reason)  # refuses an unknown reason
        if self.ctx.node.log.registry.status(row.digest) == "revoked":
            return self.get(credential_id)  # already done: a re-submitted form changes nothing
        self._submit_status_change(row.institution_id, row.digest, statement)
        with self.ctx.engine.begin() as conn:
            audit.record(conn, at=self.ctx.now(), actor_id=staff.id, actor=f"{staff.role}#{staff.id}", institution_id=row.institution_id,
                         action="revoke", target=f"credential:{credential_id}", detail=reason)
        return self.get(credential_id)

    def supersede(self, staff: User, credential_id: str, *, title: str, achieved_on: str, idem_key: str = "") -> HeldCredential:
        """Issue a corrected credential to the same holder, then mark the old one superseded by it."""
        with self.ctx.engine.begin() as conn:
            row = self._own(conn, staff, credential_id)
            holder = self.accounts._user(conn, conn.execute(sa.select(t.users).where(t.users.c.id == row.holder_id)).one())
        if self.ctx.node.log.registry.status(row.digest) != "valid":
            raise ConflictError("only a valid credential can be superseded")
        new = self.issue(staff, IssueRequest(holder.email, row.kind, title, achieved_on, idem_key=idem_key or f"sup-{credential_id}"), action="supersede")
        statement = supersede_statement(self.ctx.network, row.institution_id, row.digest, new.digest)
        self._submit_status_change(row.institution_id, row.digest, statement)
        return new

    # --- reading ---

    def _held(self, conn: sa.Connection, row: sa.Row) -> HeldCredential:
        reg = self.ctx.node.log.registry
        status = {"valid": "verified", "revoked": "revoked", "superseded": "superseded", "unknown": "awaiting"}[reg.status(row.digest)]
        if status == "awaiting" and row.anchor_error is not None:
            status = "failed"
        rev = reg.revocations.get(row.digest)
        sup = reg.supersessions.get(row.digest)
        achieved = ""
        if row.credential_enc is not None:
            try:
                cred = json.loads(self.accounts.decrypt_for(conn, row.holder_id, "credential", row.credential_enc))
                achieved = cred["credentialSubject"].get("activityEndDate", "")[:10]
            except (NotFoundError, EduledgerError):
                pass
        return HeldCredential(
            row.id, row.institution_id, self.institution_name(row.institution_id), row.holder_id, row.kind, row.title, row.issued_at,
            achieved or format_time(row.issued_at)[:10], row.digest, row.anchor_index, status, bool(row.public),
            rev.reason if rev else None, sup.by if sup else None, row.anchor_error,
        )

    def get(self, credential_id: str) -> HeldCredential:
        with self.ctx.engine.begin() as conn:
            row = conn.execute(sa.select(t.credentials).where(t.credentials.c.id == credential_id)).first()
            if row is None:
                raise NotFoundError(f"no credential {credential_id}")
            return self._held(conn, row)

    def credential_json(self, credential_id: str) -> dict:
        with self.ctx.engine.begin() as conn:
            row = conn.execute(sa.select(t.credentials).where(t.credentials.c.id == credential_id)).first()
            if row is None:
                raise NotFoundError(f"no credential {credential_id}")
            return json.loads(self.accounts.decrypt_for(conn, row.holder_id, "credential", row.credential_enc))

    def held_by(self, holder_id: int) -> list[HeldCredential]:
        with self.ctx.engine.begin() as conn:
            rows = conn.execute(sa.select(t.credentials).where(t.credentials.c.holder_id == holder_id).order_by(t.credentials.c.issued_at)).all()
            return [self._held(conn, r) for r in rows]

    def issued_by(self, institution_id: str) -> list[tuple[HeldCredential, str]]:
        with self.ctx.engine.begin() as conn:
            rows = conn.execute(
                sa.select(t.credentials).where(t.credentials.c.institution_id == institution_id).order_by(t.credentials.c.issued_at.desc(), t.credentials.c.id)
            ).all()
            names = self.accounts.names(conn, {r.holder_id for r in rows})
            return [(self._held(conn, r), names[r.holder_id]) for r in rows]

    def set_public(self, holder: User, credential_id: str, public: bool) -> None:
        with self.ctx.engine.begin() as conn:
            n = conn.execute(
                t.credentials.update().where(t.credentials.c.id == credential_id, t.credentials.c.holder_id == holder.id).values(public=public)
            ).rowcount
        if n != 1:
            raise NotFoundError(f"no credential {credential_id} in your portfolio")
