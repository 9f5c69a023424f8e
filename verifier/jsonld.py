"""JSON-LD for credentials, offline: the contexts they name, kept in ``verifier/contexts/``.

A credential is processed as JSON everywhere in eduledger (its digest is over RFC 8785 bytes), but outside
verifiers process it as JSON-LD, and VC 2.0 requires every context it names to be published and to define
every term it uses. This module is how eduledger checks that, without the network:

* :func:`load_document` is a pyld document loader that knows exactly the contexts our credentials name —
  VC 2.0 (``credentials-v2.json``, from the npm package ``@digitalbazaar/credentials-context`` 3.2.0),
  Open Badges 3.0.3 (``ob-context-3.0.3.json``, from 1EdTech's openbadges-specification repository),
  CLR 2.0.1 (``clr-context-2.0.1.json``, from 1EdTech's digital-credentials-public-validator; the
  ``ClrCredential`` export, ``verifier/clr.py``) and eduledger's own (``eduledger-v1.json``, served by
  every node at :data:`CONTEXT_PATH`) — and refuses every other URL, so processing never fetches anything
  (provenance: ``verifier/contexts/README.md``);
* :func:`dropped_terms` expands a credential and compacts it back under its own contexts: whatever does not
  come back was dropped by JSON-LD processing (an undefined term, a value that does not fit its definition).

pyld is imported only when these run: the verifier's own steps never need JSON-LD.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ledger.errors import MalformedError

__all__ = ["CONTEXT_PATH", "CONTEXTS_DIR", "context_document", "dropped_terms", "load_document"]

CONTEXTS_DIR = Path(__file__).with_name("contexts")
#: Where every node serves eduledger's context (``GET``), under the network's public URL.
CONTEXT_PATH = "/contexts/eduledger-v1.jsonld"
#: The placeholder context URL of credentials issued before the context was published; same terms.
LEGACY_CONTEXT = "https://eduledger.example/ns/v1"

_FILES = {
    "https://www.w3.org/ns/credentials/v2": "credentials-v2.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ob-context-3.0.3.json",
    "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json": "clr-context-2.0.1.json",
    LEGACY_CONTEXT: "eduledger-v1.json",
}


def _file_for(url: str) -> str | None:
    if url in _FILES:
        return _FILES[url]
    parts = urlsplit(url)
    if parts.scheme in ("https", "http") and parts.path.endswith(CONTEXT_PATH) and not parts.query and not parts.fragment:
        return "eduledger-v1.json"
    return None


@cache
def _read(name: str) -> dict[str, Any]:
    return json.loads((CONTEXTS_DIR / name).read_bytes())


def context_document(url: str) -> dict[str, Any]:
    """The context document a known context URL names; MalformedError for any other URL."""
    name = _file_for(url)
    if name is None:
        raise MalformedError(f"unknown JSON-LD context {url!r}: only the VC 2.0, Open Badges 3.0.3, CLR 2.0.1 and eduledger contexts are loaded")
    return _read(name)


def load_document(url: str, options: Any = None) -> dict[str, Any]:
    """A pyld ``documentLoader`` over :func:`context_document`: never touches the network."""
    from pyld import jsonld

    try:
        doc = context_document(url)
    except MalformedError as e:
        raise jsonld.JsonLdError(str(e), "jsonld.LoadDocumentError", {"url": url}, code="loading document failed") from None
    return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url, "document": doc}


def _plain(v: Any) -> Any:
    """One shape for comparing: one-element lists unwrapped (compaction unwraps them), recursively."""
    if isinstance(v, list):
        items = [_plain(x) for x in v]
        return items[0] if len(items) == 1 else items
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _absolute(key: str) -> bool:
    return ":" in key and not key.startswith("@") and "://" in key


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        # A term compaction cannot choose comes back under its absolute IRI, kept: CLR 2.0's context types
        # ClrSubject's ``verifiableCredential`` and ``identifier`` with a class, which no node object matches.
        unnamed = [k for k in b if _absolute(k) and k not in a]
        for k in a:
            if k == "@context":
                continue
            where = f"{path}.{k}" if path else k
            if k in b:
                _diff(a[k], b[k], where, out)
                continue
            closest = min(((_diffs(a[k], b[iri], where), iri) for iri in unnamed), key=lambda d: len(d[0]), default=None)
            if closest is None:
                out.append(where)
            else:  # the value under the IRI it came back as: only what differs inside it was dropped
                out.extend(closest[0])
                unnamed.remove(closest[1])
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{n}]", out)
    elif a != b:
        out.append(path or "(the document)")


def _diffs(a: Any, b: Any, path: str) -> list[str]:
    out: list[str] = []
    _diff(a, b, path, out)
    return out


def dropped_terms(doc: dict[str, Any]) -> list[str]:
    """The paths of ``doc`` that JSON-LD processing under its own ``@context`` drops or changes (empty: none).

    Raises MalformedError when the document cannot be processed at all (e.g. it names an unknown context)."""
    from pyld import jsonld

    options = {"documentLoader": load_document}
    try:
        expanded = jsonld.expand(doc, options)
        back = jsonld.compact(expanded, {"@context": doc.get("@context")}, {**options, "compactArrays": True})
    except jsonld.JsonLdError as e:
        raise MalformedError(f"JSON-LD processing failed: {e}") from None
    out: list[str] = []
    _diff(_plain(doc), _plain(back), "", out)
    return out
