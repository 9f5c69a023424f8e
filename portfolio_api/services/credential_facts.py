"""What a diploma's QR code opens: the credential's ledger status, and with the QR's secret its verified facts.

Every credential's digest is public (the log's tiles hold them all), so ``/c/<digest>`` shows the ledger
status and nothing personal. The QR code on a diploma PDF points to ``/q/<digest>/<secret>`` instead: the
secret is an HMAC of the digest under a key derived from this node's master key (``Vault.qr_secret``), so
only whoever holds the paper (or the PDF) has it. With it, the page shows what the issuer certified, in
large type, for the person holding the paper to compare with it: holder, achievement, place or result,
date and issuer (``verifier.report.Facts``, the verifier's own structure), plus the ledger status. Without
it, or with a wrong one, the page is ``/c/<digest>``'s: the status only.

The facts come from the credential as this node stores it (encrypted with its holder's data key), taken
only if its SHA-256 is the digest and the ledger anchors that digest: a person's erasure leaves the page
with the status only, as does a credential this node did not issue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa

from ledger.errors import EduledgerError
from portfolio_api.db import tables as t
from portfolio_api.services.context import Ctx
from portfolio_api.services.credentials import Credentials
from portfolio_api.services.documents import CheckResult, Documents
from verifier.credentials import credential_digest, parse_credential
from verifier.facts import facts_of
from verifier.report import Facts

__all__ = ["CredentialFacts", "QrPage"]


@dataclass(frozen=True)
class QrPage:
    """The page behind a QR code: the ledger's ``status``; ``facts`` only with the right secret
    (``secret_ok``) for a credential anchored on the ledger whose data this node still holds."""

    status: CheckResult
    secret_ok: bool
    facts: Facts | None = None


class CredentialFacts:
    def __init__(self, ctx: Ctx, credentials: Credentials, documents: Documents) -> None:
        self.ctx, self.credentials, self.documents = ctx, credentials, documents

    def open(self, digest: str, secret: str) -> QrPage:
        """The page for ``/q/<digest>/<secret>``; MalformedError for a digest that is not 64 hex characters."""
        status = self.documents.check_digest(digest)
        if not self.ctx.vault.qr_secret_matches(digest, secret):
            return QrPage(status, secret_ok=False)
        if digest not in self.ctx.node.log.registry.anchors:
            return QrPage(status, secret_ok=True)
        return QrPage(status, secret_ok=True, facts=self._facts(digest))

    def _facts(self, digest: str) -> Facts | None:
        with self.ctx.engine.begin() as conn:
            row = conn.execute(
                sa.select(t.credentials.c.holder_id, t.credentials.c.credential_enc).where(t.credentials.c.digest == digest)
            ).first()
            if row is None or row.credential_enc is None:
                return None
            try:
                cred = json.loads(self.credentials.accounts.decrypt_for(conn, row.holder_id, "credential", row.credential_enc))
            except EduledgerError:  # the holder's data key was destroyed (erasure)
                return None
        if credential_digest(cred).hex() != digest:
            return None
        try:
            parsed = parse_credential(cred)
        except EduledgerError:
            return None
        return facts_of(parsed, cred, issuer=self.credentials.institution_name(parsed.institution))
