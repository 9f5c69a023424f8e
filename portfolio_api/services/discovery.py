"""Discovery by verified skills: opt-in profiles searched with the database's own full text.

* A profile appears in search only while its owner has opted in: every query
  below joins ``pf_profiles`` and requires ``discoverable`` (tests walk every
  search path with a non-opted-in profile that matches).
* Only ledger-verified items count as evidence (issue 7). The full-text index
  covers ``evidence`` alone: the holder's public credentials whose ledger status
  is valid (kind, title, issuer, year). The headline is the holder's own words:
  shown on the card, labelled as such, never searched; the region is a filter
  column. Uploads the holder reported themselves go to ``self_reported``, shown
  with a label and never searched.
* Russian morphology (issue 18): the index holds ``evidence_lemmas``, the
  evidence lemmatised in Python (``services/morphology.py``), never the word
  forms; ``evidence`` keeps the text shown. Each query word matches, as a
  prefix, any of its lemmas or the word as typed ("физике" → физика*, физик*,
  физике*; "олимп" → олимп*), and every query word is required. Both engines
  get the same normalised tokens, so they find the same profiles (their ranking
  may differ: bm25 and ts_rank).
* SQLite: FTS5 table ``fts_profiles`` (external content, kept by triggers);
  PostgreSQL: generated ``tsvector`` with a GIN index (migrations 0002, 0003, 0006).
* The index never answers with evidence that is gone. A profile is re-indexed
  when saved and by the idle sender when its holder got credentials since; and
  every search re-derives the evidence of each hit: a hit whose stored evidence
  differs from the current one (an item made private, revoked or superseded
  since) is re-indexed at once and the query runs again, so it matches only on
  what is verified now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ledger.errors import AuthorizationError, MalformedError
from portfolio_api.db import tables as t
from portfolio_api.services import morphology
from portfolio_api.services.accounts import User
from portfolio_api.services.context import Ctx
from portfolio_api.services.limits import RateLimit
from portfolio_api.services.opportunities import _facet, dialect_insert

MAX_TERMS = 8
MAX_REPAIR_PASSES = 5  # re-queries after re-indexing stale hits; each pass leaves fewer stale rows


@dataclass(frozen=True)
class Card:
    user_id: int
    name: str
    role: str
    region: str
    headline: str  # the holder's own words: shown labelled, never searched
    evidence: tuple[str, ...]  # verified on the ledger
    self_reported: tuple[str, ...]  # labelled as such


def terms(query: str) -> list[str]:
    """The query's words, normalised like the index (``morphology.words``); a hyphenated word counts as its parts."""
    found = morphology.words(query)
    if len(found) > MAX_TERMS:
        raise MalformedError(f"at most {MAX_TERMS} search words")
    return [w[:40] for w in found]


def alternatives(word: str) -> list[str]:
    """What one query word matches as a prefix: its lemmas, then the word as typed (a half-typed "победит" is no form of "победитель")."""
    return list(dict.fromkeys((*morphology.word_lemmas(word), word)))


class Discovery:
    def __init__(self, ctx: Ctx, accounts: Any, portfolio: Any) -> None:
        self.ctx, self.accounts, self.portfolio = ctx, accounts, portfolio
        self.search_limit = RateLimit(ctx, limit=60, window=60, what="searches")

    # --- the holder's side ---

    def profile(self, person: User) -> sa.Row | None:
        with self.ctx.engine.connect() as conn:
            return conn.execute(sa.select(t.profiles).where(t.profiles.c.user_id == person.id)).first()

    def set_profile(self, person: User, *, discoverable: bool, region: str = "", headline: str = "") -> None:
        if not person.is_holder:
            raise AuthorizationError("only students and teachers have a discoverable profile")
        region = _facet(region, "region", 80)
        headline = " ".join(headline.split())
        if len(headline) > 300:
            raise MalformedError("the headline must be at most 300 characters")
        with self.ctx.engine.begin() as conn:
            ins = dialect_insert(conn, t.profiles).values(user_id=person.id, discoverable=discoverable, region=region, headline=headline)
            conn.execute(ins.on_conflict_do_update(index_elements=["user_id"], set_={"discoverable": discoverable, "region": region, "headline": headline}))
        self.refresh(person.id)

    def _texts(self, user_id: int) -> tuple[list[str], list[str]]:
        evidence, self_reported = [], []
        for it in self.portfolio.timeline(user_id, public_only=True):
            line = f"{it.kind} · {it.title} · {it.issuer} · {it.date[:4]}".strip(" ·")
            if it.status == "verified":
                evidence.append(line)
            elif it.status in ("self_reported", "awaiting"):
                self_reported.append(line)
        return evidence, self_reported

    def refresh(self, user_id: int) -> None:
        """Re-index one profile from the holder's current, public, verified items."""
        evidence, self_reported = self._texts(user_id)
        indexed = " ".join(morphology.lemmas("\n".join(evidence)))  # before the write lock: the first call loads the dictionary
        with self.ctx.engine.begin() as conn:
            conn.execute(t.profiles.update().where(t.profiles.c.user_id == user_id).values(
                evidence="\n".join(evidence), evidence_lemmas=indexed,
                self_reported="\n".join(self_reported), verified_count=len(evidence), indexed_at=self.ctx.now()))

    def refresh_stale(self, limit: int = 200) -> int:
        """Re-index discoverable profiles never lemmatised (NULL since migration 0006: these first) or whose holders
        received credentials since they were last indexed."""
        p, c = t.profiles.c, t.credentials.c
        with self.ctx.engine.connect() as conn:
            ids = list(conn.execute(
                sa.select(p.user_id).where(p.discoverable == sa.true(), sa.or_(
                    p.evidence_lemmas.is_(None), sa.exists().where(c.holder_id == p.user_id, c.issued_at >= p.indexed_at)))
                .order_by(p.evidence_lemmas.is_not(None), p.user_id).limit(limit)
            ).scalars())
        for uid in ids:
            self.refresh(uid)
        return len(ids)

    # --- the institution's side ---

    def search(self, staff: User, query: str = "", *, region: str = "", limit: int = 20, rate_key: str | None = None) -> list[Card]:
        """Discoverable profiles matching every word of ``query`` in their verified evidence (and region)."""
        if not staff.is_staff:
            raise AuthorizationError("institutions search discoverable profiles")
        terms(query)  # a malformed query is refused before it counts against the limit
        self.search_limit.hit(rate_key or f"u:{staff.id}")
        cards: list[Card] = []
        for _ in range(MAX_REPAIR_PASSES):
            cards, stale = [], []
            for uid in self.search_ids(query, region=region, limit=limit):
                card, current = self._checked_card(uid)
                (cards if current else stale).append(card)
            if not stale:
                return cards
            for card in stale:  # matched on evidence that is no longer verified (or public): re-index, ask again
                self.refresh(card.user_id)
        return cards  # only hits whose index matched their current evidence

    def search_ids(self, query: str = "", *, region: str = "", limit: int = 20) -> list[int]:
        words = terms(query)
        region = _facet(region, "region", 80)
        limit = max(1, min(limit, 100))
        p = t.profiles.c
        with self.ctx.engine.connect() as conn:
            if not words:
                q = sa.select(p.user_id).where(p.discoverable == sa.true())
                if region:
                    q = q.where(p.region == region)
                return list(conn.execute(q.order_by(p.verified_count.desc(), p.user_id).limit(limit)).scalars())
            groups = [alternatives(w) for w in words]
            if conn.dialect.name == "postgresql":
                tsq = " & ".join("(" + " | ".join(f"{a}:*" for a in group) + ")" for group in groups)
                sql = ("SELECT p.user_id FROM pf_profiles p WHERE p.discoverable AND p.tsv @@ to_tsquery('simple', :q)"
                       + (" AND p.region = :region" if region else "")
                       + " ORDER BY ts_rank(p.tsv, to_tsquery('simple', :q)) DESC, p.user_id LIMIT :lim")
                return list(conn.execute(sa.text(sql), {"q": tsq, "region": region, "lim": limit}).scalars())
            match = " AND ".join("(" + " OR ".join(f'"{a}"*' for a in group) + ")" for group in groups)
            sql = ("SELECT p.user_id FROM fts_profiles f JOIN pf_profiles p ON p.user_id = f.rowid "
                   "WHERE fts_profiles MATCH :q AND p.discoverable = 1"
                   + (" AND p.region = :region" if region else "")
                   + " ORDER BY bm25(fts_profiles), p.user_id LIMIT :lim")
            return list(conn.execute(sa.text(sql), {"q": match, "region": region, "lim": limit}).scalars())

    def card(self, user_id: int) -> Card:
        return self._checked_card(user_id)[0]

    def _checked_card(self, user_id: int) -> tuple[Card, bool]:
        """The card from the holder's current items, and whether the index still holds exactly that evidence."""
        person = self.accounts.get(user_id)
        with self.ctx.engine.connect() as conn:
            row = conn.execute(sa.select(t.profiles).where(t.profiles.c.user_id == user_id)).one()
        evidence, self_reported = self._texts(user_id)
        card = Card(user_id, person.name, person.role, row.region, row.headline, tuple(evidence), tuple(self_reported))
        return card, row.evidence == "\n".join(evidence) and row.verified_count == len(evidence)
