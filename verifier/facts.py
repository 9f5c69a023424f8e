"""The verified facts of a credential, and a diploma PDF's printed text compared with them (pure).

A diploma PDF carries its credential as an embedded bundle (``verifier/pdf.py``): the verifier confirms
that bundle and nothing else. The page itself is whatever its maker printed, so a PDF printing
"ПОБЕДИТЕЛЬ (1 место)" with a genuine "2 место" bundle attached verifies. What a person must be shown
is *what was verified* (:func:`facts_of`, ``Report.facts``) and that the page must match it.

Where the page has a text layer, :func:`compare_printed` reads it as a helper, never as evidence: it
warns when the page does not name the verified holder or title, or names a place or result the
credential does not (``1 место``, ``победитель`` on a ``2`` / ``prize-winner`` credential). Text is
compared after normalising case, whitespace, ``ё``/``е``, dashes and quotes. Finding no difference is
never presented as a confirmation: whoever made the PDF wrote its text layer, and can make it say
anything while the page shows something else.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from ledger.tlog.timefmt import format_time
from verifier.credentials import ParsedCredential
from verifier.report import DIFFERS, NO_DIFFERENCE_FOUND, NOT_COMPARED, Difference, Facts, PrintedCheck

__all__ = ["PLACE_NAMES", "compare_printed", "facts_of", "normalise", "place_claims"]

#: A place or result in words, for messages (the codes are ``verifier.credentials.PLACES``).
PLACE_NAMES = {"1": "1st place", "2": "2nd place", "3": "3rd place", "winner": "winner", "prize-winner": "prize-winner",
               "participant": "participant"}  # fmt: skip
#: Fewer letters than this in a PDF's text layer: nothing readable to compare (a scan, or text drawn as curves).
MIN_LETTERS = 3


@lru_cache(maxsize=4096)
def _day(t: int) -> str:
    return format_time(t)[:10]  # a cohort repeats a few issue times


def _date_of(value: object) -> str | None:
    """The YYYY-MM-DD of an RFC 3339 date-time the credential gives (``activityEndDate``), if it is one."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


def facts_of(cred: ParsedCredential, credential: Mapping[str, Any], *, issuer: str | None = None) -> Facts:
    """The facts ``cred`` (parsed from ``credential``, its JSON) certifies. ``issuer``: the institution's
    name as the trust file's roster has it; the credential's own ``issuer.name`` without one."""
    subject = credential.get("credentialSubject")
    end = _date_of(subject.get("activityEndDate")) if isinstance(subject, Mapping) else None
    issued_on = _day(cred.valid_from)
    f = cred.fields
    return Facts(
        holder=cred.holder_name,
        title=cred.title,
        kind=cred.kind,
        issuer=issuer or cred.issuer_name,
        issuer_id=cred.institution,
        date=end or issued_on,
        issued_on=issued_on,
        place=f.get("place") if cred.kind == "olympiad-diploma" else None,
        stage=f.get("stage") if cred.kind in ("olympiad-diploma", "participation") else None,
        hours=f.get("hours") if cred.kind == "teacher-pd" else None,
    )


# --- the printed text -----------------------------------------------------------------------

_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")
_DASHES = re.compile("[\u2010-\u2015\u2212]")
_QUOTES = re.compile("[\"'«»„“”‘’‚‹›]")


def normalise(text: str) -> str:
    """``text`` for comparing: NFKC, case-folded, ``ё`` as ``е``, one kind of dash, no quotes, single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    text = _DASHES.sub("-", _INVISIBLE.sub("", text))
    return " ".join(_QUOTES.sub("", text).split())


_ORDINALS = {"перв": "1", "втор": "2", "трет": "3", "first": "1", "second": "2", "third": "3", "i": "1", "ii": "2", "iii": "3"}
#: (pattern over normalised text, the place it claims: a code, or None for the number it captures).
#: In this order, each match blanked before the next pattern looks: "призер-победитель" is two claims,
#: "prize-winner" is not also a "winner".
_PLACE_PATTERNS: tuple[tuple[re.Pattern[str], str | None], ...] = (
    (re.compile(r"\b(?:prize-? ?winner|runner-? ?up)"), "prize-winner"),
    (re.compile(r"\bпризер\w*"), "prize-winner"),
    (re.compile(r"\bпобедител\w*"), "winner"),
    (re.compile(r"\bwinner\w*"), "winner"),
    (re.compile(r"\bучастни[кц]\w*"), "participant"),
    (re.compile(r"\bparticipant\w*"), "participant"),
    (re.compile(r"\b(\d{1,3}) ?(?:-? ?(?:е|ое|й|ый|ой|st|nd|rd|th)\b)? ?(?:место|места|месте|place)\b"), None),
    (re.compile(r"\b(перв|втор|трет)\w* (?:место|места|месте)\b"), None),
    (re.compile(r"\b(first|second|third|i{1,3}) (?:место|места|месте|place)\b"), None),
    (re.compile(r"\b(?:место|place) ?(?:№|no\.?|#)? ?(\d{1,3})\b"), None),
)


def place_claims(text: str) -> list[tuple[str, str]]:
    """The places or results ``text`` (normalised) claims: (code, the words that claim it), in the order found."""
    found: list[tuple[int, str, str]] = []
    for pattern, code in _PLACE_PATTERNS:
        for m in pattern.finditer(text):
            claim = code or (str(int(m.group(1))) if m.group(1).isdigit() else _ORDINALS[m.group(1)])
            found.append((m.start(), claim, m.group(0)))
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)  # blanked, keeping the offsets
    return [(claim, words) for _, claim, words in sorted(found)]


def _agrees(claim: str, verified: set[str]) -> bool:
    """A place the page claims is one the credential certifies: the same, or what it implies (an
    olympiad's winner holds 1st place, 2nd and 3rd places are prize-winners)."""
    if claim in verified:
        return True
    implied = {"winner": {"1"}, "1": {"winner"}, "prize-winner": {"2", "3"}}
    return bool(implied.get(claim, set()) & verified)


def _names_holder(page: str, holder: str) -> bool:
    """The holder's name is on the page: as given, or its words in another order ("Мария Иванова" / "Иванова Мария")."""
    if holder in page:
        return True
    want, words = sorted(holder.split()), page.split()
    return any(sorted(words[i : i + len(want)]) == want for i in range(len(words) - len(want) + 1))


def compare_printed(facts: Facts | None, text: str | None, problem: str | None = None) -> PrintedCheck:
    """What a PDF's printed ``text`` (its text layer; None with ``problem`` when it could not be read) says
    against the verified ``facts`` (None: the credential did not verify)."""
    if facts is None:
        return PrintedCheck(NOT_COMPARED, "the printed text could not be compared: the credential did not verify, so there are no verified facts to compare it with")
    if text is None:
        return PrintedCheck(NOT_COMPARED, f"the printed text could not be compared: {problem or 'the PDF has no text layer'}")
    page = normalise(text)
    if sum(ch.isalpha() for ch in page) < MIN_LETTERS:
        return PrintedCheck(NOT_COMPARED, "the printed text could not be compared: the PDF has no readable text layer (a scan, or text drawn as shapes)")
    differences: list[Difference] = []
    if not _names_holder(page, normalise(facts.holder)):
        differences.append(Difference("holder", facts.holder))
    if normalise(facts.title) not in page:
        differences.append(Difference("title", facts.title))
    verified = {facts.place} if facts.place else set()
    verified |= {claim for claim, _ in place_claims(normalise(facts.title))}
    wrong = list(dict.fromkeys(words for claim, words in place_claims(page) if not _agrees(claim, verified)))
    if wrong:
        differences.append(Difference("place", facts.place or "", ", ".join(wrong)))
    if differences:
        return PrintedCheck(DIFFERS, "the printed text differs from the verified facts: " + "; ".join(map(_sentence, differences)), tuple(differences))
    return PrintedCheck(NO_DIFFERENCE_FOUND, "no difference was found between the PDF's text layer and the verified facts; this confirms "
                                             "nothing (whoever made the PDF wrote its text): compare the printed page with the verified facts")


def _sentence(d: Difference) -> str:
    if d.field == "place":
        certified = f"the verified place is {d.verified} ({PLACE_NAMES.get(d.verified, d.verified)})" if d.verified else "the credential certifies no place"
        return f"the page claims “{d.printed}”, {certified}"
    return f"the verified {'holder' if d.field == 'holder' else 'achievement'} “{d.verified}” is not on the page"
