"""E-mailed one-time links: sign-in without a password, and registration that does not reveal accounts.

Following OWASP's Authentication Cheat Sheet ("Authentication and Error Messages", account
enumeration; "Account Lockout": the owner gets back in by a side channel while password guesses are
throttled):

* A sign-in link request and a registration answer the same page whether the address has an account
  or not; only the e-mail differs (a link to finish registering; "you already have an account", with a
  one-time sign-in link). The mail leaves in the background (``Mailer.post``), so the answer takes the
  same time either way.
* A token is 32 random bytes (URL-safe); the database keeps its SHA-256 only (``pf_login_links``). It is
  single use (deleted by the statement that accepts it), expires (sign-in: 15 minutes; registration:
  1 hour) and is bound to its account (sign-in) or to its address (registration). A pending
  registration (address, name, role, Argon2id hash) is encrypted under a key derived from the token,
  so the database alone cannot read it; nothing is in ``pf_users`` until the link is confirmed.
* Opening a link (GET) only shows a button; the POST of that button uses it, so mail scanners that
  prefetch links do not consume them. Signing in by link is not subject to the password throttle.
* Mail flooding is bounded: at most ``PER_ADDRESS`` messages per address in ``WINDOW`` seconds (counted
  whether or not the address has an account, and silently not sent past that, so the limit reveals
  nothing either), and ``PER_CLIENT`` requests per client address (429 with Retry-After).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ledger.errors import ConflictError, MalformedError
from portfolio_api.db import tables as t
from portfolio_api.services.accounts import SELF_REGISTER_ROLES, Accounts, User, _token_hash, hash_password, normalize_email
from portfolio_api.services.context import Ctx
from portfolio_api.services.limits import RateLimit, RateLimited
from portfolio_api.services.notify import already_registered_mail, registration_mail, signin_link_mail
from portfolio_api.vault import Vault

LOGIN_SECONDS = 15 * 60
REGISTER_SECONDS = 60 * 60
WINDOW = 15 * 60
PER_ADDRESS = 3  # e-mails to one address (so to one account) per WINDOW
PER_CLIENT = 30  # link and registration requests from one client address per WINDOW (a class behind one NAT)
TOKEN_MAX = 100

LINK_INVALID = "this link is invalid, expired or already used: ask for a new one"


def _payload_key(token: str) -> bytes:
    return hashlib.sha256(b"eduledger/portfolio/register-link\x00" + token.encode()).digest()


@dataclass(frozen=True)
class PendingRegistration:
    email: str
    name: str
    role: str


class SignInLinks:
    def __init__(self, ctx: Ctx, accounts: Accounts) -> None:
        self.ctx, self.accounts = ctx, accounts
        self.per_address = RateLimit(ctx, limit=PER_ADDRESS, window=WINDOW, what="e-mails to this address")
        self.per_client = RateLimit(ctx, limit=PER_CLIENT, window=WINDOW, what="sign-in link or registration requests")

    # --- requests (the same answer for every address) ---

    def request_login(self, email: str, ip: str, *, mailer: Any, base: str) -> None:
        """Mail a one-time sign-in link if ``email`` has a live account; otherwise do nothing, in the same time.

        MalformedError for an address that cannot be one; RateLimited (429) for a client over its limit."""
        self.per_client.hit(ip)
        email = normalize_email(email)  # an address that cannot be one is a 400: that depends on no account
        if not self._may_mail(self.accounts.email_index(email)):
            return
        user = self.accounts.find_by_email(email)
        if user is None or not mailer.configured:
            return
        token = self._issue("login", user_id=user.id, seconds=LOGIN_SECONDS)
        mailer.post(signin_link_mail(user.email, f"{base}login/link/{token}", LOGIN_SECONDS // 60))

    def register(self, email: str, password: str, name: str, role: str, ip: str, *, mailer: Any, base: str) -> None:
        """Registration that does not tell whether ``email`` has an account (see the module docstring).

        With mail: nothing is stored in ``pf_users``; a new address gets a link that finishes the
        registration, an existing one a "you already have an account" message with a sign-in link.
        Without mail: a new address gets its account at once; an existing one is left as it is; the
        caller answers both the same (sign in with your password). MalformedError (400) for a bad field,
        before anything else happens."""
        if role not in SELF_REGISTER_ROLES:
            raise MalformedError("role must be student or teacher")
        email, name = self.accounts.check_new(email, password, name, role)
        self.per_client.hit(ip)
        pw_hash = hash_password(password)  # the same work whether the address is taken or not
        existing = self.accounts.find_by_email(email)
        if not mailer.configured:
            if existing is None:
                try:
                    self.accounts.create_hashed(email, pw_hash, name, role)
                except ConflictError:
                    pass  # registered a moment ago by a concurrent request: the same answer
            return
        if not self._may_mail(self.accounts.email_index(email)):
            return
        if existing is not None:
            token = self._issue("login", user_id=existing.id, seconds=LOGIN_SECONDS)
            mailer.post(already_registered_mail(existing.email, f"{base}login", f"{base}login/link/{token}", LOGIN_SECONDS // 60))
            return
        token = secrets.token_urlsafe(32)
        payload = json.dumps({"email": email, "name": name, "role": role, "pw": pw_hash}).encode()
        self._issue("register", token=token, email_index=self.accounts.email_index(email),
                    payload=Vault.encrypt(_payload_key(token), "register-link", payload), seconds=REGISTER_SECONDS)
        mailer.post(registration_mail(email, f"{base}register/confirm/{token}", REGISTER_SECONDS // 60))

    # --- using a link ---

    def peek(self, purpose: str, token: str) -> bool:
        """Whether ``token`` is a live link of ``purpose`` (the GET page; nothing is used up)."""
        if not token or len(token) > TOKEN_MAX:
            return False
        c = t.login_links.c
        with self.ctx.engine.connect() as conn:
            row = conn.execute(sa.select(c.expires_at).where(c.token_hash == _token_hash(token), c.purpose == purpose)).first()
        return row is not None and row.expires_at > self.ctx.now()

    def use_login(self, token: str) -> User:
        """Use a sign-in link once: the account it is bound to, or MalformedError (400)."""
        row = self._take("login", token)
        if row.user_id is None or not self._live(row.user_id):
            raise MalformedError(LINK_INVALID)  # the account was erased after the link was sent
        return self.accounts.get(row.user_id)

    def use_registration(self, token: str) -> User:
        """Use a registration link once: the new account. ConflictError (409) if the address got an account meanwhile."""
        row = self._take("register", token)
        try:
            data = json.loads(Vault.decrypt(_payload_key(token), "register-link", row.payload or b""))
        except Exception:  # noqa: BLE001 - a row that does not decrypt under its own token is no valid link
            raise MalformedError(LINK_INVALID) from None
        try:
            return self.accounts.create_hashed(data["email"], data["pw"], data["name"], data["role"])
        except ConflictError:
            raise ConflictError("this address already has an account: sign in, or ask for a sign-in link") from None

    # --- pieces ---

    def _may_mail(self, index: str) -> bool:
        try:
            self.per_address.hit(index)
        except RateLimited:
            return False  # silently: the answer must not differ between addresses
        return True

    def _issue(self, purpose: str, *, seconds: int, token: str | None = None, user_id: int | None = None,
               email_index: str | None = None, payload: bytes | None = None) -> str:
        token = token or secrets.token_urlsafe(32)
        now = self.ctx.now()
        with self.ctx.engine.begin() as conn:
            conn.execute(t.login_links.delete().where(t.login_links.c.expires_at <= now))  # bounded: expired rows go
            conn.execute(t.login_links.insert().values(token_hash=_token_hash(token), purpose=purpose, user_id=user_id,
                                                       email_index=email_index, payload=payload, created_at=now, expires_at=now + seconds))
        return token

    def _take(self, purpose: str, token: str) -> Any:
        """Delete the link and return its row in one statement (DELETE ... RETURNING): of two requests racing
        with the same link exactly one gets the row, so a link works once. An expired link is deleted too."""
        if not token or len(token) > TOKEN_MAX:
            raise MalformedError(LINK_INVALID)
        c = t.login_links.c
        with self.ctx.engine.begin() as conn:
            row = conn.execute(
                t.login_links.delete().where(c.token_hash == _token_hash(token), c.purpose == purpose).returning(*t.login_links.c)
            ).first()
        if row is None or row.expires_at <= self.ctx.now():
            raise MalformedError(LINK_INVALID)
        return row

    def _live(self, user_id: int) -> bool:
        with self.ctx.engine.connect() as conn:
            deleted = conn.execute(sa.select(t.users.c.deleted_at).where(t.users.c.id == user_id)).first()
        return deleted is not None and deleted.deleted_at is None
