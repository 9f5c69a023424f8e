"""A share link's verified credentials as one signed CLR 2.0 document, and the holder check on the shared page.

Issue 17: an applicant's trajectory as one standard document. ``ClrExport.for_share`` opens a share link
exactly as its page does (``Portfolio.open_share``: unknown, expired and revoked links are refused the same
way, and the opening is logged for the link's owner) and builds a ``ClrCredential`` (``verifier/clr.py``)
of the items the link shows that are verified credentials: anchored on the ledger by their stated issuer,
not revoked or superseded, their stored JSON still the anchored digest. Uploads, credentials awaiting their
anchor, revoked or superseded ones stay out. The embedded credentials are the stored JSON objects, proofs
included, unchanged.

The record is signed by this node's own institution (:meth:`ClrExport.signing_institution`): the node holds
the signing keys of the institutions it runs for (``node.keys.signing``); it signs with the network's
sequencing institution when it holds its key, else with the first (by id) it holds; never with a suspended
one. The issuer is that institution's did:web under the network URL (``ctx.network_url``), whose document
every node serves.

Each download costs an RDF canonicalization of every embedded credential: at most :data:`DOWNLOADS_PER_HOUR`
per link, per process (``services/limits.py``).

``holder_checks`` answers "was this credential issued to the person with this e-mail?" for each credential a
link shows, from its salted, hashed OB 3.0 identifier (``verifier/holder.py``), as the verify page does for
one file: ``match``, ``mismatch``, or ``none`` (the credential names no e-mail).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.errors import AuthorizationError, EduledgerError, NotFoundError
from ledger.tlog.canonical import canonical_digest
from portfolio_api.services.context import Ctx
from portfolio_api.services.credentials import Credentials
from portfolio_api.services.limits import RateLimit
from portfolio_api.services.shares import Item, Portfolio, Share
from verifier.clr import build_clr, prove_clr
from verifier.credentials import parse_credential
from verifier.holder import matches_email, normalise_email

__all__ = ["DOWNLOADS_PER_HOUR", "ClrExport", "holder_checks"]

DOWNLOADS_PER_HOUR = 30


class ClrExport:
    def __init__(self, ctx: Ctx, portfolio: Portfolio, credentials: Credentials) -> None:
        self.ctx, self.portfolio, self.credentials = ctx, portfolio, credentials

    def signing_institution(self) -> tuple[str, str, Any]:
        """(institution id, name, signer) of the institution this node signs records for; AuthorizationError if none."""
        registry, held = self.ctx.node.log.registry, self.ctx.node.keys.signing
        with self.ctx.engine.connect() as conn:
            usable = [i for i in held if i in registry.institutions and not self.credentials.is_suspended(conn, i)]
        if not usable:
            raise AuthorizationError("this node holds the signing key of no active institution, so it cannot sign a record")
        chosen = registry.sequencer if registry.sequencer in usable else min(usable)
        return chosen, registry.institutions[chosen].name, held[chosen]

    def verified_credentials(self, items: Sequence[Item]) -> list[dict[str, Any]]:
        """The stored credential JSON of each verified credential among ``items``, in their order, checked again:
        the JSON's digest is the one anchored, and the anchor's institution is the credential's issuer."""
        anchors = self.ctx.node.log.registry.anchors
        out = []
        for it in items:
            c = it.credential
            if c is None or it.status != "verified" or c.status != "verified":
                continue
            try:
                cred = self.credentials.credential_json(c.id)
            except NotFoundError:  # erased
                continue
            anchor = anchors.get(c.digest)
            if canonical_digest(cred).hex() != c.digest or anchor is None or anchor.institution != c.institution_id:
                continue
            out.append(cred)
        return out

    def for_share(self, token: str, *, viewer: str, user_agent: str) -> tuple[Share, dict[str, Any]]:
        """The signed ClrCredential of what the link ``token`` shows. NotFoundError / ShareGone as for its page;
        NotFoundError when it shows no verified credential; RateLimited past :data:`DOWNLOADS_PER_HOUR`."""
        limit = self.ctx.extra.setdefault("clr_downloads", RateLimit(self.ctx, limit=DOWNLOADS_PER_HOUR, window=3600, what="record downloads of this link"))
        share, owner, items = self.portfolio.open_share(token, viewer=viewer, user_agent=user_agent)
        limit.hit(str(share.id))
        creds = self.verified_credentials(items)
        if not creds:
            raise NotFoundError("this link shows no verified credential to put in a record")
        institution, name, signer = self.signing_institution()
        now = self.ctx.now()
        clr = build_clr(creds, issuer_id=institution, issuer_name=name, holder_name=owner.name, network_url=self.ctx.network_url,
                        issued_at=now, holder_email=owner.email or None, partial=True)
        return share, prove_clr(clr, signer, network_url=self.ctx.network_url, created=now)


MATCH, MISMATCH, NO_EMAIL = "match", "mismatch", "none"


def holder_checks(credentials: Credentials, items: Sequence[Item], email: str) -> dict[str, str]:
    """Item ref -> ``match`` | ``mismatch`` | ``none`` for every credential among ``items`` (uploads have none).
    MalformedError when ``email`` is not an address. The e-mail is compared, never stored or logged."""
    normalise_email(email)
    out = {}
    for it in items:
        if it.credential is None:
            continue
        try:
            identities = parse_credential(credentials.credential_json(it.credential.id)).holder_identities
        except EduledgerError:  # erased, or stored before credentials were parsed this way: nothing to compare
            identities = ()
        found = matches_email(identities, email)
        out[it.ref] = NO_EMAIL if found is None else MATCH if found else MISMATCH
    return out
