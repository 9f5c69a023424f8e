"""The web UI's words in Russian (the default) and English: gettext catalogues, read with Babel.

``portfolio_api/locale/<lang>/LC_MESSAGES/messages.po`` holds every text a person sees in the web UI. Its
message ids are of two kinds:

* **keys** (``nav.portfolio``, ``err.password_required``, ``kind.olympiad``): the pages' own texts. Templates
  call ``_('nav.portfolio')`` (Jinja2's i18n extension, bound to the reader's language for each page), code
  calls :func:`t`. A key missing from the English catalogue falls back to Russian, never to the key.
* **English messages** of the services and the verifier (``wrong e-mail or password``,
  ``anchored at ledger index {index} by {institution}``): the JSON API and the CLI keep these stable English
  texts (with machine-readable error codes beside them); the web UI shows them through :func:`message`,
  which finds the catalogue entry a text is an instance of (``{name}`` placeholders match any text) and fills
  its translation in. An English message with no entry is shown as it is — which
  tests/portfolio/test_ui_language.py, walking every page and error path in Russian, reports as untranslated.

``make messages`` extracts the ids the templates and code use (``babel.cfg``) and updates the catalogues;
tests/portfolio/test_i18n_catalogues.py checks every id used has a Russian and an English text.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

__all__ = ["DEFAULT_LANG", "LANGS", "LOCALE_DIR", "catalogue_ids", "message", "ngettext", "t", "translations"]

LANGS = ("ru", "en")
DEFAULT_LANG = "ru"
LOCALE_DIR = Path(__file__).with_name("locale")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _read(lang: str):
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=lang)


@lru_cache(maxsize=None)
def translations(lang: str) -> Translations:
    """The catalogue of ``lang`` (one of LANGS) as gettext translations; English falls back to Russian."""
    if lang not in LANGS:
        lang = DEFAULT_LANG
    buf = io.BytesIO()
    write_mo(buf, _read(lang))
    buf.seek(0)
    tr = Translations(fp=buf, domain="messages")
    if lang != DEFAULT_LANG:
        tr.add_fallback(translations(DEFAULT_LANG))
    return tr


@lru_cache(maxsize=None)
def catalogue_ids(lang: str = DEFAULT_LANG) -> frozenset[str]:
    """The message ids with a text in ``lang``'s catalogue."""
    return frozenset(m.id for m in _read(lang) if m.id and m.string and not m.fuzzy)


def t(key: str, lang: str = DEFAULT_LANG) -> str:
    """The text of ``key`` in ``lang``."""
    return translations(lang).gettext(key)


def ngettext(singular: str, plural: str, n: int, lang: str = DEFAULT_LANG) -> str:
    """The plural form of ``singular``/``plural`` for ``n`` in ``lang`` (Russian has three)."""
    return translations(lang).ngettext(singular, plural, n)


@lru_cache(maxsize=None)
def _templates() -> tuple[tuple[re.Pattern[str], str], ...]:
    """The catalogue's English messages with ``{name}`` placeholders, as patterns, longest first."""
    out = []
    for mid in catalogue_ids(DEFAULT_LANG):
        if "{" not in mid or " " not in mid:  # keys have neither spaces nor placeholders
            continue
        parts = _PLACEHOLDER.split(mid)
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        out.append((re.compile(pattern + r"\Z", re.DOTALL), mid))
    return tuple(sorted(out, key=lambda pm: -len(pm[1])))


def message(text: str, lang: str = DEFAULT_LANG) -> str:
    """An English message of the services or the verifier, in ``lang``: its catalogue entry, with the
    values its placeholders matched filled in (each translated too when it is itself a message)."""
    if lang == "en" or not text:
        return text
    tr = translations(lang)
    exact = tr.gettext(text)
    if exact != text:
        return exact
    for pattern, mid in _templates():
        m = pattern.match(text)
        if m:
            return tr.gettext(mid).format(**{k: message(v, lang) for k, v in m.groupdict().items()})
    return text
