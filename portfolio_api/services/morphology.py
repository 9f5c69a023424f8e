"""Russian morphology for search: the words of a text as dictionary forms, the same for what is indexed and what is asked.

Discovery (``services/discovery.py``) indexes ``lemmas(evidence)`` and looks each query word up by its
own lemmas, so "физика", "физике", "физикой" and "физики" all find "…по физике…". Both engines are
handed text this module has already normalised (lower case, ё as е, no diacritics on Latin letters,
tokens of letters and digits only, one space apart), so SQLite's FTS5 tokenizer and PostgreSQL's
``simple`` configuration have nothing left to decide and agree on every match.

* A Russian word becomes every distinct normal form pymorphy3 gives it ("математика" → математик,
  математика): without context the analyser cannot tell which is meant, and taking all of them on
  both sides makes matching symmetric: two forms match when they share a lemma.
* Latin words, digits and mixed tokens ("9а", "covid19") are kept as they are, lower-cased: the
  dictionary is Russian, and a guess at an English or Latin stem would differ from the text's.
* A hyphenated word is its parts ("научно-практической" → научно, практический): FTS5 splits on the
  hyphen, and PostgreSQL's parser would index the whole as well, so only the parts are common ground.

``MorphAnalyzer`` loads its dictionaries (a few MB, a tenth of a second) once, on first use, and is
shared by every thread: it is read-only after loading.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any

__all__ = ["MAX_WORD", "lemmas", "word_lemmas", "words"]

MAX_WORD = 64  # longer tokens are cut: a query word is at most 40 characters, so a prefix match never needs more
_TOKEN = re.compile(r"[^\W_]+")
_RUSSIAN = re.compile(r"[а-я]+")

_analyzer: Any = None
_analyzer_lock = threading.Lock()


def _morph() -> Any:
    """The process-wide ``pymorphy3.MorphAnalyzer``, created on first use."""
    global _analyzer
    if _analyzer is None:
        with _analyzer_lock:
            if _analyzer is None:
                import pymorphy3  # imported here: loading it is the expensive part

                _analyzer = pymorphy3.MorphAnalyzer(lang="ru")
    return _analyzer


def _fold(text: str) -> str:
    """Lower case, ё as е; NFKC first, so compatibility forms ("ﬁ", "²", full-width letters) become plain ones."""
    return unicodedata.normalize("NFKC", text).lower().replace("ё", "е")


def _strip_diacritics(token: str) -> str:
    """"é" → "e"; Cyrillic letters are left whole ("й" is a letter of its own, not "и" with a breve)."""
    return "".join(c if "\u0400" <= c <= "\u04ff" else "".join(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
                   for c in token)


def words(text: str) -> list[str]:
    """The normalised tokens of ``text``, in order, not lemmatised (what a query word is before lookup)."""
    out: list[str] = []
    for token in _TOKEN.findall(_fold(text)):
        if _RUSSIAN.fullmatch(token):
            out.append(token[:MAX_WORD])
        else:
            out.extend(t[:MAX_WORD] for t in _TOKEN.findall(_strip_diacritics(token)))
    return out


@lru_cache(maxsize=65536)
def word_lemmas(word: str) -> tuple[str, ...]:
    """Every distinct lemma of one token from ``words()``, most likely first; a non-Russian token is its own lemma."""
    if not _RUSSIAN.fullmatch(word):
        return (word,)
    forms = dict.fromkeys(p.normal_form.replace("ё", "е")[:MAX_WORD] for p in _morph().parse(word))
    return tuple(forms) or (word,)


def lemmas(text: str) -> list[str]:
    """The lemmas of ``text``: each token's ``word_lemmas`` in text order (what the search index stores)."""
    return [lemma for word in words(text) for lemma in word_lemmas(word)]
