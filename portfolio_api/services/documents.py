"""Downloadable documents of a verified credential: its bundle and its PDF, and checking them.

Bundles are built by ``ledger.bundles.build_bundle`` (credentials engineer)
once a final (cosigned) checkpoint covers the anchor; until that module is in
the build, an interim bundle (the credential and its anchor index) is served
and checked against this node's ledger state only.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from ledger.canonical import canonical_digest
from ledger.errors import EduledgerError, FetchError, MalformedError, NotFoundError
from portfolio_api.db import tables as t
from portfolio_api.services.accounts import Accounts, User
from portfolio_api.services.context import Ctx
from portfolio_api.services.credentials import Credentials

INTERIM_FORMAT = "eduledger-credential-interim/v1"


@dataclass
class CheckResult:
    ok: bool
    status: str = ""  # verified | revoked | superseded | failed | awaiting
    title: str = ""
    holder: str = ""
    issuer: str = ""
    digest: str = ""
    reasons: list[str] = field(default_factory=list)


def _bundles_module():
    try:
        from ledger import bundles  # type: ignore[attr-defined]
    except ImportError:
        return None
    return bundles


class Documents:
    def __init__(self, ctx: Ctx, accounts: Accounts, credentials: Credentials) -> None:
        self.ctx, self.accounts, self.credentials = ctx, accounts, credentials

    # --- bundles ---

    def _own_verified(self, holder: User, credential_id: str):
        c = self.credentials.get(credential_id)
        if c.holder_id != holder.id:
            raise NotFoundError(f"no credential {credential_id} in your portfolio")
        if c.anchor_index is None:
            raise NotFoundError("this credential is not anchored on the ledger yet")
        return c

    def bundle_for_holder(self, holder: User, credential_id: str) -> bytes:
        self._own_verified(holder, credential_id)
        return self.bundle(credential_id)

    def bundle(self, credential_id: str, *, wait_seconds: float = 10.0) -> bytes:
        c = self.credentials.get(credential_id)
        with self.ctx.engine.begin() as conn:
            cached = conn.execute(sa.select(t.credentials.c.bundle_enc).where(t.credentials.c.id == credential_id)).scalar()
            if cached is not None:
                return self.accounts.decrypt_for(conn, c.holder_id, "bundle", cached)
        cred = self.credentials.credential_json(credential_id)
        mod = _bundles_module()
        if mod is None:
            return json.dumps({"format": INTERIM_FORMAT, "network": self.ctx.network, "credential": cred, "anchor_index": c.anchor_index},
                              ensure_ascii=False, indent=1).encode()
        node = self.ctx.node
        deadline = time.monotonic() + wait_seconds
        while True:
            final = node.store.latest_final()
            if final is not None and final[0] > c.anchor_index:
                break
            if time.monotonic() > deadline:
                raise FetchError("no cosigned checkpoint covers this credential yet; try again in a moment")
            time.sleep(0.05)
        data = mod.build_bundle(credential=cred, index=c.anchor_index, tree=node.log.tree, store=node.store,
                                registry=node.log.registry, checkpoint=final[1])
        data = data if isinstance(data, bytes) else json.dumps(data).encode()
        with self.ctx.engine.begin() as conn:
            conn.execute(t.credentials.update().where(t.credentials.c.id == credential_id).values(
                bundle_enc=self.accounts.encrypt_for(conn, c.holder_id, "bundle", data)))
        return data

    # --- PDF ---

    def pdf_for_holder(self, holder: User, credential_id: str, *, base_url: str) -> bytes:
        c = self._own_verified(holder, credential_id)
        from portfolio_api.pdf import render_credential_pdf

        cred = self.credentials.credential_json(credential_id)
        return render_credential_pdf(
            holder=cred["credentialSubject"]["name"], title=c.title, kind=c.kind, issuer=c.institution_name, achieved_on=c.achieved_on,
            digest=c.digest, verify_url=f"{base_url.rstrip('/')}/c/{c.digest}", bundle=self.bundle(credential_id),
        )

    # --- checking ---

    def check_digest(self, digest: str) -> CheckResult:
        """What the ledger says about a digest (the page a diploma's QR code opens). No personal data."""
        reg = self.ctx.node.log.registry
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise MalformedError("a credential digest is 64 lowercase hex characters")
        status = reg.status(digest)
        res = CheckResult(ok=status == "valid", digest=digest)
        res.status = {"valid": "verified", "revoked": "revoked", "superseded": "superseded", "unknown": "failed"}[status]
        anchor = reg.anchors.get(digest)
        if anchor is None:
            res.reasons.append("this digest is not anchored on the ledger")
            return res
        res.issuer = self.credentials.institution_name(anchor.institution)
        res.reasons.append(f"anchored at ledger index {anchor.index} by {res.issuer}")
        if (rev := reg.revocations.get(digest)) is not None:
            res.reasons.append(f"revoked at ledger index {rev.index} (reason: {rev.reason})")
        if (sup := reg.supersessions.get(digest)) is not None:
            res.reasons.append(f"superseded by {sup.by} at ledger index {sup.index}")
        return res

    def check_file(self, data: bytes) -> CheckResult:
        """Check a bundle (JSON) or a diploma PDF carrying one."""
        if data.startswith(b"%PDF-"):
            from verifier.pdf import extract_bundle

            try:
                data = extract_bundle(data)
            except MalformedError as e:
                return CheckResult(False, "failed", reasons=[str(e)])
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return CheckResult(False, "failed", reasons=["the file is neither a credential bundle (JSON) nor a diploma PDF"])
        full = self._full_verify(data)
        cred = doc.get("credential") if isinstance(doc, dict) else None
        if not isinstance(cred, dict):
            return full or CheckResult(False, "failed", reasons=["the bundle carries no credential"])
        try:
            digest = canonical_digest(cred).hex()
        except EduledgerError as e:
            return CheckResult(False, "failed", reasons=[str(e)])
        res = self.check_digest(digest)
        if res.status == "failed":
            res.reasons.insert(0, "the credential's digest is not on the ledger: the document was altered or never issued")
        try:
            res.title = str(cred.get("name", ""))
            res.holder = str(cred["credentialSubject"].get("name", ""))
            res.issuer = str(cred["issuer"].get("name", "")) or res.issuer
        except (KeyError, AttributeError, TypeError):
            pass
        if full is not None:
            res.reasons = full.reasons + res.reasons
            if not full.ok:
                res.ok, res.status = False, "failed"
        return res

    def _full_verify(self, data: bytes) -> CheckResult | None:
        """Offline verification by the verifier library, when it is in the build (None if not)."""
        try:
            import verifier
            from verifier.trust import TrustPolicy  # type: ignore[import-not-found]
        except ImportError:
            return None
        if not hasattr(verifier, "verify"):
            return None
        try:
            trust = TrustPolicy.from_registry(self.ctx.node.genesis, self.ctx.node.log.registry)  # type: ignore[attr-defined]
            report = verifier.verify(data, trust, now=self.ctx.now())
        except EduledgerError as e:
            return CheckResult(False, "failed", reasons=[f"offline verification failed: {e}"])
        except Exception as e:  # the verifier's API may differ from what we expect: report, do not crash the page
            return CheckResult(False, "failed", reasons=[f"offline verification could not run: {e}"])
        ok = bool(getattr(report, "ok", True))
        return CheckResult(ok, "verified" if ok else "failed", reasons=["offline verification: " + ("passed" if ok else str(report))])
