"""The Russian UI speaks Russian: every page and error path, walked as every role, shows no untranslated text.

Every GET page of the e-portfolio is opened by every role that may open it (with real records behind the path
parameters), every form is posted wrong, and a list of known error paths is provoked, in Russian and in
English. On a Russian page, a sentence in Latin script (two or more Latin words in a row) is a failure unless
it is a name, an identifier or a term the page must show as it is (``ALLOWED``). Every template must have been
rendered by the walk, so a new page cannot escape it. The English pages are checked for raw message keys.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import portfolio_api.web as web
from tests.portfolio.helpers import PASSWORD, PNG, env, form  # noqa: F401
from tests.portfolio.test_opportunities import smtp, use_smtp  # noqa: F401 - smtp: the fixture
from tests.portfolio.test_portfolio_access import ANON, POLICY, PREFERRED, _real_ids, portfolio_routes

TEMPLATES = Path(web.__file__).with_name("templates")
#: Templates only ever included in others (partials) or used outside the walk's reach.
NOT_PAGES = {p.name for p in TEMPLATES.glob("_*.html")}

#: Latin-script words a Russian page may show as they are: names of standards, formats and products,
#: and the technical terms people meet on their documents.
ALLOWED = {
    "eduledger", "Data Integrity", "W3C", "Open Badges", "OpenBadgeCredential", "eddsa-rdfc-2022", "did:web", "JSON", "CSV",
    "PDF", "JPEG", "PNG", "QR", "Excel", "UTF-8", "BOM", "cp1251", "SHA-256", "RFC", "C2SP", "Ed25519", "API", "URL", "HTTPS",
    "Verifiable Credentials", "CLR", "Comprehensive Learner Record", "1EdTech", "Bitstring Status List", "e-mail", "E-mail",
    "Multikey", "tlog", "checkpoint", "cosignature", "signed note", "bundle",
}
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ \t]*[,:;]?[ \t]+[A-Za-z][A-Za-z'’-]*)+")
_SKIP_TAGS = {"script", "style", "code", "pre", "kbd", "samp", "textarea"}
_TEXT_ATTRS = {"title", "placeholder", "aria-label", "alt", "value"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Visible(HTMLParser):
    """The text a person reads: element text and the attributes shown to them (not scripts, code or input values).
    An element marked ``lang="en"`` (the verifier's technical messages, folded away) is English on purpose."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._stack: list[bool] = []  # per open element: does it start a skipped part?

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in _VOID:
            skipped = tag in _SKIP_TAGS or (a.get("lang") or "").startswith("en")
            self._stack.append(skipped)
            self._skip += skipped
        if self._skip:
            return
        for name, value in attrs:
            if name in _TEXT_ATTRS and value and not (name == "value" and (tag != "button" and a.get("type") not in ("submit", "button"))):
                self.out.append(value)

    def handle_endtag(self, tag):
        if tag in _VOID or not self._stack:
            return
        self._skip -= self._stack.pop()

    def handle_data(self, data):
        if not self._skip:
            self.out.append(data)


def visible_text(page: str) -> str:
    p = _Visible()
    p.feed(page)
    return "\n".join(p.out)


_IDENTIFIERS = re.compile(
    r"\S+@\S+|https?://\S+|did:\S+|urn:\S+|[0-9a-f]{16,}|\b[a-z0-9]+(?:[-_.][a-z0-9]+)+\b|/[\w/{}.-]+|\b[A-Z]{2,}\b"
)


def untranslated(page: str, names: set[str]) -> list[str]:
    """The Latin-script sentences of a Russian page that are none of ALLOWED, names or identifiers."""
    text = visible_text(page)
    for term in sorted(ALLOWED | names, key=len, reverse=True):
        text = text.replace(term, " ")
    text = _IDENTIFIERS.sub(" ", text)
    return [m.group(0) for m in _LATIN_RUN.finditer(text)]


def _unsubscribe_url(env, subscription_id: str) -> str:
    import sqlalchemy as sa

    from portfolio_api.db import tables as t

    with env.svc.ctx.engine.connect() as conn:
        salt = conn.execute(sa.select(t.subscriptions.c.unsub_salt).where(t.subscriptions.c.id == int(subscription_id))).scalar()
    return f"/opportunities/unsubscribe/{subscription_id}/{env.svc.opportunities.unsubscribe_token(int(subscription_id), salt)}"


@pytest.fixture
def walk(env, monkeypatch, smtp):
    """(pages by label, template names rendered): every page and error path, in both languages."""
    rendered: set[str] = set()
    original = web.templates.TemplateResponse

    def recording(request, name, *args, **kwargs):
        rendered.add(name)
        return original(request, name, *args, **kwargs)

    monkeypatch.setattr(web.templates, "TemplateResponse", recording)
    ids = _real_ids(env)
    use_smtp(env, smtp[0].port)  # pages that say "check your mail" need a mail server
    env.svc.mailer.background = False
    pages: dict[str, str] = {}
    genuine = env.svc.documents.bundle(ids["credential_id"])
    tampered = genuine.replace("Победитель олимпиады".encode(), "Победитель олимпиады!".encode(), 1)

    def keep(label: str, r) -> None:
        if r.headers.get("content-type", "").startswith("text/html"):
            pages[label] = r.text

    for lang in ("ru", "en"):
        clients = {who: env.browser(None if who == ANON else who) for who in (ANON, *PREFERRED)}
        for c in clients.values():
            c.cookies.set("edu_lang", lang)
        routes = portfolio_routes(env.app)
        for method, path in routes:
            if path.startswith("/api/") or method != "GET":
                continue
            for who in POLICY[(method, path)]:
                keep(f"{lang} {who} GET {path}", clients[who].get(path.format(**ids)))
        # Every form posted wrong (empty), by a role that may post it: its error page or message.
        for method, path in routes:
            if path.startswith("/api/") or method != "POST" or path in ("/logout", "/account/delete"):
                continue
            who = next((w for w in PREFERRED if w in POLICY[(method, path)]), ANON)
            keep(f"{lang} {who} POST {path} (empty)", form(clients[who], path.format(**ids), {}, headers={"Accept": "text/html"}))
        # Known error paths of the usability test.
        anon = clients[ANON]
        keep(f"{lang} login wrong password", form(anon, "/login", {"email": "maria@example.org", "password": "wrong password!"}))
        keep(f"{lang} register existing", form(anon, "/register", {"email": "maria@example.org", "password": PASSWORD, "name": "Мария", "role": "student"}))
        keep(f"{lang} verify not json", form(anon, "/verify", {}, files={"file": ("b.json", b"{'a': 1}", "application/json")}))
        keep(f"{lang} verify not utf-8", form(anon, "/verify", {}, files={"file": ("b.json", b"\xff\xfe{}", "application/json")}))
        keep(f"{lang} verify genuine", form(anon, "/verify", {"holder_email": "maria@example.org"},
                                            files={"file": ("b.json", genuine, "application/json")}))
        keep(f"{lang} verify other holder", form(anon, "/verify", {"holder_email": "petr@example.org"},
                                                 files={"file": ("b.json", genuine, "application/json")}))
        keep(f"{lang} verify tampered", form(anon, "/verify", {}, files={"file": ("b.json", tampered, "application/json")}))
        keep(f"{lang} verify bulk", form(anon, "/verify/bulk", {}, files=[("files", ("a.json", genuine, "application/json")),
                                                                         ("files", ("b.json", tampered, "application/json"))]))
        keep(f"{lang} verify png", form(anon, "/verify", {}, files={"file": ("d.png", PNG, "image/png")}))
        keep(f"{lang} share gone", anon.get("/s/" + "B" * 43))
        keep(f"{lang} unsubscribe", anon.get(_unsubscribe_url(env, ids["subscription_id"])))
        keep(f"{lang} register new", form(anon, "/register", {"email": f"new-{lang}@example.org", "password": PASSWORD, "name": "Новый Ученик",
                                                               "role": "student"}))
        keep(f"{lang} sign-in link", form(anon, "/login/link", {"email": "maria@example.org"}))
        maria = clients["maria"]
        keep(f"{lang} share confirm", form(maria, "/portfolio/shares", {"days": "5", "scope": "selected", "items": ids["ref"], "label": "ГУ"}))
        keep(f"{lang} share none ticked", form(maria, "/portfolio/shares", {"days": "5", "scope": "selected", "label": "ГУ"}))
        keep(f"{lang} upload not a diploma", form(maria, "/portfolio/upload", {"title": "Диплом", "kind": "diploma", "issued_on": "2025-05-20"},
                                                   files={"file": ("x.txt", b"hello", "text/plain")}))
        keep(f"{lang} upload too large", form(maria, "/portfolio/upload", {"title": "Диплом", "kind": "diploma", "issued_on": "2025-05-20"},
                                               files={"file": ("x.pdf", b"%PDF-" + b"0" * (6 << 20), "application/pdf")}))
    return pages, rendered


def test_every_template_is_rendered_by_the_walk(walk):
    _, rendered = walk
    pages = {p.name for p in TEMPLATES.glob("*.html")} - NOT_PAGES
    missing = sorted(pages - rendered - {"base.html"})
    assert missing == [], f"templates no page or error path of the walk rendered: {missing}"


def test_no_untranslated_text_on_any_russian_page_or_error_path(walk, env):
    pages, _ = walk
    names = {html.unescape(u.name) for u in env.users.values()}
    problems = {label: found for label, page in pages.items() if label.startswith("ru ") and (found := untranslated(page, names))}
    report = "\n".join(f"{label}: {found[:6]}" for label, found in sorted(problems.items()))
    assert problems == {}, f"Latin-script text on Russian pages:\n{report}"


def test_no_raw_message_key_on_any_page(walk):
    pages, _ = walk
    key = re.compile(r"\b(?:nav|f|h|btn|err|msg|batch|opp|net|st|t|kind|reason|status|confirm|share)\.[a-z_]+(?:\.[a-z_-]+)*\b")
    found = {label: key.findall(visible_text(page)) for label, page in pages.items()}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_detector_catches_english_and_spares_names_and_identifiers():
    assert untranslated("<p>wrong e-mail or password</p>", set()) != []
    assert untranslated("<p>Проверка пройдена: eduledger, did:web:x, olymp-1, abc@example.org</p>", set()) == []
    assert untranslated("<p>Выдал John Smith</p>", {"John Smith"}) == []
    assert untranslated("<script>var a = 'not shown here';</script><code>step one two</code>", set()) == []
    assert untranslated('<input placeholder="your name here">', set()) == ["your name here"]
    assert untranslated('<details><summary>Подробности</summary><p lang="en">step 2 failed here</p></details><p>and this</p>', set()) == ["and this"]
