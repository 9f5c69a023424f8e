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
"""

from __future__ import annotations

import gc
import io
import struct
import threading
import zlib

from ledger.errors import MalformedError
from verifier.verify import MAX_BUNDLE_BYTES

__all__ = [
    "ATTACHMENT_NAME", "MAX_EMBEDDED_FILES", "MAX_NAME_TREE_DEPTH", "MAX_NAME_TREE_NODES", "MAX_PDF_BYTES", "MAX_PDF_OBJECTS",
    "extract_bundle",
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
        return _parse(data)


#: Parses at once, per process. Parsing is CPU work (two cores here): more at once only adds memory, each
#: parse holding its reader's objects, while a flood of hostile PDFs waits with just its bytes.
_PARSING = threading.BoundedSemaphore(2)


def _parse(data: bytes) -> bytes:
    """The one embedded bundle of ``data`` (checked cheaply already), through pypdf within its limits."""
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
            return _file_contents(bundles[0])
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
