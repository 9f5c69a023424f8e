"""What you see is what was verified: the report's verified facts, the CLI leading with them, and a diploma
PDF's printed text compared with them (issue 18, point 1).

The PDFs are real: the genuine ones made by ``portfolio_api/pdf.py`` (reportlab, DejaVu), the forged ones
drawn with reportlab the same way, printing another place or name, with the genuine bundle attached as
``portfolio_api/pdf.py`` attaches it. A forgery still verifies (the bundle is genuine), but its report warns,
naming the field; a genuine page is never reported as confirmed, and the text-layer reading keeps to limits."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zlib

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from ledger.errors import MalformedError
from portfolio_api.pdf import _fonts, render_credential_pdf, with_bundle
from tests.fixtures_network import FIELDS, TITLES, LedgerFixture
from tests.verifier.test_pdf_bombs import PEAK_LIMIT, bundles_pdf, zeros_deflated
from verifier import cli
from verifier import pdf as pdf_module
from verifier.document import verify_document
from verifier.facts import compare_printed, normalise, place_claims
from verifier.pdf import ATTACHMENT_NAME, MAX_CMAP_CODES, MAX_TEXT_OPERATORS, extract_bundle, read_diploma
from verifier.report import DIFFERS, NO_DIFFERENCE_FOUND, NOT_COMPARED, PDF_NOTICE, Facts
from verifier.verify import verify

HOLDER = "Иванова Мария Петровна"
SECOND = "Диплом призёра регионального этапа"


@pytest.fixture(scope="module")
def net() -> LedgerFixture:
    return LedgerFixture()


@pytest.fixture(scope="module")
def second_place(net) -> tuple[dict, bytes]:
    """A genuine olympiad diploma for 2nd place, and its bundle."""
    cred = net.credential(title=SECOND, fields={**FIELDS["olympiad-diploma"], "place": "2"})
    return cred, net.bundle(cred, net.issue(cred))


def genuine_pdf(cred: dict, bundle: bytes) -> bytes:
    """The PDF the e-portfolio makes for ``cred`` (portfolio_api/pdf.py)."""
    return render_credential_pdf(holder=cred["credentialSubject"]["name"], title=cred["name"], kind="olympiad-diploma",
                                 issuer=cred["issuer"]["name"], achieved_on=cred["validFrom"][:10], digest="ab" * 32,
                                 verify_url="http://node.example/q/" + "ab" * 32 + "/secret", bundle=bundle)


def drawn_pdf(lines: list[str], bundle: bytes, *, pages: int = 1) -> bytes:
    """A page drawn with reportlab in DejaVu, printing ``lines``, with ``bundle`` attached as portfolio_api/pdf.py does."""
    _fonts()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=landscape(A4), invariant=1)
    for _ in range(pages):
        y = 170 * mm
        for line in lines:
            c.setFont("DejaVu-Bold", 20)
            c.drawCentredString(148 * mm, y, line)
            y -= 14 * mm
        c.showPage()
    c.save()
    return with_bundle(buf.getvalue(), bundle)  # attached as portfolio_api/pdf.py attaches it


def with_page(pdf: bytes, change) -> bytes:
    """``pdf`` rewritten by pypdf after ``change(writer, page)``; its attachment stays as it was."""
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    change(w, w.pages[0])
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def trust_file(net, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("trust") / "trust.json"
    path.write_bytes(net.trust().to_bytes())
    return str(path)


# --- the facts ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, place, stage, hours, date", [
    ("olympiad-diploma", "1", "regional", None, None),
    ("teacher-pd", None, None, 72, "2026-02-20"),  # the programme's last day, not the issue date
    ("participation", None, None, None, None),
    ("school-leaving", None, None, None, None),
    ("generic", None, None, None, None),
])  # fmt: skip
def test_a_verified_report_carries_the_facts_of_each_kind(net, kind, place, stage, hours, date):
    cred = net.credential(kind)
    report = verify(net.bundle(cred, net.issue(cred)), net.trust(), now=net.now)
    assert report.ok
    issued = cred["validFrom"][:10]
    assert report.facts == Facts(holder=HOLDER, title=TITLES[kind], kind=kind, issuer=report.issuer, issuer_id="olymp-1",
                                 date=date or issued, issued_on=issued, place=place, stage=stage, hours=hours)
    assert report.to_json()["facts"] == report.facts._asdict()


def test_the_issuer_is_named_as_the_trust_file_names_it_not_as_the_credential_does(net):
    cred = net.credential("generic", issuer_name="Московский государственный университет")
    report = verify(net.bundle(cred, net.issue(cred)), net.trust(), now=net.now)
    assert report.ok and report.facts.issuer == net.trust().roster["olymp-1"].name != "Московский государственный университет"


def test_an_altered_credential_has_no_facts_and_a_revoked_one_keeps_them(net, second_place):
    cred, bundle = second_place
    doc = json.loads(bundle)
    doc["credential"]["credentialSubject"]["name"] = "Кто-то другой"
    altered = verify(json.dumps(doc, ensure_ascii=False).encode(), net.trust(), now=net.now)
    assert altered.status == "failed" and altered.facts is None and altered.to_json()["facts"] is None
    other = net.credential(title=SECOND, fields={**FIELDS["olympiad-diploma"], "place": "2"})
    index = net.issue(other)
    net.revoke(other)
    revoked = verify(net.bundle(other, index), net.trust(), now=net.now)
    assert revoked.status == "revoked" and revoked.facts is not None and revoked.facts.place == "2"


def test_the_cli_text_leads_with_the_facts_and_the_json_carries_them(net, second_place, trust_file, tmp_path, capsys):
    _, bundle = second_place
    (tmp_path / "d.json").write_bytes(bundle)
    code, out = run(capsys, str(tmp_path / "d.json"), "--trust", trust_file)
    lines = out.splitlines()
    assert code == 0 and lines[0] == "verified facts:"
    block = lines[: lines.index(next(x for x in lines if x.startswith(str(tmp_path))))]
    assert f"  holder       {HOLDER}" in block and f"  achievement  {SECOND}" in block and "  place        2nd place" in block
    assert "  stage        regional" in block and any(x.startswith("  issuer       ") and x.endswith("(olymp-1)") for x in block)
    assert lines[len(block)].startswith(f"{tmp_path / 'd.json'}: verified (") and lines[len(block) + 1] == "steps:"
    assert lines[len(block) + 2].startswith("  1 well-formed: passed: ")
    code, out = run(capsys, str(tmp_path / "d.json"), "--trust", trust_file, "--json")
    facts = json.loads(out)["files"][0]["facts"]
    assert code == 0 and facts["holder"] == HOLDER and facts["place"] == "2" and facts["kind"] == "olympiad-diploma"
    assert "printed" not in json.loads(out)["files"][0]  # not a PDF


def test_a_file_that_does_not_verify_says_nothing_is_confirmed(net, second_place, tmp_path, trust_file, capsys):
    doc = json.loads(second_place[1])
    doc["credential"]["name"] = "Диплом победителя"
    (tmp_path / "x.json").write_text(json.dumps(doc, ensure_ascii=False))
    code, out = run(capsys, str(tmp_path / "x.json"), "--trust", trust_file)
    assert code == 1 and out.startswith("verified facts: none (the credential did not verify")


# --- PDFs -----------------------------------------------------------------------------------


def test_a_genuine_pdf_shows_no_difference_and_says_only_the_facts_are_confirmed(net, second_place, tmp_path, trust_file, capsys):
    cred, bundle = second_place
    pdf = genuine_pdf(cred, bundle)
    assert "2 место, региональный этап" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()  # the page prints the place
    report = verify_document(pdf, net.trust(), now=net.now)
    assert report.status == "verified" and report.printed.status == NO_DIFFERENCE_FOUND and not report.printed_differs
    assert report.printed.notice == PDF_NOTICE and "confirms nothing" in report.printed.message
    assert report.to_json()["printed"] == {"status": NO_DIFFERENCE_FOUND, "notice": PDF_NOTICE, "message": report.printed.message, "differences": []}
    (tmp_path / "diploma.pdf").write_bytes(pdf)
    code, out = run(capsys, str(tmp_path / "diploma.pdf"), "--trust", trust_file)
    assert code == 0 and out.startswith("verified facts:") and f"pdf: {PDF_NOTICE}" in out and "WARNING" not in out


def test_a_forged_place_is_a_warning_naming_the_place(net, second_place, tmp_path, trust_file, capsys):
    cred, bundle = second_place
    forged = drawn_pdf(["Центр олимпиад", "ДИПЛОМ", HOLDER, "ПОБЕДИТЕЛЬ (1 место)", "Региональная олимпиада по физике"], bundle)
    assert extract_bundle(forged) == bundle
    report = verify_document(forged, net.trust(), now=net.now)
    assert report.status == "verified" and report.ok  # the bundle is genuine: its facts are what is verified
    assert report.printed.status == DIFFERS and report.printed_differs
    fields = {d.field: d for d in report.printed.differences}
    assert set(fields) == {"title", "place"}  # the holder is printed right
    assert fields["place"].verified == "2" and fields["place"].printed == "победитель, 1 место"
    assert report.printed.message.startswith("the printed text differs from the verified facts: ")
    assert "the page claims “победитель, 1 место”, the verified place is 2 (2nd place)" in report.printed.message
    assert str(report).startswith("verified, but the printed text differs from the verified facts")
    (tmp_path / "forged.pdf").write_bytes(forged)
    (tmp_path / "copy.json").write_bytes(bundle)
    code, out = run(capsys, str(tmp_path / "forged.pdf"), "--trust", trust_file)
    assert code == 0 and "WARNING: the printed text differs from the verified facts" in out and "place        2nd place" in out
    code, out = run(capsys, str(tmp_path), "--trust", trust_file)  # many files: one line each, the warning on the PDF's
    line = next(x for x in out.splitlines() if x.startswith(str(tmp_path / "forged.pdf")))
    assert "— WARNING: the printed text differs from the verified facts: " in line and "“победитель, 1 место”" in line
    code, out = run(capsys, str(tmp_path / "forged.pdf"), "--trust", trust_file, "--json")
    printed = json.loads(out)["files"][0]["printed"]
    assert printed["status"] == "differs" and {"field": "place", "verified": "2", "printed": "победитель, 1 место"} in printed["differences"]


def test_a_forged_name_is_a_warning_naming_the_holder(net, second_place):
    cred, bundle = second_place
    forged = drawn_pdf(["Петров Пётр Иванович", SECOND, "2 место, региональный этап"], bundle)
    report = verify_document(forged, net.trust(), now=net.now)
    assert report.ok and [d.field for d in report.printed.differences] == ["holder"]
    assert f"the verified holder “{HOLDER}” is not on the page" in report.printed.message


def test_case_spacing_and_yo_do_not_make_a_difference(net, second_place):
    cred, bundle = second_place
    page = drawn_pdf(["ИВАНОВА   МАРИЯ ПЕТРОВНА", "диплом призера", "регионального   этапа", "Второе место"], bundle)
    report = verify_document(page, net.trust(), now=net.now)
    assert report.printed.status == NO_DIFFERENCE_FOUND, report.printed.message
    reordered = drawn_pdf(["Мария Петровна Иванова", SECOND], bundle)
    assert verify_document(reordered, net.trust(), now=net.now).printed.status == NO_DIFFERENCE_FOUND


@pytest.mark.parametrize("text, claims", [
    ("ПОБЕДИТЕЛЬ (1 место)", ["winner", "1"]),
    ("призёр-победитель", ["prize-winner", "winner"]),
    ("Prize-winner, 2nd place", ["prize-winner", "2"]),
    ("winner of the final", ["winner"]),
    ("3-е место", ["3"]),
    ("второе место", ["2"]),
    ("место № 4", ["4"]),
    ("Сертификат участника", ["participant"]),
    ("удостоверяет участие в олимпиаде", []),
    ("место проведения: Москва", []),
    ("II место; first place; put in place", ["2", "1"]),
])  # fmt: skip
def test_places_are_read_in_russian_and_english(text, claims):
    assert [c for c, _ in place_claims(normalise(text))] == claims


def test_a_claim_that_the_verified_place_implies_is_no_difference():
    facts = Facts(HOLDER, "Диплом", "olympiad-diploma", "Центр", "olymp-1", "2026-03-01", "2026-03-01", place="2")
    assert compare_printed(facts, f"{HOLDER} Диплом призёр, 2 место").status == NO_DIFFERENCE_FOUND
    assert compare_printed(facts, f"{HOLDER} Диплом 3 место").differences[0].printed == "3 место"
    assert compare_printed(facts._replace(place="winner"), f"{HOLDER} Диплом 1 место").status == NO_DIFFERENCE_FOUND


def test_a_page_without_a_readable_text_layer_could_not_be_compared(net, second_place, tmp_path, trust_file, capsys):
    _, bundle = second_place
    w = PdfWriter()
    w.add_blank_page(842, 595)  # a scan's page, as far as text goes
    w.add_attachment(ATTACHMENT_NAME, bundle)
    buf = io.BytesIO()
    w.write(buf)
    report = verify_document(buf.getvalue(), net.trust(), now=net.now)
    assert report.ok and report.printed.status == NOT_COMPARED and report.printed.notice == PDF_NOTICE
    assert report.printed.message.startswith("the printed text could not be compared: the PDF has no readable text layer")
    (tmp_path / "scan.pdf").write_bytes(buf.getvalue())
    code, out = run(capsys, str(tmp_path / "scan.pdf"), "--trust", trust_file)
    assert code == 0 and "pdf: the printed text could not be compared" in out and "WARNING" not in out


def test_a_pdf_whose_bundle_does_not_verify_is_not_compared(net, second_place):
    cred, bundle = second_place
    doc = json.loads(bundle)
    doc["credential"]["credentialSubject"]["name"] = "Петров Пётр Иванович"
    report = verify_document(drawn_pdf(["Петров Пётр Иванович", SECOND], json.dumps(doc, ensure_ascii=False).encode()), net.trust(), now=net.now)
    assert not report.ok and report.facts is None and report.printed.status == NOT_COMPARED
    assert "there are no verified facts to compare it with" in report.printed.message


# --- the limits still hold ------------------------------------------------------------------


def read_measured(pdf: bytes):
    """``read_diploma(pdf)`` (or the MalformedError it raised), its peak memory and its time."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        try:
            result = read_diploma(pdf)
        except MalformedError as e:
            result = e
        return result, tracemalloc.get_traced_memory()[1], time.monotonic() - started
    finally:
        tracemalloc.stop()


def test_bombs_are_refused_by_read_diploma_as_by_extract_bundle():
    for pdf, words in ((bundles_pdf(8, zeros_deflated(), ["/FlateDecode"]), "carries 8 files named"),
                       (bundles_pdf(1, zeros_deflated(), ["/FlateDecode"]), "decompresses to more than")):
        err, peak, _ = read_measured(pdf)
        assert isinstance(err, MalformedError) and words in str(err)
        assert peak < PEAK_LIMIT


def test_a_page_of_70_mb_of_zeros_is_not_read_and_the_bundle_still_is(second_place):
    _, bundle = second_place

    def bomb(w, page):
        s = DecodedStreamObject()
        s.set_data(zeros_deflated())
        s[NameObject("/Filter")] = NameObject("/FlateDecode")
        page[NameObject("/Contents")] = w._add_object(s)

    pdf = with_page(drawn_pdf(["x"], bundle), bomb)
    diploma, peak, _ = read_measured(pdf)
    assert diploma.bundle == bundle and diploma.text is None and "its text layer does not read" in diploma.text_problem
    assert peak < 4 * PEAK_LIMIT


def test_a_font_map_that_would_cost_seconds_is_refused_before_it_is_built(second_place):
    """A ToUnicode map of 2 KB whose ranges map 99,000 codes took pypdf 18 s and 37 MB on three fonts."""
    _, bundle = second_place
    ranges = b"".join(b"<%04X> <%04X> <0041>\n" % (i, i + 999) for i in range(0, 99_000, 1000))
    cmap = b"begincmap 1 begincodespacerange <0000> <FFFF> endcodespacerange 99 beginbfrange\n" + ranges + b"endbfrange endcmap"

    def bomb(w, page):
        for ref in page["/Resources"]["/Font"].values():
            s = DecodedStreamObject()
            s.set_data(cmap)
            ref.get_object()[NameObject("/ToUnicode")] = w._add_object(s)

    diploma, peak, seconds = read_measured(with_page(drawn_pdf([HOLDER], bundle), bomb))
    assert diploma.bundle == bundle and diploma.text is None
    assert diploma.text_problem == f"a font's ToUnicode map maps more than {MAX_CMAP_CODES} codes; a diploma's fonts map a few hundred"
    assert seconds < 5 and peak < 4 * PEAK_LIMIT  # (a few hundredths of a second, on a busy machine more)


def test_too_many_drawing_operations_or_pages_are_not_read(second_place, monkeypatch):
    _, bundle = second_place
    monkeypatch.setattr(pdf_module, "MAX_TEXT_SECONDS", 600)  # the operation count is what this test is about, not the machine's speed

    def busy(w, page):
        s = DecodedStreamObject()
        s.set_data(zlib.compress(b"BT ET\n" * (MAX_TEXT_OPERATORS + 100)))
        s[NameObject("/Filter")] = NameObject("/FlateDecode")
        page[NameObject("/Contents")] = w._add_object(s)

    diploma, peak, seconds = read_measured(with_page(drawn_pdf(["x"], bundle), busy))
    assert diploma.text_problem == f"the page has more than {MAX_TEXT_OPERATORS} drawing operations; a diploma has a few hundred"
    assert peak < 4 * PEAK_LIMIT
    assert read_diploma(drawn_pdf([HOLDER], bundle, pages=3)).text_problem == "the PDF has 3 pages; a diploma has one"


def test_reading_the_text_stops_at_its_time_limit(second_place, monkeypatch):
    cred, bundle = second_place
    monkeypatch.setattr(pdf_module, "MAX_TEXT_SECONDS", 0)  # checked every 64 operations: the diploma has more
    diploma = read_diploma(genuine_pdf(cred, bundle))
    assert diploma.bundle == bundle and diploma.text_problem == "reading the page's text took more than 0 seconds"


def test_the_text_layer_is_read_in_the_same_parse_and_within_the_bundle_bound(second_place):
    cred, bundle = second_place
    diploma, peak, _ = read_measured(genuine_pdf(cred, bundle))
    assert diploma.bundle == bundle and HOLDER in diploma.text and diploma.text_problem is None
    assert peak < PEAK_LIMIT
