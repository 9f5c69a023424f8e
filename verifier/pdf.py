"""The credential bundle embedded in an eduledger diploma PDF.

A diploma PDF carries its bundle as an embedded file named
``credential.bundle.json`` (PDF 1.7 §7.11.4, EmbeddedFiles name tree), so the
PDF alone verifies offline: ``extract_bundle`` returns those exact bytes and the
verifier checks them like any bundle. Nothing printed on the page is trusted.

A PDF is hostile input, and a small one can hold a great deal: a 500 KB file
can carry eight FlateDecode streams of 70 MB of zeros each, or a cross-reference
table of a million entries. So nothing here is read that a diploma does not
need, and everything read is bounded before it is read (docs/security.md,
"PDFs and other compressed input"):

1. the file is at most ``MAX_PDF_BYTES``, and it declares at most
   ``MAX_PDF_OBJECTS`` objects (counted in its bytes before pypdf parses it:
   pypdf builds one dictionary entry per cross-reference entry);
2. pypdf parses it strictly (no reconstruction of a broken file by scanning it),
   under limits of its own no larger than a bundle: a stream it reads or
   decompresses (an object or cross-reference stream) is at most
   ``MAX_BUNDLE_BYTES``; an encrypted PDF is refused (a diploma never is);
3. the EmbeddedFiles name tree is walked here, not through pypdf's
   ``attachments`` (which decompresses every file): at most
   ``MAX_NAME_TREE_DEPTH`` levels, ``MAX_NAME_TREE_NODES`` nodes and
   ``MAX_EMBEDDED_FILES`` files, and the walk reads only file specifications,
   never a file's stream;
4. exactly one file may be named ``credential.bundle.json`` (by its key in the
   tree, or its ``/F`` or ``/UF`` name), with exactly one stream: more is
   refused before anything is decompressed;
5. that stream is stored as is or with a single ``/FlateDecode`` filter (no
   predictor), and is inflated by hand with ``zlib.decompressobj`` and
   ``max_length``: at most ``MAX_BUNDLE_BYTES`` bytes ever come out, the limit
   the verifier puts on a bundle anyway. Other filters and filter chains, whose
   output cannot be capped that way, are refused.

Every refusal is a ``MalformedError`` saying what was found.

``read_diploma`` also reads the page's text layer, in the same parse and after
the bundle, for comparing with the verified facts (``verifier/facts.py``). That
text is never evidence, so a text layer that cannot be read within its own
limits is reported (``Diploma.text_problem``), never refused: at most
``MAX_TEXT_PAGES`` pages; fonts and form XObjects walked and counted first (at
most ``MAX_TEXT_FONTS`` and ``MAX_TEXT_FORMS``), and each font's ToUnicode map
read (decompressed as above) and refused past ``MAX_CMAP_BYTES`` bytes or
``MAX_CMAP_CODES`` codes before pypdf builds it (a 2 KB map of ranges costs
pypdf seconds and tens of MB); content streams decompressed within the same
caps; at most ``MAX_TEXT_OPERATORS`` drawing operations, form XObjects
included, and ``MAX_TEXT_SECONDS`` of extraction; at most ``MAX_TEXT_CHARS``
characters of text.
"""

from __future__ import annotations

import gc
import io
import re
import struct
import threading
import time
import zlib
from collections.abc import Callable
from typing import NamedTuple

from ledger.errors import MalformedError
from verifier.verify import MAX_BUNDLE_BYTES

__all__ = [
    "ATTACHMENT_NAME", "MAX_CMAP_BYTES", "MAX_CMAP_CODES", "MAX_EMBEDDED_FILES", "MAX_NAME_TREE_DEPTH", "MAX_NAME_TREE_NODES",
    "MAX_PDF_BYTES", "MAX_PDF_OBJECTS", "MAX_TEXT_CHARS", "MAX_TEXT_FONTS", "MAX_TEXT_FORMS", "MAX_TEXT_OPERATORS", "MAX_TEXT_PAGES",
    "MAX_TEXT_SECONDS", "Diploma", "extract_bundle", "read_diploma",
]

ATTACHMENT_NAME = "credential.bundle.json"
MAX_PDF_BYTES = 20 * 1024 * 1024
#: Objects a PDF may declare; a diploma made by eduledger has about twenty.
MAX_PDF_OBJECTS = 4096
#: Embedded files of any name; a diploma embeds one.
MAX_EMBEDDED_FILES = 16
#: Levels and nodes of the EmbeddedFiles name tree (a diploma's has one node).
MAX_NAME_TREE_DEPTH = 8
MAX_NAME_TREE_NODES = 64
#: Bytes inflated per step (``_inflate``).
_INFLATE_STEP = 64 * 1024

# The text layer (``read_diploma``): a diploma made by eduledger has one page, three fonts of about a hundred
# glyphs each, no form XObject, about a hundred drawing operations and a few hundred characters of text.
MAX_TEXT_PAGES = 2
MAX_TEXT_FONTS = 16
MAX_TEXT_FORMS = 8
MAX_CMAP_BYTES = 64 * 1024
MAX_CMAP_CODES = 4096
MAX_TEXT_OPERATORS = 10_000
MAX_TEXT_SECONDS = 2.0
MAX_TEXT_CHARS = 20_000

#: pypdf's limits while it reads the text layer, over ``_PYPDF_LIMITS`` (the streams' caps stay): a font's
#: /Widths or /W array holds one entry per glyph, more than the name tree's arrays.
_TEXT_LIMITS = {
    "array_maximum_element_count": 2048,
    "stream_parsing_work_maximum_count": 3 * MAX_TEXT_OPERATORS,
    "xform_maximum_invocations_per_extraction": MAX_TEXT_FORMS,
    "page_tree_maximum_entries": 64,
    "page_tree_maximum_depth": 8,
}


class Diploma(NamedTuple):
    """What ``read_diploma`` found: the embedded bundle's bytes, and the printed text (``text``), or
    why it could not be read (``text_problem``, a phrase: "the PDF has 3 pages; …")."""

    bundle: bytes
    text: str | None
    text_problem: str | None = None

#: pypdf's own limits while it reads the structure around the bundle (pypdf.Configuration).
_PYPDF_LIMITS = {
    "maximum_declared_stream_length": MAX_BUNDLE_BYTES,
    "array_based_stream_maximum_output_length": MAX_BUNDLE_BYTES,
    "array_maximum_element_count": 4 * MAX_EMBEDDED_FILES + 64,
    "dictionary_maximum_element_count": 256,
    "zlib_maximum_output_length": MAX_BUNDLE_BYTES,
    "zlib_maximum_recovery_input_length": 0,
    "lzw_maximum_output_length": MAX_BUNDLE_BYTES,
    "run_length_maximum_output_length": MAX_BUNDLE_BYTES,
    "brotli_maximum_output_length": MAX_BUNDLE_BYTES,
    "jbig2_maximum_output_length": MAX_BUNDLE_BYTES,
    "image_maximum_buffer_size": MAX_BUNDLE_BYTES,
    "stream_filters_maximum_length": 2,
    "stream_decoding_work_maximum_length": 2 * MAX_BUNDLE_BYTES,
}

# What pypdf raises for input it cannot read: its own errors, and, for hostile input, plain Python ones
# (an ``assert`` on a cross-reference stream, recursion on nested arrays, int() of garbage).
_PARSE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError, OverflowError, RecursionError,
                 zlib.error, struct.error, EOFError)


def extract_bundle(pdf_bytes: bytes) -> bytes:
    """The embedded bundle's bytes; MalformedError if the input is not a PDF, carries no bundle or
    more than one, or passes one of the limits in the module docstring."""
    return _read(pdf_bytes, text=False).bundle


def read_diploma(pdf_bytes: bytes) -> Diploma:
    """The embedded bundle (MalformedError as ``extract_bundle``) and the printed text, in one parse.
    The text is read only once the bundle was, within limits of its own; a text layer that cannot be
    read is ``Diploma.text_problem``, never an error."""
    return _read(pdf_bytes, text=True)


def _read(pdf_bytes: bytes, *, text: bool) -> Diploma:
    if not isinstance(pdf_bytes, (bytes, bytearray)):
        raise TypeError("pdf_bytes must be bytes")
    if not pdf_bytes.startswith(b"%PDF-"):
        raise MalformedError("not a PDF file (it does not start with %PDF-)")
    if len(pdf_bytes) > MAX_PDF_BYTES:
        raise MalformedError(f"PDF larger than {MAX_PDF_BYTES // (1024 * 1024)} MB")
    data = bytes(pdf_bytes)
    declared = _declared_objects(data)
    if declared > MAX_PDF_OBJECTS:
        raise MalformedError(f"the PDF declares more than {MAX_PDF_OBJECTS} objects (about {declared}); a diploma has a few dozen")
    with _PARSING:
        return _parse(data, text=text)


#: Parses at once, per process. Parsing is CPU work (two cores here): more at once only adds memory, each
#: parse holding its reader's objects, while a flood of hostile PDFs waits with just its bytes.
_PARSING = threading.BoundedSemaphore(2)


def _parse(data: bytes, *, text: bool = False) -> Diploma:
    """The one embedded bundle of ``data`` (checked cheaply already), through pypdf within its limits;
    with ``text``, then the printed text (``_printed_text``)."""
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import PyPdfError

    try:
        with apply_configuration(**_PYPDF_LIMITS):
            reader = PdfReader(io.BytesIO(data), strict=True, xref_stream_maximum_entries=MAX_PDF_OBJECTS)
            if reader.is_encrypted:
                raise MalformedError("the PDF is encrypted; a diploma PDF never is")
            files = _embedded_files(reader.trailer)
            bundles = [spec for names, spec in files if ATTACHMENT_NAME in names]
            if not bundles:
                raise MalformedError(f"the PDF carries no embedded {ATTACHMENT_NAME}: it is not an eduledger diploma, or it was altered")
            if len(bundles) != 1:
                raise MalformedError(f"the PDF carries {len(bundles)} files named {ATTACHMENT_NAME}; exactly one is expected")
            bundle = _file_contents(bundles[0])
            if not text:
                return Diploma(bundle, None, "not read")
            return Diploma(bundle, *_printed_text(reader))
    except MalformedError:
        raise
    except (PyPdfError, *_PARSE_ERRORS) as e:
        detail = "it is nested too deeply" if isinstance(e, RecursionError) else str(e) or type(e).__name__
        raise MalformedError(f"the PDF does not parse: {detail}") from None
    finally:
        # pypdf's object graph is cyclic (every object points back at its reader), so it is freed
        # only by the cyclic collector; a parse outlives young collections, so it reaches the oldest
        # generation, which a serving process collects rarely (verifier/gcpolicy.py). Under a flood of
        # hostile PDFs that garbage piled up by hundreds of MB (benchmarks/bench_abuse.py: +0.4 MiB a
        # file, never returned). A full collection here frees it at once; it never walks the state a
        # serving process froze, and PDFs are not the hot path (bundles are JSON).
        reader = None
        gc.collect()


def _declared_objects(data: bytes) -> int:
    """An upper bound, close enough, on the objects ``data`` declares, counted without parsing it.

    Every object starts ``N G obj`` and every entry of a cross-reference table ends in ``n`` or ``f``
    and an end of line (PDF 1.7 §7.5.4); ``bytes.count`` finds both at memchr speed. Text inside a
    stream may add a few to the count; a diploma stays far below the limit."""
    objects = data.count(b"obj") // 2  # "obj" and "endobj"
    entries = sum(data.count(b" " + kind + eol) for kind in (b"n", b"f") for eol in (b" ", b"\r", b"\n"))
    return max(objects, entries)


def _get(d, key: str):
    """``d[key]`` resolved, or None: an absent key and a null value mean the same (PDF 1.7 §7.3.9)."""
    from pypdf.generic import NullObject

    if key not in d:
        return None
    value = d.raw_get(key).get_object()
    return None if isinstance(value, NullObject) else value


def _text(value) -> str | None:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return None


def _embedded_files(trailer) -> list[tuple[set[str], object]]:
    """Each embedded file's names (tree key, ``/F``, ``/UF``) and file specification, walking the
    EmbeddedFiles name tree (PDF 1.7 §7.9.6) within the limits; no file stream is read."""
    from pypdf.generic import ArrayObject, DictionaryObject

    catalog = _get(trailer, "/Root")
    if not isinstance(catalog, DictionaryObject):
        raise MalformedError("the PDF has no document catalog")
    names = _get(catalog, "/Names")
    tree = _get(names, "/EmbeddedFiles") if isinstance(names, DictionaryObject) else None
    if tree is None:
        return []
    files: list[tuple[set[str], object]] = []
    stack, nodes = [(tree, 1)], 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_NAME_TREE_DEPTH or nodes > MAX_NAME_TREE_NODES:
            raise MalformedError(f"the PDF's embedded-file name tree is more than {MAX_NAME_TREE_DEPTH} levels deep "
                                 f"or has more than {MAX_NAME_TREE_NODES} nodes; a diploma's has one")
        if not isinstance(node, DictionaryObject):
            raise MalformedError("the PDF's embedded-file name tree holds a node that is not a dictionary")
        pairs, kids = _get(node, "/Names"), _get(node, "/Kids")
        if pairs is not None:
            if not isinstance(pairs, ArrayObject) or len(pairs) % 2:
                raise MalformedError("the PDF's embedded-file name tree has a /Names entry that is not an array of name, file pairs")
            if len(files) + len(pairs) // 2 > MAX_EMBEDDED_FILES:
                raise MalformedError(f"the PDF embeds more than {MAX_EMBEDDED_FILES} files; a diploma embeds one")
            for i in range(0, len(pairs), 2):
                spec = pairs[i + 1].get_object()
                if not isinstance(spec, DictionaryObject):
                    raise MalformedError("the PDF's embedded-file name tree names something that is not a file specification")
                found = {_text(pairs[i].get_object()), _text(_get(spec, "/F")), _text(_get(spec, "/UF"))}
                files.append(({n for n in found if n is not None}, spec))
        if kids is not None:
            if not isinstance(kids, ArrayObject) or len(kids) > MAX_NAME_TREE_NODES:
                raise MalformedError(f"the PDF's embedded-file name tree has a /Kids entry that is not an array of at most {MAX_NAME_TREE_NODES} nodes")
            stack.extend((kid.get_object(), depth + 1) for kid in kids)
    return files


def _file_contents(spec) -> bytes:
    """The bytes of the one stream of file specification ``spec`` (PDF 1.7 §7.11.3-4), at most MAX_BUNDLE_BYTES."""
    from pypdf.errors import LimitReachedError
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

    ef = _get(spec, "/EF")
    if not isinstance(ef, DictionaryObject):
        raise MalformedError(f"the embedded {ATTACHMENT_NAME} has no file stream (/EF)")
    refs = {(r.idnum, r.generation) if isinstance(r, IndirectObject) else id(r): r for r in (ef.raw_get(k) for k in ef)}
    if len(refs) != 1:
        raise MalformedError(f"the embedded {ATTACHMENT_NAME} has {len(refs)} different file streams; exactly one is expected")
    try:
        stream = next(iter(refs.values())).get_object()
    except LimitReachedError:  # its declared /Length is over pypdf's limit, MAX_BUNDLE_BYTES: it was not read
        raise MalformedError(f"the embedded {ATTACHMENT_NAME} is stored in more than {MAX_BUNDLE_BYTES} bytes, the bundle size limit") from None
    if not isinstance(stream, StreamObject):
        raise MalformedError(f"the embedded {ATTACHMENT_NAME} is not a stream")
    raw = StreamObject.get_data(stream)  # the bytes as stored: EncodedStreamObject.get_data would decode them, uncapped
    filters = _get(stream, "/Filter")
    chain = [] if filters is None else list(filters) if isinstance(filters, ArrayObject) else [filters]
    chain = [str(f.get_object()) for f in chain]
    if not chain:
        if len(raw) > MAX_BUNDLE_BYTES:
            raise MalformedError(f"the embedded {ATTACHMENT_NAME} is larger than {MAX_BUNDLE_BYTES} bytes, the bundle size limit")
        return bytes(raw)
    if chain != ["/FlateDecode"]:
        raise MalformedError(f"the embedded {ATTACHMENT_NAME} is encoded with {' '.join(chain)}; only /FlateDecode or no filter is "
                             "accepted (its decompressed size must be capped)")
    parms = _get(stream, "/DecodeParms")
    if isinstance(parms, ArrayObject):
        parms = parms[0].get_object() if len(parms) == 1 else parms
    if parms is not None and not (isinstance(parms, DictionaryObject) and _get(parms, "/Predictor") in (None, 1)):
        raise MalformedError(f"the embedded {ATTACHMENT_NAME} has decoding parameters (a predictor); a bundle has none")
    return _inflate(raw)


def _inflate(raw: bytes) -> bytes:
    """``raw`` (zlib, RFC 1950) inflated; MalformedError once the output would pass MAX_BUNDLE_BYTES.

    Inflated a step at a time and kept in pieces (a growing buffer would be copied as it grows), so
    that the memory spent is the output so far plus one step, whatever ``raw`` expands to."""
    inflater, pieces, size, pending = zlib.decompressobj(), [], 0, raw
    try:
        while not inflater.eof:
            piece = inflater.decompress(pending, _INFLATE_STEP)
            if not piece and len(inflater.unconsumed_tail) == len(pending):
                break  # no input left to consume and nothing comes out: the data ends early
            pieces.append(piece)
            size += len(piece)
            if size > MAX_BUNDLE_BYTES:
                raise MalformedError(f"the embedded {ATTACHMENT_NAME} decompresses to more than {MAX_BUNDLE_BYTES} bytes, the bundle size limit")
            pending = inflater.unconsumed_tail
    except zlib.error as e:
        raise MalformedError(f"the embedded {ATTACHMENT_NAME} is not valid FlateDecode data: {e}") from None
    if not inflater.eof:
        raise MalformedError(f"the embedded {ATTACHMENT_NAME} is truncated FlateDecode data")
    return b"".join(pieces)


# --- the text layer ------------------------------------------------------------------------


class _TooCostly(Exception):
    """The text layer is past one of the text limits; the message says which."""


class _Budget:
    """pypdf's ``visitor_operand_before``: called before every drawing operation of the page and of
    the forms it draws, it stops the extraction past ``MAX_TEXT_OPERATORS`` or ``MAX_TEXT_SECONDS``.
    (Raised inside a form, pypdf's handler of forms swallows it; the page's next operation raises it again.)"""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock, self.operations, self.deadline = clock, 0, clock() + MAX_TEXT_SECONDS

    def __call__(self, operator: object, operands: object, cm: object, tm: object) -> None:
        self.operations += 1
        if self.operations > MAX_TEXT_OPERATORS:
            raise _TooCostly(f"the page has more than {MAX_TEXT_OPERATORS} drawing operations; a diploma has a few hundred")
        if self.operations % 64 == 0 and self.clock() > self.deadline:
            raise _TooCostly(f"reading the page's text took more than {MAX_TEXT_SECONDS:g} seconds")


def _printed_text(reader) -> tuple[str | None, str | None]:
    """(the text of the PDF's pages, None), or (None, why it could not be read within the text limits)."""
    from pypdf import apply_configuration
    from pypdf.errors import PyPdfError

    try:
        with apply_configuration(**_TEXT_LIMITS):
            pages = len(reader.pages)
            if pages == 0:
                return None, "the PDF has no page"
            if pages > MAX_TEXT_PAGES:
                return None, f"the PDF has {pages} pages; a diploma has one"
            budget, parts = _Budget(), []
            for page in reader.pages:
                _check_fonts(page)
                parts.append(page.extract_text(visitor_operand_before=budget))
    except _TooCostly as e:
        return None, str(e)
    except (PyPdfError, *_PARSE_ERRORS) as e:
        detail = "it is nested too deeply" if isinstance(e, RecursionError) else str(e) or type(e).__name__
        return None, f"its text layer does not read: {detail}"
    out = "\n".join(parts)
    if len(out) > MAX_TEXT_CHARS:
        return None, f"the page holds more than {MAX_TEXT_CHARS} characters of text; a diploma holds a few hundred"
    return out, None


def _check_fonts(page) -> None:
    """_TooCostly unless the page and the forms it uses hold at most MAX_TEXT_FONTS fonts and MAX_TEXT_FORMS
    forms, each font's ToUnicode map within MAX_CMAP_BYTES and MAX_CMAP_CODES (read here, before pypdf builds it)."""
    from pypdf.generic import DictionaryObject, StreamObject

    fonts, forms, stack = 0, 0, [page]
    while stack:
        resources = _get(stack.pop(), "/Resources")
        if not isinstance(resources, DictionaryObject):
            continue
        font_dict = _get(resources, "/Font")
        if isinstance(font_dict, DictionaryObject):
            fonts += len(font_dict)
            if fonts > MAX_TEXT_FONTS:
                raise _TooCostly(f"the page uses more than {MAX_TEXT_FONTS} fonts; a diploma uses a few")
            for name in font_dict:
                font = _get(font_dict, name)
                cmap = _get(font, "/ToUnicode") if isinstance(font, DictionaryObject) else None
                if isinstance(cmap, StreamObject):
                    _check_cmap(cmap.get_data())  # decompressed within the configuration's caps
        xobjects = _get(resources, "/XObject")
        if isinstance(xobjects, DictionaryObject):
            for name in xobjects:
                x = _get(xobjects, name)
                if isinstance(x, StreamObject) and _get(x, "/Subtype") == "/Form":
                    forms += 1
                    if forms > MAX_TEXT_FORMS:
                        raise _TooCostly(f"the page draws more than {MAX_TEXT_FORMS} forms; a diploma draws none")
                    stack.append(x)


_CMAP_TOKEN = re.compile(rb"<([0-9A-Fa-f \t\r\n]*)>|\[|\]|(begin|end)bf(range|char)")


def _check_cmap(cmap: bytes) -> None:
    """_TooCostly if a ToUnicode map is over MAX_CMAP_BYTES, or maps more than MAX_CMAP_CODES codes:
    every ``bfchar`` pair counts one, every ``bfrange`` ``<lo> <hi> …`` counts hi - lo + 1 (what pypdf
    would build from it, one dictionary entry per code)."""
    if len(cmap) > MAX_CMAP_BYTES:
        raise _TooCostly(f"a font's ToUnicode map is larger than {MAX_CMAP_BYTES // 1024} KiB; a diploma's are a few KiB")
    codes, block, pending, in_array = 0, None, [], False
    for m in _CMAP_TOKEN.finditer(cmap):
        token = m.group(0)
        if m.group(2) is not None:  # beginbfrange, endbfchar, …
            block = m.group(3) if m.group(2) == b"begin" else None
            pending, in_array = [], False
        elif block is None:
            continue
        elif token == b"[":
            in_array = True
        elif token == b"]":
            pending, in_array = [], False
        elif not in_array:
            pending.append(m.group(1))
            if block == b"char" and len(pending) == 2:
                codes, pending = codes + 1, []
            elif block == b"range" and len(pending) == 2:
                lo, hi = (int(b"".join(h.split()) or b"0", 16) for h in pending)
                codes += max(0, hi - lo + 1)
            elif block == b"range" and len(pending) == 3:
                pending = []
        if codes > MAX_CMAP_CODES:
            raise _TooCostly(f"a font's ToUnicode map maps more than {MAX_CMAP_CODES} codes; a diploma's fonts map a few hundred")
