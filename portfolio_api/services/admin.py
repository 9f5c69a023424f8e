"""Administration: institution staff accounts, API tokens, onboarding and suspending institutions.

API tokens are 256-bit random strings shown once; the database keeps their
SHA-256. A token acts for exactly one institution and stops working the moment
it is revoked.

Onboarding generates the institution's signing and witness keys into the
node's data directory (encrypted with the node passphrase, ``keys/``), loads
them into the running node and registers the institution on the ledger with an
``institution.register`` entry signed by the sequencing institution.

Suspension goes on the ledger, through the existing entry kinds, so that every
node and every offline verifier replaying the log sees it:

* a member institution (a founder or one added by governance) is suspended by
  governance (ledger/model/governance.py): this node's own member institution (the
  sequencing one if its key is here) proposes ``institution.suspend`` — or, if
  another node proposed it already, approves it. It takes effect on the ledger
  at the approval that reaches the quorum in force: every key of the
  institution ends and its witness stops counting. One vote per node: a node
  that holds several members' keys (a demo) still votes once.
* when this node holds the institution's own signing key (it was onboarded
  here), that key is also revoked at once (``key.revoke``, valid until now,
  signed by the institution itself): nothing new can be anchored with it.

Credentials issued before keep verifying (keys are judged at issue time).
Neither step can be undone. Write order: ledger first, then the local record
(issuance refused here at once) and the audit line; a crash in between is
repaired by suspending again, which finds the entries already on the ledger and
submits nothing twice. A suspension this node cannot put on the ledger at all
(no member key to vote with, the institution's key not here) is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ledger.errors import AuthorizationError, ConflictError, MalformedError, NotFoundError
from ledger.model.entries import INSTITUTION_TYPES, Statement
from ledger.model.receipts import Rejection
from ledger.tlog.encoding import b64e
from ledger.tlog.timefmt import format_time
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
             "suspended": i in susp and susp[i].suspended_at is not None, "suspended_reason": susp[i].suspended_reason if i in susp else None,
             "ledger": self.suspension_state(i)}
            for i, inst in sorted(reg.institutions.items())
        ]

    def onboard(self, admin: User, *, institution_id: str, name: str, type_: str, admin_email: str, admin_password: str, admin_name: str = "") -> User:
        from keys.keyfile import save_signer
        from keys.signer import Signer
        from ledger.node.datadir import witness_name
        from ledger.tlog.note import Verifier

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
        # Every field is checked before the first write: no key file, no ledger entry for an institution
        # whose administrator could not be created.
        self.accounts.check_new(admin_email, admin_password, admin_name or f"Administrator {name}", "inst_admin", institution_id)
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

    def suspend(self, admin: User, institution_id: str, reason: str) -> list[int]:
        """Suspend an institution on the ledger (see the module docstring). Returns the new ledger indices."""
        if admin.role != "net_admin":
            raise AuthorizationError("only the network administrator suspends institutions")
        reason = " ".join(reason.split())
        if not 3 <= len(reason) <= 500:
            raise MalformedError("give a reason (3 to 500 characters)")
        node = self.ctx.node
        reg = node.log.registry
        inst = reg.institutions.get(institution_id)
        if inst is None:
            raise NotFoundError(f"no institution {institution_id}")
        if institution_id == reg.sequencer:
            raise ConflictError("the sequencing institution cannot be suspended")
        now = self.ctx.now()
        with self.ctx.engine.begin() as conn:
            row = conn.execute(sa.select(t.institutions).where(t.institutions.c.id == institution_id)).first()
        if row is not None and row.suspended_at is not None:
            return []  # done before: the ledger entries precede the local record
        indices: list[int] = []
        on_ledger = False
        if institution_id in reg.members():
            vote = self._governance_vote(institution_id)
            if vote is not None:
                voter, st = vote
                indices.append(self._submit(voter, st))
            on_ledger = on_ledger or vote is not None or self._voted(institution_id)
        signer = node.keys.signing.get(institution_id)
        if signer is not None:
            period = inst.key(signer.public_key)
            if period is not None and period.valid_until is None:
                st = Statement(node.network, "key.revoke", institution_id, {"key": b64e(signer.public_key), "valid_until": format_time(now), "reason": "other"})
                indices.append(self._submit(institution_id, st))
            on_ledger = on_ledger or period is not None
        if not on_ledger:
            raise ConflictError(f"this node cannot put a suspension of {institution_id} on the ledger: it holds no key of a member institution "
                                f"to vote with and not the key of {institution_id}; suspend it from a member's node")
        with self.ctx.engine.begin() as conn:
            if row is None:
                conn.execute(t.institutions.insert().values(id=institution_id, suspended_at=now, suspended_reason=reason))
            else:
                conn.execute(t.institutions.update().where(t.institutions.c.id == institution_id).values(suspended_at=now, suspended_reason=reason))
            audit.record(conn, at=now, actor_id=admin.id, actor=self._actor(admin), institution_id=institution_id,
                         action="institution.suspend", target=f"institution:{institution_id}",
                         detail=f"{reason} (ledger index {', '.join(map(str, indices))})" if indices else reason)
        return indices

    def is_suspended(self, institution_id: str) -> bool:
        """Suspended here (issuance refused) or, by governance, on the ledger (every node replaying it agrees)."""
        if institution_id in self.ctx.node.log.registry.governance.suspended:
            return True
        with self.ctx.engine.connect() as conn:
            return conn.execute(sa.select(t.institutions.c.id).where(t.institutions.c.id == institution_id,
                                                                     t.institutions.c.suspended_at.is_not(None))).first() is not None

    # --- suspension by governance ---

    def _voter(self, target: str) -> str | None:
        """This node's one vote: the sequencing institution if its key is here, else the first member whose key is."""
        reg, held = self.ctx.node.log.registry, self.ctx.node.keys.signing
        members = reg.members()
        for candidate in (reg.sequencer, *sorted(members)):
            if candidate != target and candidate in members and candidate in held:
                return candidate
        return None

    def _voted(self, target: str) -> bool:
        p = self.ctx.node.log.registry.governance.proposals.get(suspension_proposal(target))
        voter = self._voter(target)
        return p is not None and (p.enacted_index is not None or (voter is not None and voter in p.approvals))

    def _governance_vote(self, target: str) -> tuple[str, Statement] | None:
        """The governance entry this node adds for suspending ``target``: a proposal, an approval, or None."""
        voter = self._voter(target)
        if voter is None or self._voted(target):
            return None
        pid = suspension_proposal(target)
        network = self.ctx.node.network
        if pid in self.ctx.node.log.registry.governance.proposals:
            return voter, Statement(network, "governance.approve", voter, {"proposal": pid})
        return voter, Statement(network, "governance.propose", voter, {"proposal": pid, "action": "institution.suspend", "params": {"id": target}})

    def _submit(self, institution: str, st: Statement) -> int:
        (res,) = self.ctx.submit(institution, [st])
        if isinstance(res, Rejection):
            raise res.error
        return res.index

    def suspension_state(self, institution_id: str) -> dict:
        """What the ledger says: suspended by governance, a proposal with its approvals, keys ended."""
        reg = self.ctx.node.log.registry
        p = reg.governance.proposals.get(suspension_proposal(institution_id))
        inst = reg.institutions.get(institution_id)
        return {
            "suspended": institution_id in reg.governance.suspended,
            "proposed": p is not None and p.enacted_index is None,
            "approvals": len(p.approvals) if p is not None else 0,
            "quorum": reg.governance.quorum,
            "keys_ended": inst is not None and all(k.valid_until is not None for k in inst.keys),
        }


def suspension_proposal(institution_id: str) -> str:
    """The governance proposal id for suspending an institution: the same on every node, so a second
    node's suspension approves the first node's proposal instead of proposing again."""
    pid = f"suspend-{institution_id}"
    return pid if len(pid) <= 64 else f"suspend-{hashlib.sha256(institution_id.encode()).hexdigest()[:32]}"
