"""The web UI's gettext catalogues (portfolio_api/locale, read with Babel) hold every message id the templates
and the code use, in Russian and in English: ids are extracted the way ``make messages`` extracts them."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from portfolio_api.i18n import LANGS, catalogue_ids, message, t

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "t": None, "say": (2,)}


def used_ids() -> set[str]:
    method_map = [("portfolio_api/**.py", "python"), ("portfolio_api/templates/**.html", "jinja2")]
    options = {"portfolio_api/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _file, _line, mid, _comments, _context in extract_from_dir(str(ROOT), method_map, options, keywords=KEYWORDS):
        for m in mid if isinstance(mid, tuple) else (mid,):
            if m:
                found.add(m)
    return found


def test_every_message_id_used_has_a_text_in_every_language():
    used = used_ids()
    assert len(used) > 300  # the extraction sees the templates and the code
    missing = {lang: sorted(used - catalogue_ids(lang)) for lang in LANGS}
    assert missing == {"ru": [], "en": []}


def test_an_english_message_with_placeholders_is_translated_with_its_values():
    assert message("anchored at ledger index 7 by olymp", "ru") == "записано в реестр под номером 7 организацией olymp"
    assert message("anchored at ledger index 7 by olymp", "en") == "anchored at ledger index 7 by olymp"
    assert message("a message nobody translated", "ru") == "a message nobody translated"
    assert t("nav.portfolio", "ru") == "Портфолио" and t("nav.portfolio", "en") == "Portfolio"
