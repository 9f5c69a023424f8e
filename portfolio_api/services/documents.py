"""Downloadable documents of a verified credential: its bundle and its PDF, and checking them.

Bundles are built by ``ledger.model.bundles.build_bundle`` once a final (cosigned)
checkpoint covers the anchor. Checking runs the verifier library
(:func:`verifier.document.verify_document`) against the trust policy this node
derives from its genesis file and replayed ledger: the same numbered report as
``eduledger verify --json``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ledger.errors import MalformedError, NotFoundError
from ledger.model.issuance import final_bundle
from portfolio_api.db import tables as t
from portfolio_api.services.accounts import Accounts, User
from portfolio_api.services.context import Ctx
from portfolio_api.services.credentials import Credentials
from verifier.document import verify_document
from verifier.report import FAILED, SKIPPED, WARNING, Report
from verifier.trust import TrustPolicy
from verifier.verify import CheckpointCache

#: Report statuses the page has a badge for; the others (expired, fork, ...) show as failed with the reason.
PAGE_STATUSES = frozenset({"verified", "revoked", "superseded", "failed"})


@dataclass
class CheckResult:
    ok: bool
    status: str = ""  # verified | revoked | superseded | failed | awaiting
    title: str = ""
    holder: str = ""
    issuer: str = ""
    digest: str = ""
    reasons: list[str] = field(default_factory=list)
    #: The verified facts (``verifier.report.Facts``; None when steps 1-7 did not pass): what the page leads with.
    facts: Any = None
    #: A PDF's printed page against the facts (``verifier.report.PrintedCheck``), None for a bundle.
    printed: Any = None
    #: Every step of the verifier as (number, name, status, message): the page shows each in words and
    #: folds the verifier's own (English, technical) message away.
    steps: list[tuple[int, str, str, str]] = field(default_factory=list)


def qr_url(base_url: str, digest: str, vault: Any) -> str:
    """What a diploma's QR code encodes: ``<base>/q/<digest>/<secret>``, the secret derived from the node's
    master key (``Vault.qr_secret``; docs/formats.md, "Diploma PDFs"; the page: services/credential_facts.py)."""
    return f"{base_url.rstrip('/')}/q/{digest}/{vault.qr_secret(digest)}"


class Documents:
    def __init__(self, ctx: Ctx, accounts: Accounts, credentials: Credentials) -> None:
        self.ctx, self.accounts, self.credentials = ctx, accounts, credentials
        # The verifier's state for as long as the ledger does not change: (Log.state, trust policy,
        # checkpoint cache). One lock: the cache is one verifier's memory, used by one call at a time.
        self._verifier: tuple[tuple[int, int], TrustPolicy, CheckpointCache] | None = None
        self._verifying = threading.Lock()

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
        if c.anchor_index is None:
            raise NotFoundError("this credential is not anchored on the ledger yet")
        cred = self.credentials.credential_json(credential_id)
        doc = final_bundle(self.ctx.node, cred, c.anchor_index, wait_seconds=wait_seconds)
        data = json.dumps(doc, ensure_ascii=False, indent=1).encode()  # names readable in a text editor
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
            digest=c.digest, verify_url=qr_url(base_url, c.digest, self.ctx.vault), bundle=self.bundle(credential_id),
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

    def trust(self) -> TrustPolicy:
        """The network's trust policy as this node knows it (what ``eduledger network export-trust`` writes)."""
        node = self.ctx.node
        return TrustPolicy.from_genesis(node.genesis, node.log.registry, as_of=self.ctx.now(), roster_size=node.log.size)

    def verify_documents(self, datas: Sequence[bytes], *, holder_email: str | None = None, check_proof: bool = False) -> list[Report]:
        """The verifier's report on each bundle or diploma PDF, in order, as ``eduledger verify`` gives it.

        The node is one verifier: one trust policy and one checkpoint cache serve
        every call until the ledger changes (``Log.state``; then both are rebuilt from it). So a
        checkpoint's signatures are verified once, not once per request, and two
        documents showing different roots for one log size, in one call or in two,
        are reported as a fork, with both checkpoints as evidence.
        """
        with self._verifying:
            return self._verify(datas, holder_email=holder_email, check_proof=check_proof)

    def verify_now(self, datas: Sequence[bytes]) -> list[Report] | None:
        """:meth:`verify_documents` if the verifier is free this instant, else None (never waits:
        the event loop calls this for a single bundle)."""
        if not self._verifying.acquire(blocking=False):
            return None
        try:
            return self._verify(datas)
        finally:
            self._verifying.release()

    def _verify(self, datas: Sequence[bytes], *, holder_email: str | None = None, check_proof: bool = False) -> list[Report]:
        now = self.ctx.now()
        state = self.ctx.node.log.state
        if self._verifier is None or self._verifier[0] != state:
            trust = self.trust()
            self._verifier = (state, trust, CheckpointCache(trust))
        _, trust, seen = self._verifier
        return [verify_document(data, trust, now=now, seen=seen, holder_email=holder_email, check_proof=check_proof) for data in datas]

    def check_file(self, data: bytes, *, holder_email: str | None = None) -> CheckResult:
        """The web page's summary of one bundle or diploma PDF: the verifier's report — with the issuer's
        Data Integrity proof checked, and the holder against ``holder_email`` when one is given — then what
        the ledger says now about its digest (a revocation after the bundle was made shows up here)."""
        (report,) = self.verify_documents([data], holder_email=holder_email or None, check_proof=True)
        res = CheckResult(report.ok, report.status if report.status in PAGE_STATUSES else "failed", title=report.title or "",
                          holder=report.holder or "", issuer=report.issuer or "", digest=report.digest or "",
                          facts=report.facts, printed=report.printed, steps=[(s.number, s.name, s.status, s.message) for s in report.steps])
        res.reasons = [f"step {s.number} ({s.name}): {s.message}" for s in report.steps if s.status in (FAILED, WARNING)]
        for label, check in (("holder", report.holder_check), ("proof", report.proof_check)):
            if check is not None and check.status != SKIPPED:
                res.reasons.append(f"{label}: {check.message}")
        if report.ok:
            res.reasons.insert(0, "offline verification: passed")
        if report.step("digest").status == FAILED:
            res.reasons.insert(0, "the credential's digest is not on the ledger: the document was altered or never issued")
        elif report.digest:
            now = self.check_digest(report.digest)
            res.reasons += now.reasons
            if not now.ok:
                res.ok, res.status = False, now.status
        return res
