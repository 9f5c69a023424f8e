"""Administration: institution staff accounts, API tokens, onboarding and suspending institutions.

API tokens are 256-bit random strings shown once; the database keeps their
SHA-256. A token acts for exactly one institution and stops working the moment
it is revoked.

Onboarding generates the institution's signing and witness keys into the
node's data directory (encrypted with the node passphrase, ``keys/``), loads
them into the running node and registers the institution on the ledger with an
``institution.register`` entry signed by the sequencing institution.

Suspension: the ledger has no entry kind for it yet. It is recorded here (the
portfolio refuses issuance for a suspended institution) and, when this node
holds the institution's signing key, that key is revoked on the ledger
(``key.revoke``, valid until now): credentials issued before keep verifying,
nothing new can be anchored with it. This cannot be undone by un-suspending.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ledger.encoding import b64e
from ledger.entries import INSTITUTION_TYPES, Statement
from ledger.errors import AuthorizationError, ConflictError, MalformedError, NotFoundError
from ledger.log import Rejection
from ledger.timefmt import format_time
from portfolio_api.db import tables as t
from portfolio_api.services import audit
from portfolio_api.services.accounts import Accounts, User
from portfolio_api.services.context import Ctx

TOKEN_PREFIX = "edu_"


@dataclass(frozen=True)
class ApiToken:
    id: int
    institution_id: str
    label: str
    created_at: int
    revoked_at: int | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Admin:
    def __init__(self, ctx: Ctx, accounts: Accounts, data_dir: Path, passphrase: bytes | None) -> None:
        self.ctx, self.accounts, self.data_dir, self._passphrase = ctx, accounts, data_dir, passphrase

    def _actor(self, user: User) -> str:
        return f"{user.role}#{user.id}"

    # --- staff ---

    def create_staff(self, admin: User, *, email: str, password: str, name: str, role: str) -> User:
        if admin.role != "inst_admin":
            raise AuthorizationError("only an institution administrator adds staff")
        if role not in ("staff", "inst_admin"):
            raise MalformedError("role must be staff or inst_admin")
        u = self.accounts.create(email, password, name, role, admin.institution_id)
        with self.ctx.engine.begin() as conn:
            audit.record(conn, at=self.ctx.now(), actor_id=admin.id, actor=self._actor(admin), institution_id=admin.institution_id,
                         action="staff.create", target=f"user:{u.id}", detail=role)
        return u

    # --- API tokens ---

    def create_token(self, admin: User, label: str) -> str:
        if admin.role != "inst_admin" or admin.institution_id is None:
            raise AuthorizationError("only an institution administrator creates API tokens")
        label = label.strip()
        if not 1 <= len(label) <= 200:
            raise MalformedError("give the token a label (1 to 200 characters)")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.ctx.engine.begin() as conn:
            tid = conn.execute(
                t.api_tokens.insert().values(institution_id=admin.institution_id, token_hash=_hash(token), label=label, created_by=admin.id, created_at=self.ctx.now())
            ).inserted_primary_key[0]
            audit.record(conn, at=self.ctx.now(), actor_id=admin.id, actor=self._actor(admin), institution_id=admin.institution_id,
                         action="token.create", target=f"token:{tid}", detail=label)
        return token

    def tokens(self, admin: User) -> list[ApiToken]:
        with self.ctx.engine.begin() as conn:
            rows = conn.execute(sa.select(t.api_tokens).where(t.api_tokens.c.institution_id == admin.institution_id).order_by(t.api_tokens.c.id)).all()
        return [ApiToken(r.id, r.institution_id, r.label, r.created_at, r.revoked_at) for r in rows]

    def revoke_token(self, admin: User, token_id: int) -> None:
        with self.ctx.engine.begin() as conn:
            r = conn.execute(sa.select(t.api_tokens).where(t.api_tokens.c.id == token_id)).first()
            if r is None or r.institution_id != admin.institution_id or admin.role != "inst_admin":
                raise NotFoundError(f"no API token {token_id} in your institution")
            if r.revoked_at is None:
                conn.execute(t.api_tokens.update().where(t.api_tokens.c.id == token_id).values(revoked_at=self.ctx.now()))
                audit.record(conn, at=self.ctx.now(), actor_id=admin.id, actor=self._actor(admin), institution_id=admin.institution_id,
                             action="token.revoke", target=f"token:{token_id}")

    def token_user(self, token: str) -> User:
        """The acting identity of an API token: a staff pseudo-user of its institution."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            raise AuthorizationError("not an eduledger API token")
        h = _hash(token)
        with self.ctx.engine.begin() as conn:
            r = conn.execute(sa.select(t.api_tokens).where(t.api_tokens.c.token_hash == h)).first()
        if r is None or not hmac.compare_digest(r.token_hash, h) or r.revoked_at is not None:
            raise AuthorizationError("API token unknown or revoked")
        return User(id=-r.id, role="staff", institution_id=r.institution_id, name=f"API token {r.label}", email="")

    # --- institutions ---

    def institutions(self) -> list[dict]:
        reg = self.ctx.node.log.registry
        with self.ctx.engine.begin() as conn:
            susp = {r.id: r for r in conn.execute(sa.select(t.institutions))}
        return [
            {"id": i, "name": inst.name, "type": inst.type, "key_here": i in self.ctx.node.keys.signing,
             "suspended": i in susp and susp[i].suspended_at is not None, "suspended_reason": susp[i].suspended_reason if i in susp else None}
            for i, inst in sorted(reg.institutions.items())
        ]

    def onboard(self, admin: User, *, institution_id: str, name: str, type_: str, admin_email: str, admin_password: str, admin_name: str = "") -> User:
        from keys.keyfile import save_signer
        from keys.signer import Signer
        from ledger.datadir import witness_name
        from ledger.note import Verifier

        if admin.role != "net_admin":
            raise AuthorizationError("only the network administrator onboards institutions")
        if type_ not in INSTITUTION_TYPES:
            raise MalformedError(f"type must be one of {', '.join(sorted(INSTITUTION_TYPES))}")
        node = self.ctx.node
        if institution_id in node.log.registry.institutions:
            raise ConflictError(f"institution {institution_id!r} is already registered")
        if self._passphrase is None:
            raise AuthorizationError("this node was started without its key passphrase and cannot store new keys")
        sequencer = node.genesis.sequencer
        if sequencer not in node.keys.signing:
            raise AuthorizationError(f"this node holds no signing key of the sequencing institution {sequencer}")
        if self.accounts.find_by_email(admin_email) is not None:
            raise ConflictError("an account with this e-mail already exists")
        signing, witness = Signer.generate(), Signer.generate()
        wname = witness_name(node.network, institution_id)
        st = Statement(node.network, "institution.register", sequencer, {
            "id": institution_id, "name": name.strip(), "type": type_, "signing_key": b64e(signing.public_key),
            "witness_vkey": Verifier.cosignature(wname, witness.public_key).vkey,
        })  # the Statement constructor checks id, name and type before any key is written
        keys_dir = self.data_dir / "keys"
        keys_dir.mkdir(mode=0o700, exist_ok=True)
        sp, wp = keys_dir / f"{institution_id}.signing.key", keys_dir / f"{institution_id}.witness.key"
        if sp.exists() or wp.exists():
            raise ConflictError(f"key files for {institution_id} already exist in {keys_dir}")
        # Keys first, then the ledger entry: a crash in between leaves unused key files
        # (refused on retry with a clear message), never a registered institution without its key.
        save_signer(sp, signing, self._passphrase, name=institution_id)
        save_signer(wp, witness, self._passphrase, name=wname)
        (res,) = self.ctx.submit(sequencer, [st])
        if isinstance(res, Rejection):
            sp.unlink(missing_ok=True)
            wp.unlink(missing_ok=True)
            raise res.error
        node.keys.signing[institution_id] = signing
        user = self.accounts.create(admin_email, admin_password, admin_name or f"Administrator {name}", "inst_admin", institution_id)
        with self.ctx.engine.begin() as conn:
            audit.record(conn, at=self.ctx.now(), actor_id=admin.id, actor=self._actor(admin), institution_id=institution_id,
                         action="institution.onboard", target=f"institution:{institution_id}", detail=f"ledger index {res.index}")
        return user

    def suspend(self, admin: User, institution_id: str, reason: str) -> None:
        if admin.role != "net_admin":
            raise AuthorizationError("only the network administrator suspends institutions")
        reason = " ".join(reason.split())
        if not 3 <= len(reason) <= 500:
            raise MalformedError("give a reason (3 to 500 characters)")
        node = self.ctx.node
        inst = node.log.registry.institutions.get(institution_id)
        if inst is None:
            raise NotFoundError(f"no institution {institution_id}")
        if institution_id == node.genesis.sequencer:
            raise ConflictError("the sequencing institution cannot be suspended")
        now = self.ctx.now()
        with self.ctx.engine.begin() as conn:
            row = conn.execute(sa.select(t.institutions).where(t.institutions.c.id == institution_id)).first()
            if row is not None and row.suspended_at is not None:
                return
            if row is None:
                conn.execute(t.institutions.insert().values(id=institution_id, suspended_at=now, suspended_reason=reason))
            else:
                conn.execute(t.institutions.update().where(t.institutions.c.id == institution_id).values(suspended_at=now, suspended_reason=reason))
            audit.record(conn, at=now, actor_id=admin.id, actor=self._actor(admin), institution_id=institution_id,
                         action="institution.suspend", target=f"institution:{institution_id}", detail=reason)
        signer = node.keys.signing.get(institution_id)
        if signer is not None:
            period = inst.key(signer.public_key)
            if period is not None and period.valid_until is None:
                st = Statement(node.network, "key.revoke", institution_id, {"key": b64e(signer.public_key), "valid_until": format_time(now), "reason": "other"})
                (res,) = self.ctx.submit(institution_id, [st])
                if isinstance(res, Rejection):
                    raise res.error
