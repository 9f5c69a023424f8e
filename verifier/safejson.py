"""Strict JSON for untrusted bytes (bundles, trust files, anything a verifier is handed).

``loads`` accepts exactly RFC 8259 JSON that every party reads the same way,
and refuses with :class:`~ledger.errors.MalformedError` anything two parsers
might disagree on or that could exhaust the verifier:

* more than ``max_bytes`` (1 MiB by default): checked before decoding;
* bytes that are not UTF-8 (strict: no lone surrogates, no overlongs), or a BOM;
* nesting deeper than ``max_depth``: checked by a linear pre-scan *before*
  the recursive parser runs, so no input reaches Python's recursion limit;
* duplicate keys in an object (RFC 8259 §4 leaves them undefined: the last one
  wins in Python, the first in others, so the same bytes could mean two things);
* ``NaN``, ``Infinity``, ``-Infinity`` and numbers that overflow to infinity;
* integers outside ±(2^53−1) (I-JSON, RFC 7493 §2.2: beyond it, parsers round);
* escaped lone surrogates (``"\\ud800"``), which no UTF-8 text can carry and
  which RFC 8785 canonicalisation refuses.

The pre-scan first counts opening brackets (an upper bound on the depth); only
a document with more of them than the limit has its string literals removed by
one regular expression and its brackets counted (C speed throughout).
"""

from __future__ import annotations

import json
import math
import re
import threading
from itertools import accumulate
from typing import Any

from ledger.errors import MalformedError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "MAX_SAFE_INTEGER", "loads", "loads_plain"]

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 64
MAX_SAFE_INTEGER = (1 << 53) - 1

# A JSON string literal, unrolled so the engine does not backtrack per character.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS_ONLY = {ord(c): None for c in map(chr, range(0x80)) if c not in "[]{}"}
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise MalformedError(f"{name} is not a JSON number")


def _parse_int(text: str) -> int:
    # Length first: int() of a huge digit string is quadratic, and Python caps it anyway.
    if len(text) > 17:
        raise MalformedError(f"integer {text[:20]}… is outside the safe integer range ±(2^53−1)")
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise MalformedError(f"integer {text} is outside the safe integer range ±(2^53−1)")
    return value


_seen = threading.local()  # floats met by the parse running in this thread (see loads_plain)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_ASTRAL_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")  # UTF-8 lead bytes of U+10000..U+10FFFF


def _parse_float(text: str) -> float:
    _seen.floats = getattr(_seen, "floats", 0) + 1
    value = float(text)
    if not math.isfinite(value):
        raise MalformedError(f"number {text[:20]} is too large for a double (it overflows to infinity)")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedError(f"duplicate key {key[:60]!r}: it appears twice in one JSON object")
            seen.add(key)
    return obj


_decoder = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant
)


def _check_depth(data: bytes, text: str, max_depth: int) -> None:
    # Depth never exceeds the number of opening brackets; counting them in the bytes is
    # memchr speed, so typical documents skip the scan entirely.
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return
    # Outside the strings only: with no escaped quote in the text every '"' opens or closes a string, so
    # splitting at them is the cheap way (C speed; the regex costs ~100 µs on an 8 KB bundle).
    outside = "".join(text.split('"')[0::2]) if '\\"' not in text else _STRING.sub("", text)
    brackets = outside.translate(_BRACKETS_ONLY)
    # Non-ASCII characters outside strings are invalid JSON anyway; drop them from the count.
    if not brackets.isascii():
        brackets = "".join(c for c in brackets if c in "[]{}")
    opens = brackets.count("[") + brackets.count("{")
    if opens <= max_depth:
        return
    deepest = max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)
    if deepest > max_depth:
        raise MalformedError(f"JSON is nested {deepest} levels deep, limit {max_depth}")


def loads(data: bytes | bytearray | memoryview, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse untrusted JSON bytes strictly; MalformedError says what is wrong."""
    return loads_plain(data, max_bytes=max_bytes, max_depth=max_depth)[0]


def loads_plain(data: bytes | bytearray | memoryview, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH) -> tuple[Any, bool]:
    """:func:`loads`, and whether the value holds no number with a fraction or exponent and no
    character beyond U+FFFF: then every part of it may be given to
    ``ledger.tlog.canonical.canonical_bytes(..., validated=True)`` (safe integers, strings,
    booleans, null, lists and objects are all this parser lets through otherwise)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"loads takes bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise MalformedError(f"file is {len(data)} bytes, larger than the limit of {max_bytes} bytes")
    if not data:
        raise MalformedError("file is empty")
    data = bytes(data)  # no copy for bytes; memoryview and bytearray need it for the searches below
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedError(f"file is not valid UTF-8 (byte {e.start})") from None
    if text.startswith("\ufeff"):
        raise MalformedError("file starts with a byte order mark, which JSON does not allow")
    _check_depth(data, text, max_depth)
    _seen.floats = 0
    try:
        value = _decoder.decode(text)
    except MalformedError:
        raise
    except RecursionError:  # pragma: no cover - the pre-scan bounds the depth
        raise MalformedError("JSON is nested too deeply") from None
    except ValueError as e:
        raise MalformedError(f"not valid JSON: {e}") from None
    # Both checks below look at the bytes first (memchr speed): most documents hold no "\\u"
    # escape and no four-byte UTF-8 sequence (lead bytes F0-F4), so neither regex runs.
    escaped_surrogate = b"\\u" in data and _SURROGATE_ESCAPE.search(text) is not None
    if escaped_surrogate:
        # Rare path: an escaped surrogate exists somewhere; refuse it unless paired.
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedError("JSON contains an escaped lone surrogate (\\ud800-\\udfff), which is not text") from None
    # An escaped pair (\ud83d\ude00) decodes to an astral character too: look at the value's
    # text only when the document could hold one.
    astral = any(lead in data for lead in _ASTRAL_LEADS) and _ASTRAL.search(text) is not None
    plain = _seen.floats == 0 and not astral and not escaped_surrogate
    return value, plain
