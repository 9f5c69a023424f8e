"""Opportunities: announcements by institutions, subscriptions, the fan-out into the outbox,
in-app notices, unsubscribe tokens, and announcement -> result links.

Write order of publishing (one transaction): the announcement row, then one
``INSERT ... SELECT`` that records a notice per matching person in
``pf_outbox`` (unique per announcement and person, so a repeated fan-out adds
nothing). The e-mail is sent later by ``services.notify.Mailer``; a crash after
commit leaves the notices queued, a crash before leaves nothing at all.

Unsubscribe tokens are HMACs under the node's index key over the subscription id
and a random per-subscription salt: unguessable, never stored, compared in
constant time.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from ledger.errors import AuthorizationError, MalformedError, NotFoundError
from portfolio_api.db import tables as t
from portfolio_api.services.accounts import User
from portfolio_api.services.context import Ctx
from portfolio_api.services.idempotency import form_key
from portfolio_api.services.limits import RateLimit

ANNOUNCEMENT_KINDS = ("olympiad", "contest", "conference", "open-day", "professional-development")
AUDIENCES = ("pupils", "teachers")
LEVELS = ("school", "municipal", "regional", "national", "international", "university", "professional")
TITLE_MAX, BODY_MAX, URL_MAX = 200, 5000, 500
MAX_SUBSCRIPTIONS = 50

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain_text(text: str) -> str:
    """Announcement text exactly as typed, only tidied: control characters dropped, spaces within a line collapsed.

    Nothing is parsed, stripped or decoded: ``&lt;script&gt;`` stays exactly that and ``<b>``
    stays ``<b>``, so the JSON API and the plain-text e-mails carry what the organiser wrote. Decoding
    entities here once turned typed ``&lt;script&gt;`` into a raw ``<script>`` for every consumer that
    does not escape. HTML pages escape the text on output (Jinja autoescape), so nothing becomes markup."""
    text = _CONTROL.sub("", text)
    lines = [" ".join(line.split()) for line in text.replace("\r", "").split("\n")]
    return "\n".join(line for line in lines).strip()


def _one_line(text: str, what: str, lo: int, hi: int) -> str:
    value = " ".join(plain_text(text).split())
    if not lo <= len(value) <= hi:
        raise MalformedError(f"{what} must be {lo} to {hi} characters")
    return value


def _facet(value: str, what: str, hi: int) -> str:
    """A matching facet (subject, region): lower-case, single-spaced; '' means any."""
    v = " ".join(plain_text(value).lower().split())
    if len(v) > hi:
        raise MalformedError(f"{what} must be at most {hi} characters")
    return v


@dataclass(frozen=True)
class AnnouncementDraft:
    kind: str
    title: str
    body: str
    subject: str
    level: str
    region: str
    audience: str
    starts_on: str
    ends_on: str
    registration_url: str
    grade_min: int | None = None
    grade_max: int | None = None

    def checked(self, today: date) -> "AnnouncementDraft":
        """Refuse what cannot be right; return the sanitised draft."""
        if self.kind not in ANNOUNCEMENT_KINDS:
            raise MalformedError(f"kind must be one of {', '.join(ANNOUNCEMENT_KINDS)}")
        if self.audience not in AUDIENCES:
            raise MalformedError(f"audience must be one of {', '.join(AUDIENCES)}")
        if self.level not in LEVELS:
            raise MalformedError(f"level must be one of {', '.join(LEVELS)}")
        if len(self.body) > 4 * BODY_MAX:
            raise MalformedError(f"the text must be at most {BODY_MAX} characters")
        title = _one_line(self.title, "title", 3, TITLE_MAX)
        body = plain_text(self.body)
        if len(body) > BODY_MAX:
            raise MalformedError(f"the text must be at most {BODY_MAX} characters")
        subject = _facet(self.subject, "subject", 60)
        region = _facet(self.region, "region", 80)
        if not subject or not region:
            raise MalformedError("subject and region are required")
        try:
            starts, ends = date.fromisoformat(self.starts_on), date.fromisoformat(self.ends_on)
        except (TypeError, ValueError):
            raise MalformedError("dates must be YYYY-MM-DD") from None
        if ends < starts:
            raise MalformedError("the event cannot end before it starts")
        if ends < today:
            raise MalformedError("the event is already over")
        if (ends - starts).days > 366 or starts.year > today.year + 3:
            raise MalformedError("an event lasts at most a year and starts within three years")
        for g in (self.grade_min, self.grade_max):
            if g is not None and not 1 <= g <= 11:
                raise MalformedError("grades are 1 to 11")
        if self.grade_min is not None and self.grade_max is not None and self.grade_min > self.grade_max:
            raise MalformedError("the lowest grade is above the highest")
        url = self.registration_url.strip()
        parts = urlsplit(url)
        if len(url) > URL_MAX or parts.scheme not in ("https", "http") or not parts.netloc or any(c.isspace() for c in url):
            raise MalformedError("the registration link must be an http(s) address")
        return AnnouncementDraft(self.kind, title, body, subject, self.level, region, self.audience, starts.isoformat(), ends.isoformat(),
                                 url, self.grade_min, self.grade_max)


@dataclass(frozen=True)
class Subscription:
    id: int
    subject: str
    level: str
    region: str
    audience: str
    email: bool


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    return (pg_dialect.insert if conn.dialect.name == "postgresql" else sqlite_dialect.insert)(table)


class Opportunities:
    def __init__(self, ctx: Ctx, accounts: Any, credentials: Any) -> None:
        self.ctx, self.accounts, self.credentials = ctx, accounts, credentials
        self.subscribe_limit = RateLimit(ctx, limit=30, window=3600, what="subscription changes")
        self.on_queued: Any = None  # set by the mailer: wakes the sender after a fan-out

    # --- announcements ---

    def publish(self, staff: User, draft: AnnouncementDraft, *, idem_key: str | None = None) -> tuple[int, int]:
        """Store an announcement and record a notice for every matching subscriber. Returns (id, notices).

        Idempotent per (institution, ``idem_key``): the publishing form submitted twice finds the first
        announcement and returns it; nothing is stored or fanned out again. Concurrent duplicates are settled
        by the unique index (the loser's transaction rolls back and it returns the winner's row)."""
        if not staff.is_staff or not staff.institution_id:
            raise AuthorizationError("only institution staff publish announcements")
        idem_key = form_key(idem_key)
        d = draft.checked(date.fromtimestamp(self.ctx.now()))
        now = self.ctx.now()
        try:
            with self.ctx.engine.begin() as conn:
                if (existing := self._by_key(conn, staff.institution_id, idem_key)) is not None:
                    return existing
                aid = conn.execute(
                    t.announcements.insert().values(
                        institution_id=staff.institution_id, created_by=staff.id, created_at=now, kind=d.kind, title=d.title, body=d.body,
                        subject=d.subject, level=d.level, region=d.region, audience=d.audience, grade_min=d.grade_min, grade_max=d.grade_max,
                        starts_on=d.starts_on, ends_on=d.ends_on, registration_url=d.registration_url, idem_key=idem_key,
                    )
                ).inserted_primary_key[0]
                n = self.fan_out(conn, aid, now)
        except sa.exc.IntegrityError:
            with self.ctx.engine.connect() as conn:
                existing = self._by_key(conn, staff.institution_id, idem_key)
            if existing is None:
                raise
            return existing
        if self.on_queued is not None:
            self.on_queued()
        return aid, n

    def _by_key(self, conn: sa.Connection, institution_id: str, idem_key: str | None) -> tuple[int, int] | None:
        if idem_key is None:
            return None
        a = t.announcements.c
        row = conn.execute(sa.select(a.id, a.notified).where(a.institution_id == institution_id, a.idem_key == idem_key)).first()
        return (row.id, row.notified or 0) if row is not None else None

    def fan_out(self, conn: sa.Connection, announcement_id: int, now: int) -> int:
        """One INSERT ... SELECT: a notice per person with a matching live subscription (idempotent)."""
        a = conn.execute(sa.select(t.announcements).where(t.announcements.c.id == announcement_id)).one()
        s, u = t.subscriptions.c, t.users.c
        wants_mail = sa.func.max(sa.case((s.email == sa.true(), 1), else_=0))
        sel = (
            sa.select(
                sa.literal(announcement_id), s.user_id, sa.func.min(s.id), sa.literal(now),
                sa.case((wants_mail == 1, sa.literal("queued")), else_=sa.literal("web")), sa.literal(0), sa.literal(now),
            )
            .select_from(t.subscriptions.join(t.users, u.id == s.user_id))
            .where(
                s.cancelled_at.is_(None), u.deleted_at.is_(None), s.audience == a.audience,
                sa.or_(s.subject == "", s.subject == a.subject), sa.or_(s.level == "", s.level == a.level),
                sa.or_(s.region == "", s.region == a.region),
            )
            .group_by(s.user_id)
        )
        o = t.outbox.c
        ins = dialect_insert(conn, t.outbox).from_select(
            [o.announcement_id, o.user_id, o.subscription_id, o.created_at, o.status, o.attempts, o.next_attempt_at], sel
        ).on_conflict_do_nothing()
        conn.execute(ins)
        n = conn.execute(sa.select(sa.func.count()).select_from(t.outbox).where(o.announcement_id == announcement_id)).scalar_one()
        conn.execute(t.announcements.update().where(t.announcements.c.id == announcement_id).values(notified=n))
        return n

    def list(self, *, subject: str = "", region: str = "", audience: str = "", include_past: bool = False, limit: int = 100) -> list[sa.Row]:
        a = t.announcements.c
        q = sa.select(t.announcements).order_by(a.starts_on, a.id).limit(limit)
        if subject:
            q = q.where(a.subject == _facet(subject, "subject", 60))
        if region:
            q = q.where(a.region == _facet(region, "region", 80))
        if audience:
            q = q.where(a.audience == audience)
        if not include_past:
            q = q.where(a.ends_on >= date.fromtimestamp(self.ctx.now()).isoformat())
        with self.ctx.engine.connect() as conn:
            return list(conn.execute(q))

    def get(self, announcement_id: int) -> sa.Row:
        with self.ctx.engine.connect() as conn:
            row = conn.execute(sa.select(t.announcements).where(t.announcements.c.id == announcement_id)).first()
        if row is None:
            raise NotFoundError(f"no announcement {announcement_id}")
        return row

    # --- subscriptions ---

    def subscribe(self, person: User, *, subject: str, level: str, region: str, audience: str, email: bool = True) -> int:
        if not person.is_holder:
            raise AuthorizationError("students and teachers subscribe to announcements")
        self.subscribe_limit.hit(f"u:{person.id}")
        if audience not in AUDIENCES:
            raise MalformedError(f"audience must be one of {', '.join(AUDIENCES)}")
        if level and level not in LEVELS:
            raise MalformedError(f"level must be one of {', '.join(LEVELS)}")
        subject, region = _facet(subject, "subject", 60), _facet(region, "region", 80)
        s = t.subscriptions.c
        with self.ctx.engine.begin() as conn:
            live = conn.execute(sa.select(sa.func.count()).where(s.user_id == person.id, s.cancelled_at.is_(None))).scalar_one()
            if live >= MAX_SUBSCRIPTIONS:
                raise MalformedError(f"at most {MAX_SUBSCRIPTIONS} subscriptions")
            return conn.execute(
                t.subscriptions.insert().values(user_id=person.id, subject=subject, level=level, region=region, audience=audience, email=email,
                                                unsub_salt=secrets.token_hex(16), created_at=self.ctx.now())
            ).inserted_primary_key[0]

    def subscriptions_of(self, person: User) -> list[Subscription]:
        s = t.subscriptions.c
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(sa.select(t.subscriptions).where(s.user_id == person.id, s.cancelled_at.is_(None)).order_by(s.id))
            return [Subscription(r.id, r.subject, r.level, r.region, r.audience, bool(r.email)) for r in rows]

    def cancel(self, person: User, subscription_id: int) -> None:
        self.subscribe_limit.hit(f"u:{person.id}")
        s = t.subscriptions.c
        with self.ctx.engine.begin() as conn:
            n = conn.execute(t.subscriptions.update().where(s.id == subscription_id, s.user_id == person.id, s.cancelled_at.is_(None))
                             .values(cancelled_at=self.ctx.now())).rowcount
        if n == 0:
            raise NotFoundError(f"no subscription {subscription_id} of yours")

    def unsubscribe_token(self, subscription_id: int, salt: str) -> str:
        return self.ctx.vault.email_index(f"unsubscribe/{subscription_id}/{salt}")

    def check_unsubscribe(self, subscription_id: int, token: str) -> sa.Row:
        with self.ctx.engine.connect() as conn:
            row = conn.execute(sa.select(t.subscriptions).where(t.subscriptions.c.id == subscription_id)).first()
        want = self.unsubscribe_token(subscription_id, row.unsub_salt) if row is not None else "0" * 64
        if not hmac.compare_digest(want.encode(), token.encode()[:128]) or row is None:
            raise NotFoundError("this unsubscribe link is not valid")
        return row

    def unsubscribe(self, subscription_id: int, token: str) -> None:
        """Honour an e-mail's unsubscribe link: the subscription ends, queued e-mails for it are not sent."""
        self.check_unsubscribe(subscription_id, token)
        now = self.ctx.now()
        with self.ctx.engine.begin() as conn:
            conn.execute(t.subscriptions.update().where(t.subscriptions.c.id == subscription_id, t.subscriptions.c.cancelled_at.is_(None))
                         .values(cancelled_at=now))
            conn.execute(t.outbox.update().where(t.outbox.c.subscription_id == subscription_id, t.outbox.c.status == "queued")
                         .values(status="cancelled"))

    # --- in-app notices ---

    def notices(self, person: User, limit: int = 50) -> list[sa.Row]:
        o, a = t.outbox.c, t.announcements.c
        q = (sa.select(o.id, o.status, o.last_error, o.created_at, o.read_at, a.id.label("announcement_id"), a.title, a.kind, a.subject, a.region,
                       a.starts_on, a.ends_on, a.institution_id)
             .select_from(t.outbox.join(t.announcements, a.id == o.announcement_id))
             .where(o.user_id == person.id).order_by(o.id.desc()).limit(limit))
        with self.ctx.engine.connect() as conn:
            return list(conn.execute(q))

    def delivery_of(self, announcement_id: int) -> dict[str, int]:
        """Notices of an announcement by status (queued, sent, failed, cancelled, web): what the organiser sees."""
        o = t.outbox.c
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(sa.select(o.status, sa.func.count()).where(o.announcement_id == announcement_id).group_by(o.status))
            return {status: n for status, n in rows}

    def unread_count(self, person: User, limit: int = 100) -> int:
        """How many of ``person``'s notices are unread, counting at most ``limit`` (the menu's counter runs this on every page)."""
        o = t.outbox.c
        unread = sa.select(o.id).where(o.user_id == person.id, o.read_at.is_(None)).limit(limit).subquery()
        with self.ctx.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(unread)).scalar_one()

    def mark_read(self, person: User, through: int | None = None) -> None:
        """Mark ``person``'s notices read; with ``through``, only those up to that notice id (the ones a page showed:
        a notice fanned out while the page was being made stays unread)."""
        o = t.outbox.c
        q = t.outbox.update().where(o.user_id == person.id, o.read_at.is_(None))
        if through is not None:
            q = q.where(o.id <= through)
        with self.ctx.engine.begin() as conn:
            conn.execute(q.values(read_at=self.ctx.now()))

    # --- participation on the record ---

    def link_result(self, staff: User, announcement_id: int, credential_id: str) -> None:
        """Link a participation or winner credential to the announcement of its event (both the staff's institution's)."""
        if not staff.is_staff:
            raise AuthorizationError("only institution staff link results")
        a = self.get(announcement_id)
        if a.institution_id != staff.institution_id:
            raise AuthorizationError("this announcement belongs to another institution")
        with self.ctx.engine.begin() as conn:
            c = conn.execute(sa.select(t.credentials.c.institution_id).where(t.credentials.c.id == credential_id)).first()
            if c is None or c.institution_id != staff.institution_id:
                raise NotFoundError(f"no credential {credential_id} issued by your institution")
            conn.execute(dialect_insert(conn, t.announcement_results).values(credential_id=credential_id, announcement_id=announcement_id,
                                                                              linked_at=self.ctx.now()).on_conflict_do_nothing())

    def results_of(self, announcement_id: int) -> int:
        with self.ctx.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(t.announcement_results.c.announcement_id == announcement_id)).scalar_one()

    def path_of(self, holder: User) -> list[tuple[sa.Row, Any]]:
        """(announcement, held credential) pairs: the way from an announcement to its result, for a holder's portfolio."""
        r, c, a = t.announcement_results.c, t.credentials.c, t.announcements.c
        with self.ctx.engine.connect() as conn:
            rows = list(conn.execute(
                sa.select(t.announcements, r.credential_id).select_from(
                    t.announcement_results.join(t.credentials, c.id == r.credential_id).join(t.announcements, a.id == r.announcement_id)
                ).where(c.holder_id == holder.id).order_by(a.starts_on)
            ))
        return [(row, self.credentials.get(row.credential_id)) for row in rows]

