"""People: registration, sign-in, sessions, login rate limiting, erasure.

Passwords are hashed with Argon2id. A session is a random 256-bit token in an
HttpOnly SameSite cookie; the database holds only its SHA-256. Names and
e-mail addresses are encrypted with the person's data key (``vault``); the
address is found by its keyed hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections import defaultdict, deque
from dataclasses import dataclass

import email_validator
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ledger.errors import AuthorizationError, ConflictError, MalformedError, NotFoundError
from portfolio_api.db import tables as t
from portfolio_api.services.context import Ctx
from portfolio_api.services.limits import RateLimited

ROLES = ("student", "teacher", "staff", "inst_admin", "net_admin")
SELF_REGISTER_ROLES = ("student", "teacher")
STAFF_ROLES = ("staff", "inst_admin")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
EMAIL_MAX = 254  # RFC 5321 4.5.3.1.3: a forward path holds at most 254 characters of address
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)  # Argon2id (OWASP minimum)


@dataclass(frozen=True)
class User:
    id: int
    role: str
    institution_id: str | None
    name: str
    email: str

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_holder(self) -> bool:
        return self.role in ("student", "teacher")


def normalize_email(address: str) -> str:
    """The one parser of every e-mail address the portfolio takes in; its normalised form, or MalformedError (400).

    Registration, staff and administrator accounts, institution onboarding and every look-up by address
    come through here. ``email-validator`` checks the syntax (RFC 5321/5322 as mail servers accept it,
    internationalised addresses allowed) without DNS (``check_deliverability=False``: the node may have
    none) and normalises: the domain lower-cased and in Unicode form, the whole address NFC. Control
    characters (NUL included) are refused first with a message of their own, before anything is stored."""
    address = address.strip()
    if _CONTROL_CHARS.search(address):
        raise MalformedError("e-mail address must not contain control characters (such as NUL)")
    if not address or len(address) > EMAIL_MAX:
        raise MalformedError(f"e-mail address must be 1 to {EMAIL_MAX} characters")
    try:
        return email_validator.validate_email(address, check_deliverability=False).normalized
    except email_validator.EmailNotValidError as e:
        raise MalformedError(f"e-mail address is not valid: {e}") from None


class LoginLimiter:
    """Failed sign-ins slow the next attempt down; they never lock an account out.

    Following OWASP's authentication cheat sheet: an attempt is counted *before* the password is
    checked (so concurrent guesses cannot slip past the count), and after the free failures of a key
    each further attempt must wait twice as long as the one before, since that key's last failure:

    * per (account, address) pair: 5 free, then 1, 2, 4 ... s up to 15 min: one guesser, slowed to a crawl;
    * per account, from every address: 20 free, then up to 60 s: a distributed guess is slowed, while a
      stranger can keep a pupil waiting at most a minute, never locked out;
    * per address: 30 free, then up to 60 s: a whole school behind one NAT still signs in.

    A success clears its pair and its account. ``RateLimited.retry_after`` (→ 429 with Retry-After)
    says how long to wait. Counts are per process and forget failures older than ``window`` seconds.
    """

    #: (key prefix, free failures, longest wait in seconds)
    RULES = (("p", 5, 900), ("a", 20, 60), ("i", 30, 60))

    def __init__(self, ctx: Ctx, *, window: int = 900) -> None:
        self.ctx, self.window = ctx, window
        self._fails: dict[str, deque[int]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _keys(self, account: str, ip: str) -> list[tuple[str, int, int]]:
        ids = {"p": f"{account}|{ip}", "a": account, "i": ip}
        return [(f"{prefix}:{ids[prefix]}", free, longest) for prefix, free, longest in self.RULES]

    def _recent(self, key: str, now: int) -> deque[int]:
        q = self._fails[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._fails[key]  # no growth with the number of addresses ever seen
            return deque()
        return q

    def reserve(self, account: str, ip: str) -> int:
        """Count an attempt as failed unless ``succeeded`` says otherwise; RateLimited if it must wait."""
        now = self.ctx.now()
        with self._lock:
            wait = 0
            for key, free, longest in self._keys(account, ip):
                q = self._recent(key, now)
                if len(q) >= free:
                    wait = max(wait, min(2 ** (len(q) - free), longest) - (now - q[-1]))
            if wait > 0:
                raise RateLimited("too many failed sign-in attempts; try again later", retry_after=wait)
            for key, _, _ in self._keys(account, ip):
                self._fails[key].append(now)
            return now

    def succeeded(self, account: str, ip: str, reserved: int) -> None:
        with self._lock:
            for key, _, _ in self._keys(account, ip):
                if key.startswith(("p:", "a:")):
                    self._fails.pop(key, None)
                else:
                    q = self._fails.get(key)
                    if q and reserved in q:
                        q.remove(reserved)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.limiter = LoginLimiter(ctx)

    # --- keys and fields ---

    def data_key(self, conn: sa.Connection, user_id: int) -> bytes:
        wrapped = conn.execute(sa.select(t.data_keys.c.wrapped).where(t.data_keys.c.user_id == user_id)).scalar()
        return self.ctx.vault.unwrap(user_id, wrapped)

    def encrypt_for(self, conn: sa.Connection, user_id: int, purpose: str, data: bytes) -> bytes:
        return self.ctx.vault.encrypt(self.data_key(conn, user_id), f"{purpose}/{user_id}", data)

    def decrypt_for(self, conn: sa.Connection, user_id: int, purpose: str, data: bytes | None) -> bytes:
        if data is None:
            raise NotFoundError("this data was erased")
        return self.ctx.vault.decrypt(self.data_key(conn, user_id), f"{purpose}/{user_id}", data)

    def _user(self, conn: sa.Connection, row: sa.Row) -> User:
        if row.deleted_at is not None:
            return User(row.id, row.role, row.institution_id, "—", "")
        dk = self.ctx.vault.unwrap(row.id, conn.execute(sa.select(t.data_keys.c.wrapped).where(t.data_keys.c.user_id == row.id)).scalar())
        name = self.ctx.vault.decrypt(dk, f"name/{row.id}", row.name_enc).decode()
        email = self.ctx.vault.decrypt(dk, f"email/{row.id}", row.email_enc).decode()
        return User(row.id, row.role, row.institution_id, name, email)

    # --- people ---

    @staticmethod
    def check_new(email: str, password: str, name: str, role: str, institution_id: str | None = None) -> tuple[str, str]:
        """Validate a new account's fields without writing anything; (normalised e-mail, name).

        Multi-step forms (institution onboarding) call it before their first write, so a bad field
        never leaves half of the work done."""
        email, name = normalize_email(email), " ".join(name.split())
        if not 2 <= len(name) <= 200:
            raise MalformedError("name must be 2 to 200 characters")
        if len(password) < 10 or len(password) > 200:
            raise MalformedError("password must be at least 10 characters")
        if role not in ROLES:
            raise MalformedError(f"unknown role {role!r}")
        if (role in STAFF_ROLES) != (institution_id is not None):
            raise MalformedError("staff belong to exactly one institution; others to none")
        return email, name

    def create(self, email: str, password: str, name: str, role: str, institution_id: str | None = None) -> User:
        email, name = self.check_new(email, password, name, role, institution_id)
        return self.create_hashed(email, hash_password(password), name, role, institution_id)

    def create_hashed(self, email: str, pw_hash: str, name: str, role: str, institution_id: str | None = None) -> User:
        """Store an account whose fields ``check_new`` already accepted (a confirmed e-mailed registration
        keeps the Argon2id hash, never the password); ConflictError if the address is taken."""
        index = self.ctx.vault.email_index(email)
        with self.ctx.engine.begin() as conn:
            if conn.execute(sa.select(t.users.c.id).where(t.users.c.email_index == index)).first():
                raise ConflictError("an account with this e-mail already exists")
            uid = conn.execute(
                t.users.insert().values(email_index=index, role=role, institution_id=institution_id, password_hash=pw_hash, created_at=self.ctx.now())
            ).inserted_primary_key[0]
            dk = self.ctx.vault.new_data_key()
            conn.execute(t.data_keys.insert().values(user_id=uid, wrapped=self.ctx.vault.wrap(uid, dk)))
            conn.execute(
                t.users.update()
                .where(t.users.c.id == uid)
                .values(
                    email_enc=self.ctx.vault.encrypt(dk, f"email/{uid}", email.encode()),
                    name_enc=self.ctx.vault.encrypt(dk, f"name/{uid}", name.encode()),
                )
            )
        return User(uid, role, institution_id, name, email)

    def get(self, user_id: int) -> User:
        with self.ctx.engine.begin() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.id == user_id)).first()
            if row is None:
                raise NotFoundError(f"no person {user_id}")
            return self._user(conn, row)

    def email_index(self, email: str) -> str:
        """The look-up key of an address as typed: normalised like at registration, so ``Maria@Example.ORG``
        finds ``maria@example.org``. Control characters are refused (MalformedError); an address the parser
        rejects otherwise is looked up as typed (accounts made before strict validation still sign in)."""
        try:
            email = normalize_email(email)
        except MalformedError:
            if _CONTROL_CHARS.search(email):
                raise
        return self.ctx.vault.email_index(email)

    def find_by_email(self, email: str) -> User | None:
        with self.ctx.engine.begin() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.email_index == self.email_index(email))).first()
            return self._user(conn, row) if row is not None and row.deleted_at is None else None

    def names(self, conn: sa.Connection, user_ids: set[int]) -> dict[int, str]:
        out = {}
        for uid in user_ids:
            row = conn.execute(sa.select(t.users).where(t.users.c.id == uid)).first()
            if row is None or row.deleted_at is not None:
                out[uid] = "—"
            else:
                try:
                    out[uid] = self._user(conn, row).name
                except NotFoundError:
                    out[uid] = "—"
        return out

    def list_staff(self, institution_id: str) -> list[User]:
        with self.ctx.engine.begin() as conn:
            rows = conn.execute(
                sa.select(t.users).where(t.users.c.institution_id == institution_id, t.users.c.deleted_at.is_(None)).order_by(t.users.c.id)
            ).all()
            return [self._user(conn, r) for r in rows]

    def list_all(self) -> list[User]:
        with self.ctx.engine.begin() as conn:
            rows = conn.execute(sa.select(t.users).where(t.users.c.deleted_at.is_(None)).order_by(t.users.c.id)).all()
            return [self._user(conn, r) for r in rows]

    # --- sign-in and sessions ---

    def authenticate(self, email: str, password: str, ip: str) -> User:
        index = self.email_index(email)
        reserved = self.limiter.reserve(index, ip)  # counted before the password is checked
        with self.ctx.engine.begin() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.email_index == index)).first()
        ok = False
        if row is not None and row.password_hash and row.deleted_at is None:
            try:
                ok = _hasher.verify(row.password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                ok = False
        else:
            # Same work for unknown accounts, so timing does not tell which e-mails exist.
            try:
                _hasher.verify(_DUMMY_HASH, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                pass
        if not ok:
            raise AuthorizationError("wrong e-mail or password")
        self.limiter.succeeded(index, ip, reserved)
        return self.get(row.id)

    def open_session(self, user_id: int) -> str:
        token = secrets.token_urlsafe(32)
        now = self.ctx.now()
        with self.ctx.engine.begin() as conn:
            conn.execute(t.sessions.insert().values(token_hash=_token_hash(token), user_id=user_id, created_at=now, expires_at=now + self.ctx.session_seconds))
        return token

    def session_user(self, token: str | None) -> User | None:
        if not token or len(token) > 100:
            return None
        with self.ctx.engine.begin() as conn:
            row = conn.execute(
                sa.select(t.sessions.c.user_id, t.sessions.c.expires_at).where(t.sessions.c.token_hash == _token_hash(token))
            ).first()
            if row is None or row.expires_at <= self.ctx.now():
                return None
            u = conn.execute(sa.select(t.users).where(t.users.c.id == row.user_id)).first()
            if u is None or u.deleted_at is not None:
                return None
            return self._user(conn, u)

    def close_session(self, token: str | None) -> None:
        if token:
            with self.ctx.engine.begin() as conn:
                conn.execute(t.sessions.delete().where(t.sessions.c.token_hash == _token_hash(token)))

    # --- erasure ---

    def erase(self, user_id: int) -> None:
        """Erase a person: ``services/erasure.py`` says what is deleted, cleared and kept, and how."""
        from portfolio_api.services.erasure import Erasure

        Erasure(self.ctx).erase(user_id)


_DUMMY_HASH = _hasher.hash("not a real password, only for timing")
