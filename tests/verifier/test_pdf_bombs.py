"""Hostile PDFs: ``extract_bundle`` refuses them with a MalformedError saying why, having inflated nothing it did
not need, and its memory stays bounded by the bundle size limit (tracemalloc's peak over the call, not a timing).

The PDFs are built here with pypdf, as an attacker would: FlateDecode streams of 70 MB of zeros (about 70 KB
compressed), several of them under the bundle's name, name trees nested deep or wide, filters whose output
cannot be capped, a cross-reference table of a million entries."""

from __future__ import annotations

import io
import tracemalloc
import zlib
from functools import cache

import pypdf  # noqa: F401 - imported before tracemalloc starts, so its import is not counted as the call's memory
import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, NumberObject, TextStringObject

from ledger.errors import MalformedError
from portfolio_api.pdf import render_credential_pdf
from verifier.pdf import ATTACHMENT_NAME, MAX_EMBEDDED_FILES, MAX_NAME_TREE_DEPTH, MAX_PDF_OBJECTS, extract_bundle
from verifier.verify import MAX_BUNDLE_BYTES

BOMB_BYTES = 70 * 1024 * 1024
#: The most an extraction may allocate: twice the bundle cap (the brief's bound), whatever the PDF holds.
PEAK_LIMIT = 2 * MAX_BUNDLE_BYTES


@cache
def zeros_deflated(n: int = BOMB_BYTES) -> bytes:
    """``n`` zero bytes, zlib-compressed (about 1/1000 of ``n``), built a megabyte at a time."""
    z, chunk = zlib.compressobj(9), bytes(1 << 20)
    return b"".join([*(z.compress(chunk) for _ in range(n // len(chunk))), z.flush()])


def _stream(w: PdfWriter, data: bytes, filters: list[str] = ()) -> object:
    """An /EmbeddedFile stream holding ``data`` as stored (already encoded by ``filters``)."""
    s = DecodedStreamObject()
    s.set_data(data)
    s[NameObject("/Type")] = NameObject("/EmbeddedFile")
    if len(filters) == 1:
        s[NameObject("/Filter")] = NameObject(filters[0])
    elif filters:
        s[NameObject("/Filter")] = ArrayObject([NameObject(f) for f in filters])
    return w._add_object(s)


def _filespec(w: PdfWriter, name: str, stream_ref: object, **extra: object) -> object:
    spec = DictionaryObject({NameObject("/Type"): NameObject("/Filespec"), NameObject("/F"): TextStringObject(name),
                             NameObject("/EF"): DictionaryObject({NameObject("/F"): stream_ref})})
    spec.update({NameObject(k): v for k, v in extra.items()})
    return w._add_object(spec)


def _leaf(files: list[tuple[str, object]]) -> DictionaryObject:
    return DictionaryObject({NameObject("/Names"): ArrayObject([x for name, ref in files for x in (TextStringObject(name), ref)])})


def _pdf(tree_of: object) -> bytes:
    """A one-page PDF whose EmbeddedFiles name tree is ``tree_of(writer)``."""
    w = PdfWriter()
    w.add_blank_page(200, 200)
    w.root_object[NameObject("/Names")] = DictionaryObject({NameObject("/EmbeddedFiles"): tree_of(w)})
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def bundles_pdf(count: int, data: bytes, filters: list[str]) -> bytes:
    return _pdf(lambda w: _leaf([(ATTACHMENT_NAME, _filespec(w, ATTACHMENT_NAME, _stream(w, data, filters))) for _ in range(count)]))


def extract_measured(pdf: bytes) -> tuple[bytes | MalformedError, int]:
    """``extract_bundle(pdf)`` (its bytes, or the MalformedError it raised) and the peak memory it allocated."""
    tracemalloc.start()
    try:
        try:
            result: bytes | MalformedError = extract_bundle(pdf)
        except MalformedError as e:
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_eight_bundles_of_70_mb_of_zeros_are_refused_before_any_is_inflated():
    pdf = bundles_pdf(8, zeros_deflated(), ["/FlateDecode"])
    assert len(pdf) < 1 << 20  # 560 MB of zeros in well under a megabyte
    err, peak = extract_measured(pdf)
    assert isinstance(err, MalformedError)
    assert str(err) == f"the PDF carries 8 files named {ATTACHMENT_NAME}; exactly one is expected"
    assert peak < PEAK_LIMIT


def test_one_bundle_of_70_mb_of_zeros_is_cut_at_the_bundle_size_limit():
    err, peak = extract_measured(bundles_pdf(1, zeros_deflated(), ["/FlateDecode"]))
    assert isinstance(err, MalformedError)
    assert f"decompresses to more than {MAX_BUNDLE_BYTES} bytes, the bundle size limit" in str(err)
    assert peak < PEAK_LIMIT


def test_a_bundle_just_over_the_limit_is_refused_and_one_at_the_limit_is_extracted():
    at_limit = b'{"pad": "' + b"x" * (MAX_BUNDLE_BYTES - 12) + b'"}'
    assert len(at_limit) == MAX_BUNDLE_BYTES - 1
    assert extract_bundle(bundles_pdf(1, zlib.compress(at_limit), ["/FlateDecode"])) == at_limit
    assert extract_bundle(bundles_pdf(1, at_limit, [])) == at_limit
    over = at_limit + b"  "
    with pytest.raises(MalformedError, match="decompresses to more than"):
        extract_bundle(bundles_pdf(1, zlib.compress(over), ["/FlateDecode"]))
    with pytest.raises(MalformedError, match=f"stored in more than {MAX_BUNDLE_BYTES} bytes"):
        extract_bundle(bundles_pdf(1, over, []))


def test_a_truncated_or_corrupt_flate_bundle_is_refused():
    whole = zlib.compress(b'{"format": "eduledger-bundle/v1"}' * 100)
    with pytest.raises(MalformedError, match="truncated FlateDecode"):
        extract_bundle(bundles_pdf(1, whole[: len(whole) // 2], ["/FlateDecode"]))
    with pytest.raises(MalformedError, match="not valid FlateDecode data"):
        extract_bundle(bundles_pdf(1, b"\x00not zlib at all", ["/FlateDecode"]))


@pytest.mark.parametrize(
    "filters",
    [["/ASCIIHexDecode"], ["/LZWDecode"], ["/RunLengthDecode"], ["/ASCII85Decode", "/FlateDecode"], ["/FlateDecode", "/FlateDecode"]],
)
def test_a_filter_whose_output_cannot_be_capped_is_refused(filters):
    err, peak = extract_measured(bundles_pdf(1, zeros_deflated(), filters))
    assert isinstance(err, MalformedError)
    assert f"is encoded with {' '.join(filters)}; only /FlateDecode or no filter is accepted" in str(err)
    assert peak < PEAK_LIMIT


def test_a_predictor_on_the_bundle_is_refused():
    def tree(w):
        ref = _stream(w, zlib.compress(b"{}"), ["/FlateDecode"])
        ref.get_object()[NameObject("/DecodeParms")] = DictionaryObject({NameObject("/Predictor"): NumberObject(12)})
        return _leaf([(ATTACHMENT_NAME, _filespec(w, ATTACHMENT_NAME, ref))])

    with pytest.raises(MalformedError, match="decoding parameters"):
        extract_bundle(_pdf(tree))


def _chain(w: PdfWriter, depth: int, leaf: DictionaryObject) -> DictionaryObject:
    """A name tree ``depth`` levels deep: intermediate nodes of one kid each, ``leaf`` at the bottom."""
    node = leaf
    for _ in range(depth - 1):
        node = DictionaryObject({NameObject("/Kids"): ArrayObject([w._add_object(node)])})
    return node


def test_a_name_tree_nested_too_deep_is_refused_before_its_bundle_is_read():
    def tree(w):
        return _chain(w, MAX_NAME_TREE_DEPTH + 1, _leaf([(ATTACHMENT_NAME, _filespec(w, ATTACHMENT_NAME, _stream(w, zeros_deflated(), ["/FlateDecode"])))]))

    err, peak = extract_measured(_pdf(tree))
    assert isinstance(err, MalformedError) and f"more than {MAX_NAME_TREE_DEPTH} levels deep" in str(err)
    assert peak < PEAK_LIMIT


def test_a_name_tree_with_too_many_nodes_is_refused():
    def tree(w):
        kids = [w._add_object(DictionaryObject({NameObject("/Kids"): ArrayObject()})) for _ in range(100)]
        return DictionaryObject({NameObject("/Kids"): ArrayObject(kids)})

    with pytest.raises(MalformedError, match="nodes"):
        extract_bundle(_pdf(tree))


def test_a_name_tree_whose_kids_loop_is_refused():
    def tree(w):
        node = DictionaryObject()
        ref = w._add_object(node)
        node[NameObject("/Kids")] = ArrayObject([ref])
        return node

    with pytest.raises(MalformedError, match="name tree"):
        extract_bundle(_pdf(tree))


def test_two_bundles_in_different_leaves_of_a_nested_tree_are_refused():
    def tree(w):
        leaves = [_leaf([(ATTACHMENT_NAME, _filespec(w, ATTACHMENT_NAME, _stream(w, zeros_deflated(), ["/FlateDecode"])))]) for _ in range(2)]
        return DictionaryObject({NameObject("/Kids"): ArrayObject([w._add_object(_chain(w, 3, leaf)) for leaf in leaves])})

    err, peak = extract_measured(_pdf(tree))
    assert isinstance(err, MalformedError) and "carries 2 files named" in str(err)
    assert peak < PEAK_LIMIT


def test_one_bundle_deep_in_a_legitimate_nested_tree_is_extracted():
    bundle = b'{"format": "eduledger-bundle/v1"}'

    def tree(w):
        other = _leaf([("photo.txt", _filespec(w, "photo.txt", _stream(w, b"not a bundle")))])
        mine = _chain(w, MAX_NAME_TREE_DEPTH - 1, _leaf([(ATTACHMENT_NAME, _filespec(w, ATTACHMENT_NAME, _stream(w, zlib.compress(bundle), ["/FlateDecode"])))]))
        return DictionaryObject({NameObject("/Kids"): ArrayObject([w._add_object(other), w._add_object(mine)])})

    assert extract_bundle(_pdf(tree)) == bundle


def test_a_file_under_another_key_but_named_as_the_bundle_counts_as_a_second_bundle():
    def tree(w):
        real = _filespec(w, ATTACHMENT_NAME, _stream(w, b"{}"))
        disguised = _filespec(w, "readme.txt", _stream(w, b"{}"), **{"/UF": TextStringObject(ATTACHMENT_NAME)})
        return _leaf([(ATTACHMENT_NAME, real), ("readme.txt", disguised)])

    with pytest.raises(MalformedError, match="carries 2 files named"):
        extract_bundle(_pdf(tree))


def test_a_bundle_with_two_different_streams_is_refused():
    def tree(w):
        spec = _filespec(w, ATTACHMENT_NAME, _stream(w, b"{}"))
        spec.get_object()["/EF"][NameObject("/UF")] = _stream(w, b'{"other": 1}')
        return _leaf([(ATTACHMENT_NAME, spec)])

    with pytest.raises(MalformedError, match="2 different file streams"):
        extract_bundle(_pdf(tree))


def test_more_embedded_files_than_a_diploma_needs_are_refused():
    def tree(w):
        shared = _stream(w, b"x")
        files = [(f"f{i:02}.txt", _filespec(w, f"f{i:02}.txt", shared)) for i in range(MAX_EMBEDDED_FILES)]
        return _leaf(sorted([*files, (ATTACHMENT_NAME, _filespec(w, ATTACHMENT_NAME, _stream(w, b"{}")))]))

    with pytest.raises(MalformedError, match=f"embeds more than {MAX_EMBEDDED_FILES} files"):
        extract_bundle(_pdf(tree))


def test_a_cross_reference_table_of_a_million_entries_is_refused_unparsed():
    head = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    entries = 1_000_000
    xref = b"xref\n0 %d\n" % entries + b"0000000000 65535 f \n" + b"0000000009 00000 n \n" * (entries - 1)
    pdf = head + xref + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (entries, len(head))
    err, peak = extract_measured(pdf)
    assert isinstance(err, MalformedError) and f"declares more than {MAX_PDF_OBJECTS} objects" in str(err)
    assert peak < PEAK_LIMIT


def test_half_a_million_tiny_objects_are_refused_unparsed():
    body = b"".join(b"%d 0 obj null endobj\n" % i for i in range(2, 500_000))
    pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + body + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    with pytest.raises(MalformedError, match="declares more than"):
        extract_bundle(pdf)


def test_arrays_nested_a_hundred_thousand_deep_fail_cleanly():
    catalog = b"<< /Type /Catalog /X " + b"[" * 100_000 + b"]" * 100_000 + b" >>"
    head = b"%PDF-1.4\n"
    obj = b"1 0 obj\n" + catalog + b"\nendobj\n"
    xref = b"xref\n0 2\n0000000000 65535 f \n%010d 00000 n \n" % len(head)
    pdf = head + obj + xref + b"trailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(head) + len(obj))
    with pytest.raises(MalformedError, match="the PDF does not parse"):
        extract_bundle(pdf)


def test_an_encrypted_pdf_is_refused():
    w = PdfWriter()
    w.add_blank_page(200, 200)
    w.add_attachment(ATTACHMENT_NAME, b"{}")
    w.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    w.write(out)
    with pytest.raises(MalformedError, match="encrypted"):
        extract_bundle(out.getvalue())


def test_a_diploma_made_by_the_portfolio_still_gives_its_exact_bundle():
    bundle = b'{"format": "eduledger-bundle/v1", "credential": {"name": "\xd0\x9c\xd0\xb0\xd1\x80\xd0\xb8\xd1\x8f"}}'
    pdf = render_credential_pdf(holder="Мария Иванова", title="Победитель олимпиады", kind="olympiad", issuer="Центр олимпиад",
                                achieved_on="2026-03-01", digest="ab" * 32, verify_url="http://node.example/c/" + "ab" * 32, bundle=bundle)
    result, peak = extract_measured(pdf)
    assert result == bundle
    assert peak < PEAK_LIMIT
    assert PdfReader(io.BytesIO(pdf)).attachments[ATTACHMENT_NAME] == [bundle]  # the same bytes as pypdf's own reading


def test_no_parse_is_left_behind_for_a_collector_that_rarely_runs():
    """A serving process collects cyclic garbage rarely (verifier/gcpolicy.py), and pypdf's objects are
    cyclic: left to the collector, a flood of hostile PDFs grew a node by 0.4 MiB a file for good
    (benchmarks/bench_abuse.py). Every extraction collects what earlier ones left, so at most the last
    parse (still referenced by the error it raised) is ever waiting, however many came before."""
    import gc

    from pypdf import PdfReader

    bombs = [bundles_pdf(8, zeros_deflated(), ["/FlateDecode"]), bundles_pdf(1, zeros_deflated(), ["/FlateDecode"])]
    gc.collect()
    gc.disable()  # the extreme of a rarely running collector
    try:
        for _ in range(10):
            for pdf in bombs:
                with pytest.raises(MalformedError):
                    extract_bundle(pdf)
        assert len([o for o in gc.get_objects() if isinstance(o, PdfReader)]) <= 1
    finally:
        gc.enable()
