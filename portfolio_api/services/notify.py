"""E-mail delivery of the outbox: claim due notices, send over SMTP, mark sent, retry with backoff.

Contract:
* A notice leaves ``queued`` only as ``sent`` (the SMTP server accepted it),
  ``failed`` (the server refused it permanently: a 5xx reply to this recipient
  or this message; the reply is kept in ``last_error`` and shown to the person
  and the organiser) or ``cancelled`` (the person unsubscribed or was erased).
* Failures are handled per notice. A permanent refusal fails that one notice;
  a transient one (4xx, a dropped connection) reschedules that one notice
  ``min(retry_base * 2**attempts, retry_max)`` seconds later, forever; the
  others in the batch keep going. Only when the server cannot be reached at
  all is the rest of the batch rescheduled (an outage delays, never drops).
* Claiming moves ``next_attempt_at`` one lease ahead inside a transaction (rows
  locked with SKIP LOCKED on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises),
  so two senders never hold the same notice.
* Write order: send, then mark ``sent`` in its own small transaction. A crash
  between the two resends that one notice after the lease ends (at-least-once
  for the single message in flight; the outbox's unique key keeps every other
  path at exactly one notice per announcement and person). A notice that got
  any definite answer (accepted, refused) is never sent again.
* At most ``rate_per_second`` messages per second leave this node.

One-off messages (issue 16: one-time sign-in links, registration links) do not
go through the outbox: ``Mailer.post`` hands them to one background thread and
returns at once, so the page a person sees takes the same time whether a
message was sent or not (no account enumeration by timing), and a message that
fails is logged (never its link) and not retried: the person asks for another.

Without an SMTP server (``EDULEDGER_SMTP_HOST`` unset; ``configured`` is False) nothing is sent and
nothing is lost: notices wait in ``pf_outbox`` as ``queued`` and leave once a server is configured and
the node restarted; the in-app notices (the notices page, the unread counter in the menu) work
either way, and every page that promises an e-mail says that mail is not set up (issue 18). One-off
messages are not queued: without mail the pages offer what works instead (README, "E-mail").

Every link in a message is made by ``portfolio_api.public_links`` from ``MailSettings.base_url``:
the node's public URL, or the address it listens on — there is no built-in default address.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import astuple, dataclass, field
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from ledger.errors import EduledgerError
from portfolio_api.db import tables as t
from portfolio_api.public_links import PublicLinks
from portfolio_api.services.context import Ctx
from portfolio_api.services.opportunities import Opportunities

log = logging.getLogger("eduledger.notify")

LEASE_SECONDS = 300


@dataclass(frozen=True, kw_only=True)
class MailSettings:
    """How this node mails (``Settings.mail_settings``). ``base_url`` has no default on purpose: a
    guessed address (``http://127.0.0.1:8000``) mailed links to nowhere when the node ran elsewhere."""

    base_url: str  # the node's public URL (portfolio_api/public_links.py)
    host: str | None = None
    port: int = 25
    sender: str = "eduledger@localhost"
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a repr, a log line or an error
    tls: str = "none"  # none | starttls | ssl
    rate_per_second: float = 50.0
    batch: int = 200
    retry_base: int = 30
    retry_max: int = 3600
    poll_seconds: float = 5.0
    timeout: float = 10.0


@dataclass(frozen=True)
class Delivery:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    cancelled: int = 0
    failed: int = 0

    def __add__(self, other: "Delivery") -> "Delivery":
        return Delivery(*(a + b for a, b in zip(astuple(self), astuple(other))))


def permanent(error: smtplib.SMTPException) -> bool:
    """A refusal that will not change on retry: a 5xx reply about this recipient or this message (RFC 5321 4.2.1).

    A refused sender (``MAIL FROM``) is the node's configuration, not the
    recipient's: it is retried like an outage, never charged to one notice."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return bool(error.recipients) and all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPSenderRefused):
        return False
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


def _describe(e: smtplib.SMTPException) -> str:
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {_text(msg)}" for code, msg in e.recipients.values())[:300]
    if isinstance(e, smtplib.SMTPResponseException):
        return f"{e.smtp_code} {_text(e.smtp_error)}"[:300]
    return str(e)[:300]


def _text(msg: bytes | str) -> str:
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        pass


class Mailer:
    def __init__(self, ctx: Ctx, accounts: Any, opportunities: Opportunities, settings: MailSettings) -> None:
        self.ctx, self.accounts, self.opp, self.settings = ctx, accounts, opportunities, settings
        self._direct: ThreadPoolExecutor | None = None
        self._pending: set[Future[bool]] = set()
        self._direct_lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._next_send = 0.0
        self.sleep = time.sleep  # injectable for tests of the rate limit
        self.background = True  # False: the background task idles (tests that drive deliver_due themselves)

    # --- one pass ---

    def backoff(self, attempts: int) -> int:
        return min(self.settings.retry_base * (2 ** min(attempts, 20)), self.settings.retry_max)

    def claim(self, now: int) -> list[sa.Row]:
        o = t.outbox.c
        with self.ctx.engine.begin() as conn:
            q = (sa.select(o.id).where(o.status == "queued", o.next_attempt_at <= now).order_by(o.next_attempt_at, o.id)
                 .limit(self.settings.batch))
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            ids = list(conn.execute(q).scalars())
            if not ids:
                return []
            conn.execute(t.outbox.update().where(o.id.in_(ids)).values(next_attempt_at=now + LEASE_SECONDS))
            s, a = t.subscriptions.c, t.announcements.c
            return list(conn.execute(
                sa.select(o.id, o.user_id, o.attempts, o.subscription_id, s.unsub_salt, s.cancelled_at, s.email.label("wants_email"),
                          a.id.label("announcement_id"), a.title, a.body, a.kind, a.subject, a.level, a.region, a.starts_on, a.ends_on,
                          a.registration_url, a.institution_id)
                .select_from(t.outbox.join(t.subscriptions, s.id == o.subscription_id).join(t.announcements, a.id == o.announcement_id))
                .where(o.id.in_(ids)).order_by(o.id)
            ))

    def deliver_due(self, now: int | None = None) -> Delivery:
        """Send what is due at ``now`` (default: the clock), one batch. Safe to call from any worker thread."""
        if not self.settings.host:
            return Delivery()
        now = self.ctx.now() if now is None else now
        rows = self.claim(now)
        if not rows:
            return Delivery()
        sent = retried = cancelled = failed = 0
        smtp: smtplib.SMTP | None = None
        try:
            for i, row in enumerate(rows):
                if row.cancelled_at is not None or not row.wants_email:
                    self._mark(row.id, status="cancelled")
                    cancelled += 1
                    continue
                try:
                    to = self._address(row.user_id)
                except EduledgerError:
                    self._mark(row.id, status="cancelled")
                    cancelled += 1
                    continue
                if smtp is None:
                    try:
                        smtp = self._connect()
                    except (OSError, smtplib.SMTPException) as e:
                        # nobody can be reached (or the login is refused): the rest of the batch waits (nothing is dropped)
                        why = f"SMTP login refused: {_describe(e)}" if isinstance(e, smtplib.SMTPAuthenticationError) else f"SMTP server unreachable: {e}"
                        self._retry(now, rows[i:], why)
                        retried += len(rows) - i
                        break
                self._pace()
                try:
                    smtp.send_message(self.message(row, to))
                except smtplib.SMTPException as e:
                    if permanent(e):
                        # this recipient or message is refused for good: fail this one notice, keep going
                        self._mark(row.id, status="failed", attempts=row.attempts + 1, last_error=_describe(e))
                        log.warning("notice %d refused permanently: %s", row.id, _describe(e))
                        failed += 1
                    else:
                        self._retry(now, [row], f"SMTP error: {_describe(e)}")
                        retried += 1
                    if isinstance(e, smtplib.SMTPServerDisconnected):
                        smtp = None  # reconnect for the next notice
                    continue
                except OSError as e:
                    # the connection broke mid-message: this notice waits; the next one reconnects
                    self._retry(now, [row], f"SMTP error: {e}")
                    retried += 1
                    _quit(smtp)
                    smtp = None
                    continue
                self._mark(row.id, status="sent", sent_at=now)  # after the server accepted it (see the docstring)
                sent += 1
        finally:
            if smtp is not None:
                _quit(smtp)
        return Delivery(len(rows), sent, retried, cancelled, failed)

    def deliver_all(self, now: int | None = None) -> Delivery:
        """Drain everything due at ``now`` (tests and the CLI)."""
        total = Delivery()
        while True:
            d = self.deliver_due(now)
            total += d
            if d.claimed == 0 or d.sent + d.cancelled + d.failed == 0:
                return total

    # --- pieces ---

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.user:
                smtp.login(s.user, s.password or "")  # a refused login is the node's configuration: retried like an outage
        except BaseException:
            _quit(smtp)
            raise
        return smtp

    def link(self, path: str) -> str:
        """The absolute URL of ``path`` under the node's public URL (the only way a message links back)."""
        return PublicLinks(self.settings.base_url).to(path)

    def _pace(self) -> None:
        gap = 1.0 / self.settings.rate_per_second if self.settings.rate_per_second > 0 else 0.0
        now = time.monotonic()
        if self._next_send > now:
            self.sleep(self._next_send - now)
            now = self._next_send
        self._next_send = now + gap

    def _address(self, user_id: int) -> str:
        with self.ctx.engine.connect() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.id == user_id)).one()
            if row.deleted_at is not None or row.email_enc is None:
                raise EduledgerError("erased")
            return self.accounts.decrypt_for(conn, user_id, "email", row.email_enc).decode()

    def _mark(self, outbox_id: int, **values: Any) -> None:
        with self.ctx.engine.begin() as conn:
            conn.execute(t.outbox.update().where(t.outbox.c.id == outbox_id, t.outbox.c.status == "queued").values(**values))

    def _retry(self, now: int, rows: list[sa.Row], error: str) -> None:
        log.warning("notifications delayed (%d): %s", len(rows), error)
        with self.ctx.engine.begin() as conn:
            for row in rows:
                conn.execute(t.outbox.update().where(t.outbox.c.id == row.id, t.outbox.c.status == "queued").values(
                    attempts=row.attempts + 1, next_attempt_at=now + self.backoff(row.attempts), last_error=error[:300]))

    def unsubscribe_url(self, row: sa.Row) -> str:
        token = self.opp.unsubscribe_token(row.subscription_id, row.unsub_salt)
        return self.link(f"/opportunities/unsubscribe/{row.subscription_id}/{token}")

    def message(self, row: sa.Row, to: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = to
        msg["Subject"] = f"{row.title} ({row.starts_on})"
        msg["Message-ID"] = f"<notice-{row.id}@eduledger>"  # one id per notice: receivers can drop a rare resend
        unsub = self.unsubscribe_url(row)
        msg["List-Unsubscribe"] = f"<{unsub}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(
            f"{row.title}\n\n{row.body}\n\n"
            f"{row.subject} · {row.level} · {row.region} · {row.starts_on} — {row.ends_on}\n"
            f"Регистрация / Registration: {row.registration_url}\n"
            f"{self.link(f'/opportunities/{row.announcement_id}')}\n\n"
            f"Отписаться / Unsubscribe: {unsub}\n"
        )
        return msg

    # --- one-off messages: sign-in and registration links ---

    @property
    def configured(self) -> bool:
        """Whether this node sends e-mail at all (``EDULEDGER_SMTP_HOST`` set)."""
        return bool(self.settings.host)

    def post(self, msg: EmailMessage) -> bool:
        """Send ``msg`` in the background (see the module docstring); False if no mail is configured."""
        if not self.configured:
            return False
        if "From" not in msg:
            msg["From"] = self.settings.sender
        with self._direct_lock:
            if self._direct is None:
                self._direct = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail-direct")
            fut = self._direct.submit(self._send_one, msg)
            self._pending.add(fut)
        fut.add_done_callback(self._pending.discard)
        return True

    def _send_one(self, msg: EmailMessage) -> bool:
        try:
            smtp = self._connect()
            try:
                smtp.send_message(msg)
            finally:
                _quit(smtp)
        except (OSError, smtplib.SMTPException) as e:
            err = _describe(e) if isinstance(e, smtplib.SMTPException) else str(e)
            log.warning("one-off e-mail (%s) not sent: %s", msg.get("X-Eduledger-Kind", "message"), err)
            return False
        return True

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every posted one-off message was handed to the server or failed (tests, shutdown)."""
        with self._direct_lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)

    # --- the background task ---

    def wake(self) -> None:
        """Called from any thread after a fan-out: the sender looks at the outbox now instead of at the next poll."""
        loop, ev = self.ctx.loop, self._wake
        if loop is not None and ev is not None:
            loop.call_soon_threadsafe(ev.set)

    async def run(self, extra_work: Any = None) -> None:
        """Deliver forever (cancel the task to stop). ``extra_work`` runs in a worker thread on every idle poll."""
        self._wake = asyncio.Event()
        if not self.configured:
            log.warning("no SMTP server (EDULEDGER_SMTP_HOST unset): notification e-mails wait in the outbox, "
                        "in-app notices work; set EDULEDGER_SMTP_HOST and restart to send them")
        elif not PublicLinks(self.settings.base_url).reachable_from_elsewhere:
            log.warning("e-mails link to %s, which their readers cannot open: set EDULEDGER_PUBLIC_URL to the address "
                        "people reach this node at", self.settings.base_url)
        while True:
            try:
                d = await asyncio.to_thread(self.deliver_due) if self.background else Delivery()
                if extra_work is not None and d.claimed == 0:
                    await asyncio.to_thread(extra_work)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug or a database hiccup must not end delivery for good
                log.exception("notification sender pass failed")
                d = Delivery()
            if d.claimed and d.sent + d.cancelled + d.failed:
                continue  # more may be due right away
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_seconds)
            except asyncio.TimeoutError:
                pass


# --- the texts of one-off messages (plain text, Russian then English, like the notices) ---


def _one_off(to: str, kind: str, subject: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = subject
    msg["X-Eduledger-Kind"] = kind  # for logs: which message failed, never its link
    msg.set_content(text)
    return msg


def signin_link_mail(to: str, link: str, minutes: int) -> EmailMessage:
    return _one_off(to, "sign-in-link", "Вход по ссылке / Your sign-in link", (
        f"Кто-то (надеемся, вы) попросил ссылку для входа в eduledger. Ссылка действует {minutes} минут и только один раз:\n"
        f"Someone (we hope you) asked for a link to sign in to eduledger. It works once, for {minutes} minutes:\n\n"
        f"{link}\n\n"
        "Если вы не просили ссылку, ничего не делайте: без неё никто не войдёт.\n"
        "If you did not ask for it, do nothing: nobody signs in without it.\n"
    ))


def registration_mail(to: str, link: str, minutes: int) -> EmailMessage:
    return _one_off(to, "registration", "Завершите регистрацию / Finish your registration", (
        f"Чтобы завершить регистрацию в eduledger, откройте ссылку (действует {minutes} минут, один раз):\n"
        f"To finish registering with eduledger, open this link (it works once, for {minutes} minutes):\n\n"
        f"{link}\n\n"
        "Если вы не регистрировались, ничего не делайте: аккаунт не будет создан.\n"
        "If you did not register, do nothing: no account will be created.\n"
    ))


def already_registered_mail(to: str, login_url: str, link: str | None, minutes: int) -> EmailMessage:
    once = (
        f"Или войдите по одноразовой ссылке (действует {minutes} минут):\n"
        f"Or sign in with this one-time link (it works for {minutes} minutes):\n\n{link}\n\n"
    ) if link else ""
    return _one_off(to, "already-registered", "У вас уже есть аккаунт / You already have an account", (
        "Кто-то (надеемся, вы) пытался зарегистрироваться в eduledger с этим адресом, но аккаунт с ним уже есть.\n"
        "Someone (we hope you) tried to register with eduledger using this address, but it already has an account.\n\n"
        f"Войдите с вашим паролем / Sign in with your password: {login_url}\n\n"
        f"{once}"
        "Если это были не вы, ничего не делайте: ваш аккаунт не изменился.\n"
        "If this was not you, do nothing: your account is unchanged.\n"
    ))
