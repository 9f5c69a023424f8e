"""Erasure of a person: what is deleted, what is cleared, what stays, and how the bytes leave the disk.

A person who deletes her account (``/account/delete``) is erased in one transaction:

* **deleted**: her data key (everything still encrypted under it becomes unreadable:
  crypto-shredding), sessions and one-time sign-in links; her uploads (rows and files) and their
  confirmation requests; her share links with their access logs and viewer consents; her own
  openings of other people's links (``pf_share_access.viewer = "u:<id>"``) and her consents there;
  her discoverable profile (its full-text rows go with it), subscriptions, notices and e-mails
  queued for her, and every follow of her by an institution.
* **cleared**: the credentials issued to her keep only what the ledger already holds (digest,
  kind, issuing institution, issue time, anchor index): the off-ledger document, the bundle and
  the title are removed, so the issuing institution can still revoke or supersede by digest and
  ``reconcile`` can still anchor a leftover. Audit records keep who did what to which record, but
  their free text is emptied when it is about her records or names her (full name or e-mail);
  batch reports lose her e-mail address.
* **kept**: the ledger (digests only; her bundles already downloaded keep verifying), other
  people's data, and the ``pf_users`` row itself as a tombstone (id, role, ``deleted_at``), so
  ids in audit records never point at someone else.

Then the bytes: every SQLite connection runs with ``secure_delete`` (``portfolio_api.db``), so
deleted rows and freed pages are zeroed; the FTS5 index is rebuilt inside the transaction (a
'delete' alone only adds a tombstone segment, the old segment keeps the words); after the commit
``wal_checkpoint(TRUNCATE)`` copies the zeroed pages into the database file and truncates the WAL,
which held the old page images. PostgreSQL: the rows are deleted and the touched tables are
``VACUUM``-ed on an autocommit connection, so their space is reclaimed for reuse (a plain VACUUM
does not rewrite the files; docs/security.md says what that leaves). Crash points: before the commit
nothing changed; after it, the data is logically gone and a failed checkpoint or VACUUM is only
logged (the next erasure, SQLite's own checkpoints or autovacuum finish the job).
"""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa

from ledger.errors import EduledgerError, NotFoundError
from portfolio_api.db import tables as t
from portfolio_api.services.context import Ctx

log = logging.getLogger("eduledger.portfolio")

#: tables an erasure writes to: VACUUM-ed afterwards on PostgreSQL
TOUCHED = (t.users, t.data_keys, t.sessions, t.login_links, t.credentials, t.uploads, t.requests, t.shares, t.share_access, t.share_consents,
           t.audit_log, t.batches, t.profiles, t.subscriptions, t.outbox, t.follows)
ERASED = "[erased]"
MIN_NAME_MATCH = 4  # a shorter name would clear unrelated audit text; the e-mail is matched whatever its length


def viewer_ref(user_id: int) -> str:
    """How a signed-in viewer is written in ``pf_share_access.viewer``: an opaque id, never a name."""
    return f"u:{user_id}"


class Erasure:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def erase(self, user_id: int) -> None:
        """Erase person ``user_id`` (see the module docstring). NotFoundError for an unknown id; erasing twice is harmless."""
        now = self.ctx.now()
        with self.ctx.engine.begin() as conn:
            user = conn.execute(sa.select(t.users).where(t.users.c.id == user_id)).first()
            if user is None:
                raise NotFoundError(f"no person {user_id}")
            mentions = self._mentions(conn, user)
            ids = lambda q: [r[0] for r in conn.execute(q)]  # noqa: E731
            credential_ids = ids(sa.select(t.credentials.c.id).where(t.credentials.c.holder_id == user_id))
            upload_ids = ids(sa.select(t.uploads.c.id).where(t.uploads.c.owner_id == user_id))
            request_ids = ids(sa.select(t.requests.c.id).where(sa.or_(t.requests.c.owner_id == user_id, t.requests.c.upload_id.in_(upload_ids))))
            share_ids = ids(sa.select(t.shares.c.id).where(t.shares.c.owner_id == user_id))

            self._clear_texts(conn, [f"credential:{c}" for c in credential_ids] + [f"request:{r}" for r in request_ids], mentions)
            # opportunities: the profile delete fires the FTS5 delete trigger (SQLite) / drops the tsvector (PostgreSQL)
            conn.execute(t.profiles.delete().where(t.profiles.c.user_id == user_id))
            conn.execute(t.outbox.delete().where(t.outbox.c.user_id == user_id))
            conn.execute(t.subscriptions.delete().where(t.subscriptions.c.user_id == user_id))
            conn.execute(t.follows.delete().where(sa.or_(t.follows.c.student_id == user_id, t.follows.c.share_id.in_(share_ids))))
            # share links: hers, and her traces on other people's
            conn.execute(t.share_consents.delete().where(sa.or_(t.share_consents.c.share_id.in_(share_ids), t.share_consents.c.viewer_id == user_id)))
            conn.execute(t.share_access.delete().where(sa.or_(t.share_access.c.share_id.in_(share_ids), t.share_access.c.viewer == viewer_ref(user_id))))
            conn.execute(t.shares.delete().where(t.shares.c.owner_id == user_id))
            # credentials keep what the ledger holds; uploads and requests go
            conn.execute(t.credentials.update().where(t.credentials.c.holder_id == user_id).values(
                title="", credential_enc=None, bundle_enc=None, upload_id=None, public=False))
            conn.execute(t.requests.delete().where(t.requests.c.id.in_(request_ids)))
            conn.execute(t.uploads.delete().where(t.uploads.c.owner_id == user_id))
            # the account: keys, sign-in, then the tombstone
            conn.execute(t.login_links.delete().where(t.login_links.c.user_id == user_id))
            if user.email_index is not None:
                conn.execute(t.login_links.delete().where(t.login_links.c.email_index == user.email_index))
            conn.execute(t.sessions.delete().where(t.sessions.c.user_id == user_id))
            conn.execute(t.data_keys.delete().where(t.data_keys.c.user_id == user_id))
            conn.execute(t.users.update().where(t.users.c.id == user_id).values(
                email_index=None, email_enc=None, name_enc=None, password_hash=None, deleted_at=user.deleted_at or now))
            if conn.dialect.name == "sqlite":
                # Rewrite the whole index: the segments that held her words are freed (and zeroed) now.
                conn.exec_driver_sql("INSERT INTO fts_profiles(fts_profiles) VALUES ('rebuild')")
        self._reclaim()

    def _mentions(self, conn: sa.Connection, user: sa.Row) -> list[str]:
        """Her full name and e-mail in plain text, read while her data key still exists (none once erased)."""
        wrapped = conn.execute(sa.select(t.data_keys.c.wrapped).where(t.data_keys.c.user_id == user.id)).scalar()
        if wrapped is None or user.name_enc is None or user.email_enc is None:
            return []
        try:
            key = self.ctx.vault.unwrap(user.id, wrapped)
            name = self.ctx.vault.decrypt(key, f"name/{user.id}", user.name_enc).decode()
            email = self.ctx.vault.decrypt(key, f"email/{user.id}", user.email_enc).decode()
        except EduledgerError:
            return []
        return [email] + ([name] if len(name) >= MIN_NAME_MATCH else [])

    @staticmethod
    def _clear_texts(conn: sa.Connection, targets: list[str], mentions: list[str]) -> None:
        a = t.audit_log.c
        if targets:
            conn.execute(t.audit_log.update().where(a.target.in_(targets), a.detail != "").values(detail=""))
        for text in mentions:
            conn.execute(t.audit_log.update().where(a.detail.contains(text, autoescape=True)).values(detail=""))
            for row in conn.execute(sa.select(t.batches.c.id, t.batches.c.report).where(t.batches.c.report.contains(text, autoescape=True))).all():
                report = [{**r, "message": str(r.get("message", "")).replace(text, ERASED)} for r in json.loads(row.report)]
                conn.execute(t.batches.update().where(t.batches.c.id == row.id).values(report=json.dumps(report)))

    def _reclaim(self) -> None:
        """Push the freed bytes out of the files (after the commit; see the module docstring)."""
        engine = self.ctx.engine
        try:
            if engine.dialect.name == "sqlite":
                with engine.connect() as conn:
                    # the raw DB-API connection: no BEGIN (a checkpoint cannot run inside a transaction)
                    cur = conn.connection.driver_connection.cursor()
                    try:
                        busy, wal_frames, done = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    finally:
                        cur.close()
                if busy:
                    log.warning("erasure: the WAL could not be truncated (%d of %d frames checkpointed); it will be at the next checkpoint",
                                done, wal_frames)
            elif engine.dialect.name == "postgresql":
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM " + ", ".join(table.name for table in TOUCHED))
        except sa.exc.DBAPIError as e:
            log.warning("erasure committed, but reclaiming the freed space failed: %s", e)
