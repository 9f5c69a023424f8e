"""RDF Dataset Canonicalization (W3C RDFC-1.0) of JSON-LD credentials: pyld's answer, at template speed.

A Data Integrity proof with the ``eddsa-rdfc-2022`` cryptosuite signs the canonical N-Quads of a credential.
pyld computes them correctly but slowly (JSON-LD expansion of three contexts, then the canonicalization
algorithm: milliseconds per credential), and a batch of 10,000 diplomas is signed at once. Credentials of
one kind share one *shape* — the same keys, types and list lengths, different texts and numbers — and
JSON-LD maps a plain text value to an RDF literal without looking at it. So:

1. The first credential of a shape is run through pyld twice with its text and number values replaced by
   numbered placeholders (absolute ``urn:`` IRIs in one run, plain words in the other). Where a placeholder
   comes back unchanged as a literal (or inside an ``rdf:JSON`` literal), that value is a *literal slot*;
   where it comes back as an IRI only in the first run (an ``id``, or a term typed ``@id``), an *IRI slot*.
   A placeholder that comes back any other way (a value JSON-LD interprets) makes the shape unsupported.
   The result is a template: the shape's quads with slots.
2. Every credential of that shape fills the template with its own values (escaped as canonical N-Quads
   require) and labels the blank nodes as RDFC-1.0 §4.4 does: by the hash of their first-degree quads.
   When those hashes are all distinct — our credentials' blank nodes differ in what they hold — that *is*
   the canonical labelling (§4.4.3 step 5); when two tie, the N-degree step would be needed, and the
   credential is canonicalized by pyld instead.

Anything outside this (a float, an IRI value that is not an absolute ``urn:``, ``did:`` or ``http(s):``
IRI, a placeholder-looking value, a shape that did not compile) is canonicalized by pyld, which is always
the reference: ``tests/verifier/test_rdfc.py`` checks the two agree on every kind and on random values.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ledger.errors import MalformedError

__all__ = ["canonize", "reference_canonize"]

RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

_IRI_SLOT = "urn:x-eduledger-slot:"
_WORD_SLOT = "eduledgerslot"
_INT_BASE = 1 << 52  # integer placeholders: 2^52 + n, exact in JSON and far above any value we issue
_SLOT = re.compile(r"urn:x-eduledger-slot:(\d+)|eduledgerslot(\d+)|(45035996273\d{5})")
_ABSOLUTE_IRI = re.compile(r"\A(?:urn|did|https?):[^\s<>\"{}|\\^`]*\Z")
_MAX_TEMPLATES = 256
_SHAPE_KEYS = frozenset({"type", "@context", "@type", "@language", "@direction", "@id"})


# --- canonical N-Quads (RDFC-1.0 §4.1 serialization, as rdf-canonize writes it) -------------------

_ESCAPES = {i: f"\\u{i:04X}" for i in (*range(0x20), 0x7F)} | {
    0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\",
}  # fmt: skip


def _escape(s: str) -> str:
    return s.translate(_ESCAPES)


def _term(t: dict[str, Any]) -> str:
    kind = t["type"]
    if kind == "IRI":
        return f"<{t['value']}>"
    if kind == "blank node":
        return t["value"]
    out = f'"{_escape(t["value"])}"'
    if t.get("language"):
        return out + "@" + t["language"]
    dt = t.get("datatype") or XSD_STRING
    return out if dt in (XSD_STRING, RDF_LANGSTRING) else f"{out}^^<{dt}>"


def _line(s: str, p: str, o: str, g: str) -> str:
    return f"{s} {p} {o} {g} .\n" if g else f"{s} {p} {o} .\n"


def _dataset_quads(dataset: dict[str, list[dict[str, Any]]]) -> list[tuple[dict, dict, dict, dict | None]]:
    out = []
    for graph, triples in dataset.items():
        g = None if graph == "@default" else ({"type": "blank node", "value": graph} if graph.startswith("_:") else {"type": "IRI", "value": graph})
        for t in triples:
            out.append((t["subject"], t["predicate"], t["object"], g))
    return out


# --- the reference --------------------------------------------------------------------------


def reference_canonize(doc: dict[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads by pyld (URDNA2015, which RDFC-1.0 standardised), contexts offline."""
    from pyld import jsonld

    from verifier.jsonld import load_document

    try:
        return jsonld.normalize(doc, {"algorithm": "URDNA2015", "format": "application/n-quads", "documentLoader": load_document})
    except jsonld.JsonLdError as e:
        raise MalformedError(f"JSON-LD processing failed: {e}") from None


def _to_rdf(doc: dict[str, Any]) -> list[tuple[dict, dict, dict, dict | None]]:
    from pyld import jsonld

    from verifier.jsonld import load_document

    return _dataset_quads(jsonld.to_rdf(doc, {"documentLoader": load_document}))


# --- shapes and templates ---------------------------------------------------------------------


class _Unsupported(Exception):
    """This document (or its shape) goes to the reference implementation."""


def _skeleton(doc: Any, leaves: list[Any], word: bool) -> tuple[Any, Any]:
    """(the document with numbered placeholders, its shape key); ``leaves`` collects the values replaced."""

    def walk(v: Any, key: str | None) -> tuple[Any, Any]:
        if isinstance(v, dict):
            items = sorted(v.items())
            parts = [(k, walk(x, k)) for k, x in items]
            return {k: s for k, (s, _) in parts}, ("d", tuple((k, shape) for k, (_, shape) in parts))
        if isinstance(v, list):
            parts = [walk(x, key) for x in v]
            return [s for s, _ in parts], ("l", tuple(shape for _, shape in parts))
        if isinstance(v, bool) or v is None:
            return v, ("v", v)
        if key in _SHAPE_KEYS or (key is not None and key.startswith("@")):
            return v, ("v", v)
        if isinstance(v, int):
            n = len(leaves)
            leaves.append(v)
            return _INT_BASE + n, "i"
        if isinstance(v, str):
            n = len(leaves)
            leaves.append(v)
            if key == "id" or not word:
                return f"{_IRI_SLOT}{n}", "s"
            return f"{_WORD_SLOT}{n}", "s"
        raise _Unsupported  # floats: their canonical lexical form is the reference's business

    return walk(doc, None)


# A template term: a fixed string, or the pieces of a literal/IRI with slots.
# Slot piece: (slot number, mode) with mode "iri", "lit" (N-Quads escaped), "json" (JSON then N-Quads escaped), "int".


@dataclass(frozen=True)
class _Term:
    pieces: tuple[str | tuple[int, str], ...]  # a bnode term is one str starting "_:"
    blank: str | None = None  # the template's blank node label, if this term is one


@dataclass(frozen=True)
class _Template:
    quads: tuple[tuple[_Term, _Term, _Term, _Term | None], ...]
    iri_slots: frozenset[int]


def _split(text: str, mode: str, iri_slots: set[int], n_leaves: int, found: set[int]) -> tuple[str | tuple[int, str], ...]:
    """``text`` cut at its placeholders; raises _Unsupported for a placeholder where no slot can be."""
    pieces: list[str | tuple[int, str]] = []
    fixed = (lambda x: x) if mode == "iri" else _escape  # a literal's fixed text is escaped like its slots
    at = 0
    for m in _SLOT.finditer(text):
        if m.start() > at:
            pieces.append(fixed(text[at : m.start()]))
        if m.group(3) is not None:
            n = int(m.group(3)) - _INT_BASE
            pieces.append((n, "int"))
        else:
            n = int(m.group(1) or m.group(2))
            if mode == "iri":
                iri_slots.add(n)
            pieces.append((n, mode))
        if not 0 <= n < n_leaves:
            raise _Unsupported
        found.add(n)
        at = m.end()
    if at < len(text):
        pieces.append(fixed(text[at:]))
    return tuple(pieces)


def _compile(doc: dict[str, Any]) -> _Template:
    leaves: list[Any] = []
    iri_doc, _ = _skeleton(doc, leaves, word=False)
    word_doc, _ = _skeleton(doc, [], word=True)
    n = len(leaves)
    iri_slots: set[int] = set()
    found: set[int] = set()
    quads = []
    for s, p, o, g in _to_rdf(iri_doc):
        terms = []
        for t in (s, p, o, g):
            if t is None:
                terms.append(None)
            elif t["type"] == "blank node":
                terms.append(_Term((t["value"],), blank=t["value"]))
            elif t["type"] == "IRI":
                terms.append(_Term(("<", *_split(t["value"], "iri", iri_slots, n, found), ">")))
            else:
                mode = "json" if t.get("datatype") == RDF_JSON else "lit"
                if t.get("language") or _SLOT.search(t.get("datatype") or ""):
                    raise _Unsupported
                head = _term({**t, "value": ""})  # '""' plus its datatype suffix
                body = _split(t["value"], mode, iri_slots, n, found)
                terms.append(_Term(('"', *body, head[1:])))
        quads.append(tuple(terms))
    # The second run: every non-IRI slot must come back as the very same literal (JSON-LD did not interpret it).
    seen_words = set()
    for _, _, o, _ in _to_rdf(word_doc):
        if o["type"] == "literal":
            seen_words.update(int(m.group(2)) for m in _SLOT.finditer(o["value"]) if m.group(2) is not None)
    strings = {i for i, v in enumerate(leaves) if isinstance(v, str)}
    if strings - iri_slots - seen_words:
        raise _Unsupported
    if set(range(n)) - found:
        raise _Unsupported  # a value that did not come back as itself (e.g. a number JSON-LD wrote in another form)
    if iri_slots & seen_words:
        raise _Unsupported  # a value that is an IRI in one run and a literal in the other
    return _Template(tuple(quads), frozenset(iri_slots))  # type: ignore[arg-type]


def _fill(term: _Term, leaves: list[Any]) -> str:
    out = []
    for piece in term.pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        n, mode = piece
        v = leaves[n]
        if mode == "int":
            out.append(str(v))
        elif mode == "iri":
            out.append(v)
        elif mode == "lit":
            out.append(_escape(v))
        else:  # inside an rdf:JSON literal: the JSON string's content, then N-Quads escaping
            out.append(_escape(json.dumps(v, ensure_ascii=False)[1:-1]))
    return "".join(out)


_templates: OrderedDict[Any, _Template | None] = OrderedDict()


def _template_for(shape: Any, doc: dict[str, Any]) -> _Template | None:
    if shape in _templates:
        _templates.move_to_end(shape)
        return _templates[shape]
    try:
        tpl: _Template | None = _compile(doc)
    except _Unsupported:
        tpl = None
    _templates[shape] = tpl
    if len(_templates) > _MAX_TEMPLATES:
        _templates.popitem(last=False)
    return tpl


def _label(quads: list[tuple[str, str, str, str]], blanks: set[str]) -> str | None:
    """RDFC-1.0 labelling when every blank node's first-degree hash is distinct (else None)."""
    if not blanks:
        return "".join(sorted(set(_line(*q) for q in quads)))
    mentions: dict[str, list[tuple[str, str, str, str]]] = {b: [] for b in blanks}
    for q in quads:
        for b in {t for t in q if t in blanks}:
            mentions[b].append(q)
    hashes = {}
    for b, qs in mentions.items():
        lines = sorted(_line(*(("_:a" if t == b else "_:z") if t in blanks else t for t in q)) for q in qs)
        hashes[b] = hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
    if len(set(hashes.values())) != len(hashes):
        return None
    canonical = {b: f"_:c14n{i}" for i, b in enumerate(sorted(hashes, key=hashes.__getitem__))}
    return "".join(sorted({_line(*(canonical.get(t, t) for t in q)) for q in quads}))


def canonize(doc: dict[str, Any]) -> str:
    """The RDFC-1.0 canonical N-Quads of ``doc`` (a JSON-LD document naming only contexts
    ``verifier.jsonld`` knows); MalformedError when JSON-LD processing fails."""
    leaves: list[Any] = []
    try:
        _, shape = _skeleton(doc, leaves, word=False)
    except _Unsupported:
        return reference_canonize(doc)
    if any(isinstance(v, str) and _SLOT.search(v) for v in leaves) or any(isinstance(v, int) and abs(v) >= _INT_BASE for v in leaves):
        return reference_canonize(doc)
    try:
        tpl = _template_for(shape, doc)
    except Exception:  # noqa: BLE001 - pyld failing on the placeholders: let the reference report on the real document
        tpl = None
    if tpl is None:
        return reference_canonize(doc)
    for n in tpl.iri_slots:
        if not (isinstance(leaves[n], str) and _ABSOLUTE_IRI.match(leaves[n])):
            return reference_canonize(doc)
    blanks: set[str] = set()
    quads = []
    for s, p, o, g in tpl.quads:
        row = []
        for t in (s, p, o, g):
            if t is None:
                row.append("")
            elif t.blank is not None:
                blanks.add(t.blank)
                row.append(t.blank)
            else:
                row.append(_fill(t, leaves))
        quads.append(tuple(row))
    out = _label(quads, blanks)  # type: ignore[arg-type]
    return out if out is not None else reference_canonize(doc)
