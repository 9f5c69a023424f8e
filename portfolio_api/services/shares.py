"""The portfolio timeline, share links, and what a person opening a share link sees.

A share link's token is 256 random bits; the database keeps its SHA-256 (for
lookup) and a copy encrypted with the owner's data key (so the owner can show
the link and its QR code again). The hash found by lookup is compared again in
constant time.

Each opening is logged for the link's owner: when, with which browser (user agent), and by whom
as an opaque id (``erasure.viewer_ref``: ``u:<user id>`` when signed in, "" when not), never a name
and never an IP address. The owner sees a signed-in viewer as "a signed-in user" (staff: their
institution), and by name only while that viewer consents for that link (``pf_share_consents``,
the button on the shared page; withdrawn the same way). Issue 16: a pupil opening a classmate's link
is not identified to that classmate without her consent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa

from ledger.errors import AuthorizationError, MalformedError, NotFoundError
from ledger.tlog.canonical import canonical_digest
from portfolio_api.db import tables as t
from portfolio_api.services.accounts import Accounts, User
from portfolio_api.services.context import Ctx
from portfolio_api.services.credentials import Credentials, HeldCredential
from portfolio_api.services.erasure import viewer_ref
from portfolio_api.services.uploads import Upload, Uploads

MAX_SHARE_DAYS = 366
BULK_VIEWER = "bulk verification"  # pf_share_access.viewer of an anonymous bulk verification (routers/web_verify.py)


def share_viewer(user: User | None) -> str:
    """What the access log keeps of a viewer: an opaque id when signed in, "" when not."""
    return viewer_ref(user.id) if user is not None else ""


class ShareGone(NotFoundError):
    """The link exists but has expired or was revoked (shown as such, not as 'not found')."""


class NothingChosen(MalformedError):
    """A link limited to chosen items, with none chosen (issue 18: never widened to the whole portfolio)."""

    message_key = "err.share_nothing_ticked"


@dataclass(frozen=True)
class EventLink:
    """The announcement a credential is the result of (issue 7: the path from announcement to result).
    Linked by the issuing institution to one of its own announcements."""

    id: int
    title: str
    kind: str
    starts_on: str
    ends_on: str


@dataclass(frozen=True)
class Item:
    ref: str  # c:<credential id> | u:<upload id>
    date: str
    title: str
    kind: str
    issuer: str
    status: str  # verified | awaiting | self_reported | rejected | revoked | superseded
    public: bool
    reasons: tuple[str, ...] = ()
    credential: HeldCredential | None = None
    upload: Upload | None = None
    announcement: EventLink | None = None


@dataclass(frozen=True)
class Access:
    """One opening of a share link, as its owner sees it."""

    at: int
    kind: str  # anonymous | signed_in | named | institution | bulk
    who: str  # the consenting viewer's name (named) or the viewer's institution (institution); else ""
    user_agent: str


@dataclass(frozen=True)
class SharePreview:
    """What a link about to be created will show, for the page that asks its owner to confirm it.

    ``items`` None is the whole public portfolio as it is whenever the link is opened (items added or
    made public later included, items hidden later gone); ``shown`` is what that is now. Chosen items
    are shown whether or not they are public."""

    label: str
    items: tuple[str, ...] | None
    days: int
    expires_at: int
    shown: list[Item]


@dataclass(frozen=True)
class Share:
    id: int
    label: str
    token: str | None
    items: tuple[str, ...] | None
    created_at: int
    expires_at: int
    revoked_at: int | None
    accesses: list[Access] = field(default_factory=list)

    def state(self, now: int) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Portfolio:
    def __init__(self, ctx: Ctx, accounts: Accounts, credentials: Credentials, uploads: Uploads) -> None:
        self.ctx, self.accounts, self.credentials, self.uploads = ctx, accounts, credentials, uploads

    # --- timeline ---

    def check_credential(self, c: HeldCredential) -> tuple[str, ...]:
        """Reasons for the verification result of a held credential, checked against the ledger now."""
        reg = self.ctx.node.log.registry
        reasons = []
        try:
            digest = canonical_digest(self.credentials.credential_json(c.id)).hex()
        except NotFoundError:
            return ("the credential's data was erased",)
        reasons.append("credential data matches the digest anchored on the ledger" if digest == c.digest else "credential data does NOT match its digest")
        anchor = reg.anchors.get(c.digest)
        if anchor is None:
            reasons.append(f"the ledger refused to anchor it: {c.anchor_error}" if c.anchor_error else "not yet anchored on the ledger")
        else:
            reasons.append(f"anchored at ledger index {anchor.index} by {c.institution_name}" if anchor.institution == c.institution_id
                           else f"anchored by {anchor.institution}, not the stated issuer")
        if c.status == "revoked":
            reasons.append(f"revoked by the issuer (reason: {c.revocation_reason})")
        if c.status == "superseded":  # name the replacement: a link to the old item alone would not show it
            sup = reg.supersessions.get(c.digest)
            reasons.append(f"superseded by {sup.by} at ledger index {sup.index}" if sup else "superseded by a corrected credential")
        with self.ctx.engine.begin() as conn:
            if self.credentials.is_suspended(conn, c.institution_id):
                reasons.append("the issuing institution is currently suspended (credentials issued before remain anchored)")
        return tuple(reasons)

    def timeline(self, holder_id: int, *, only: set[str] | None = None, public_only: bool = False, with_reasons: bool = False) -> list[Item]:
        items: list[Item] = []
        confirmed_uploads = set()
        events = self.events_of(holder_id)
        for c in self.credentials.held_by(holder_id):
            ref = f"c:{c.id}"
            if (only is not None and ref not in only) or (public_only and not c.public):
                continue
            reasons = self.check_credential(c) if with_reasons else ()
            status = c.status
            if with_reasons and reasons and "does NOT match" in " ".join(reasons):
                status = "failed"
            items.append(Item(ref, c.achieved_on, c.title, c.kind, c.institution_name, status, c.public, reasons, credential=c,
                              announcement=events.get(c.id)))
        for c_up in self.uploads.owned_by(holder_id):
            if c_up.request_status == "confirmed":
                confirmed_uploads.add(c_up.id)
                continue
            ref = f"u:{c_up.id}"
            if (only is not None and ref not in only) or (public_only and not c_up.public):
                continue
            status = {"pending": "awaiting", "rejected": "rejected"}.get(c_up.request_status or "", "self_reported")
            issuer = self.credentials.institution_name(c_up.issuer_id) if c_up.issuer_id else ""
            reasons: tuple[str, ...] = ("uploaded by the holder; not confirmed by the issuer",)
            if c_up.request_status == "pending":
                reasons += ("the issuer has been asked to confirm it",)
            if c_up.request_status == "rejected":
                reasons += (f"the issuer rejected it: {c_up.request_reason}",)
            items.append(Item(ref, c_up.issued_on, c_up.title, c_up.kind, issuer, status, c_up.public, reasons if with_reasons else (), upload=c_up))
        items.sort(key=lambda i: (i.date, i.ref))
        return items

    def events_of(self, holder_id: int) -> dict[str, EventLink]:
        """Credential id -> the announcement it was linked to, for one holder's credentials."""
        r, c, a = t.announcement_results.c, t.credentials.c, t.announcements.c
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.credential_id, a.id, a.title, a.kind, a.starts_on, a.ends_on)
                .select_from(t.announcement_results.join(t.credentials, c.id == r.credential_id).join(t.announcements, a.id == r.announcement_id))
                .where(c.holder_id == holder_id)
            )
            return {row.credential_id: EventLink(row.id, row.title, row.kind, row.starts_on, row.ends_on) for row in rows}

    # --- share links ---

    def _checked_share(self, owner: User, *, label: str, items: list[str] | None, days: int) -> tuple[str, list[str] | None]:
        """The label and items a link is created with, or the reason it cannot be (NothingChosen for no item)."""
        if not owner.is_holder:
            raise AuthorizationError("only students and teachers share a portfolio")
        if not 1 <= days <= MAX_SHARE_DAYS:
            raise MalformedError(f"a link is valid for 1 to {MAX_SHARE_DAYS} days")
        if items is not None:
            if not items:
                raise NothingChosen("choose at least one item to share")
            items = list(dict.fromkeys(items))
            mine = {i.ref for i in self.timeline(owner.id)}
            unknown = [i for i in items if i not in mine]
            if unknown:
                raise NotFoundError(f"not in your portfolio: {', '.join(unknown)}")
        return label.strip()[:200], items

    def preview_share(self, owner: User, *, label: str, items: list[str] | None, days: int) -> SharePreview:
        """What ``create_share`` with the same arguments would make, checked the same way; nothing is stored."""
        label, items = self._checked_share(owner, label=label, items=items, days=days)
        shown = self.timeline(owner.id, only=set(items)) if items is not None else self.timeline(owner.id, public_only=True)
        return SharePreview(label, tuple(items) if items is not None else None, days, self.ctx.now() + days * 86400, shown)

    def create_share(self, owner: User, *, label: str, items: list[str] | None, days: int) -> Share:
        """A new link: ``items`` None shows the whole public portfolio (as it is when opened), a list only those items."""
        label, items = self._checked_share(owner, label=label, items=items, days=days)
        token = secrets.token_urlsafe(32)
        now = self.ctx.now()
        with self.ctx.engine.begin() as conn:
            sid = conn.execute(
                t.shares.insert().values(
                    owner_id=owner.id, token_hash=_hash(token), label=label, items=json.dumps(items) if items is not None else None,
                    created_at=now, expires_at=now + days * 86400,
                )
            ).inserted_primary_key[0]
            conn.execute(t.shares.update().where(t.shares.c.id == sid).values(token_enc=self.accounts.encrypt_for(conn, owner.id, f"share/{sid}", token.encode())))
        return self.shares_of(owner, share_id=sid)[0]

    def shares_of(self, owner: User, share_id: int | None = None) -> list[Share]:
        with self.ctx.engine.begin() as conn:
            q = sa.select(t.shares).where(t.shares.c.owner_id == owner.id).order_by(t.shares.c.id.desc())
            if share_id is not None:
                q = q.where(t.shares.c.id == share_id)
            out = []
            for r in conn.execute(q).all():
                token = None
                if r.token_enc is not None:
                    token = self.accounts.decrypt_for(conn, owner.id, f"share/{r.id}", r.token_enc).decode()
                acc = self._accesses(conn, r.id)
                out.append(Share(r.id, r.label, token, tuple(json.loads(r.items)) if r.items else None, r.created_at, r.expires_at, r.revoked_at, acc))
        if share_id is not None and not out:
            raise NotFoundError(f"no share link {share_id} of yours")
        return out

    def _accesses(self, conn: sa.Connection, share_id: int) -> list[Access]:
        a = t.share_access.c
        rows = conn.execute(sa.select(a.at, a.viewer, a.user_agent).where(a.share_id == share_id).order_by(a.id.desc())).all()
        viewer_ids = {int(r.viewer[2:]) for r in rows if r.viewer.startswith("u:") and r.viewer[2:].isdigit()}
        consenting = set(conn.execute(sa.select(t.share_consents.c.viewer_id).where(
            t.share_consents.c.share_id == share_id, t.share_consents.c.viewer_id.in_(viewer_ids))).scalars())
        names = self.accounts.names(conn, consenting)
        staff = dict(conn.execute(sa.select(t.users.c.id, t.users.c.institution_id).where(
            t.users.c.id.in_(viewer_ids - consenting), t.users.c.institution_id.is_not(None), t.users.c.deleted_at.is_(None))).all())
        out = []
        for r in rows:
            vid = int(r.viewer[2:]) if r.viewer.startswith("u:") and r.viewer[2:].isdigit() else None
            if r.viewer == "":
                kind, who = "anonymous", ""
            elif vid in consenting and names.get(vid, "—") != "—":
                kind, who = "named", names[vid]
            elif vid in staff:
                kind, who = "institution", self.credentials.institution_name(staff[vid])
            elif r.viewer == BULK_VIEWER:
                kind, who = "bulk", ""
            else:  # a signed-in person who did not consent, or a name stored before migration 0005 (now "u:")
                kind, who = "signed_in", ""
            out.append(Access(r.at, kind, who, r.user_agent))
        return out

    def viewer_named(self, token: str, viewer: User) -> bool:
        """Whether ``viewer`` lets the owner of the link ``token`` see her name (False for an unknown link)."""
        if not token or len(token) > 100:
            return False
        with self.ctx.engine.connect() as conn:
            sid = conn.execute(sa.select(t.shares.c.id).where(t.shares.c.token_hash == _hash(token))).scalar()
            return sid is not None and conn.execute(sa.select(t.share_consents.c.share_id).where(
                t.share_consents.c.share_id == sid, t.share_consents.c.viewer_id == viewer.id)).first() is not None

    def set_viewer_named(self, token: str, viewer: User, named: bool) -> None:
        """Consent (or withdraw consent) to be named to the owner of the active link ``token``."""
        if not token or len(token) > 100:
            raise NotFoundError("no such share link")
        with self.ctx.engine.begin() as conn:
            r = conn.execute(sa.select(t.shares).where(t.shares.c.token_hash == _hash(token))).first()
            if r is None or not hmac.compare_digest(r.token_hash, _hash(token)):
                raise NotFoundError("no such share link")
            if r.revoked_at is not None or r.expires_at <= self.ctx.now():
                raise ShareGone("this share link is no longer active")
            c = t.share_consents.c
            conn.execute(t.share_consents.delete().where(c.share_id == r.id, c.viewer_id == viewer.id))
            if named and r.owner_id != viewer.id:
                conn.execute(t.share_consents.insert().values(share_id=r.id, viewer_id=viewer.id, created_at=self.ctx.now()))

    def revoke_share(self, owner: User, share_id: int) -> None:
        with self.ctx.engine.begin() as conn:
            r = conn.execute(sa.select(t.shares).where(t.shares.c.id == share_id, t.shares.c.owner_id == owner.id)).first()
            if r is None:
                raise NotFoundError(f"no share link {share_id} of yours")
            if r.revoked_at is None:
                conn.execute(t.shares.update().where(t.shares.c.id == share_id).values(revoked_at=self.ctx.now()))

    def open_share(self, token: str, *, viewer: str, user_agent: str, ip: str | None = None) -> tuple[Share, User, list[Item]]:
        """Resolve a share token and log the opening. NotFoundError / ShareGone for bad links.

        ``viewer`` is ``viewer_ref(user.id)``, "" (not signed in) or a fixed label (``BULK_VIEWER``),
        never a name. ``ip`` is accepted from callers written before issue 16 and not stored."""
        if not token or len(token) > 100:
            raise NotFoundError("no such share link")
        h = _hash(token)
        with self.ctx.engine.begin() as conn:
            r = conn.execute(sa.select(t.shares).where(t.shares.c.token_hash == h)).first()
            if r is None or not hmac.compare_digest(r.token_hash, h):
                raise NotFoundError("no such share link")
            now = self.ctx.now()
            if r.revoked_at is not None:
                raise ShareGone("this share link was revoked by its owner")
            if r.expires_at <= now:
                raise ShareGone("this share link has expired")
            conn.execute(t.share_access.insert().values(share_id=r.id, at=now, viewer=viewer[:200], user_agent=user_agent[:300]))
        owner = self.accounts.get(r.owner_id)
        share = Share(r.id, r.label, None, tuple(json.loads(r.items)) if r.items else None, r.created_at, r.expires_at, r.revoked_at)
        only = set(share.items) if share.items is not None else None
        items = self.timeline(owner.id, only=only, public_only=only is None, with_reasons=True)
        return share, owner, items
