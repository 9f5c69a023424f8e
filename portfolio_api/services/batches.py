"""Batch issuance from a CSV file as Excel saves it in Russia: every row checked, then all issued or none.

What ``parse_csv`` accepts (it is pure: the bytes and today's date in, rows out):

* encoding: bytes that are valid UTF-8 are UTF-8 (a byte-order mark is dropped: Excel's "CSV UTF-8");
  any other bytes are Windows-1251 (a Russian Excel's "CSV (разделители — точки с запятой)"). An Excel
  workbook, UTF-16 text or other binary is refused with what to save instead.
* delimiter: ``;``, ``,`` or tab: the one that splits the first line into the most cells.
* columns: e-mail, kind, title, date and an optional description. A first row naming them (Russian or
  English names, any order: ``HEADERS``) maps the columns; without one they are taken in that order.
* kind: the identifier (``olympiad``) or its name in either language of the UI (``олимпиада``). The kinds
  are ``credentials.KINDS`` and their names the catalogue's ``kind.<id>`` (portfolio_api/i18n.py): the
  issuing form, this page, the template and the parser read those two places and no other.
* date: dd.mm.yyyy or yyyy-mm-dd, not after the server's today (``services.dates``, as the issuing form).

Each row gets a ``RowResult``: a stable English message, a code and its parameters; pages show the
catalogue's text for the code (``row_text``). A file with any bad row issues nothing: ``Batches.start``
raises ``BatchRefused`` carrying every row's result. ``Batches.check`` runs the same checks and writes
nothing at all (no batch row, no audit record, nothing on the ledger).

Idempotency is per form (``idem_key``): a batch row is created once per (institution, key), so a form
submitted again shows the batch it started; row ``n`` is issued with the credential key
``b<form key>-<n>``, so a re-submission or a resumed run issues nothing twice.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import sqlalchemy as sa

from ledger.errors import EduledgerError, MalformedError, NotFoundError
from portfolio_api.db import tables as t
from portfolio_api.i18n import LANGS, catalogue_ids
from portfolio_api.i18n import t as msg
from portfolio_api.services import audit
from portfolio_api.services.accounts import User
from portfolio_api.services.context import Ctx
from portfolio_api.services.credentials import KINDS, Credentials, IssueRequest
from portfolio_api.services.dates import server_today

log = logging.getLogger("eduledger.portfolio.batch")

MAX_ROWS = 5000
MAX_CSV_BYTES = 2 * 1024 * 1024
CHUNK = 500

COLUMNS = ("email", "kind", "title", "date", "description")
REQUIRED = COLUMNS[:4]
#: Names a first row may give each column (compared case-insensitively, ё as е, spaces collapsed).
HEADERS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "эл. почта", "эл.почта", "электронная почта", "почта", "адрес электронной почты"),
    "kind": ("kind", "вид", "вид достижения", "тип"),
    "title": ("title", "название", "наименование", "название достижения"),
    "date": ("date", "achieved_on", "дата", "дата достижения", "дата получения"),
    "description": ("description", "описание"),
}
#: The downloadable template's first row (one of the names above for each column).
TEMPLATE_HEADER = ("эл. почта", "вид", "название", "дата", "описание")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\Z")
_MIDNIGHT = r"(?:\s+0?0:00(?::00)?)?"  # Excel writes a date cell that holds a time as "21.11.2026 0:00"
_RU_DATE = re.compile(r"\A(\d{1,2})\.(\d{1,2})\.(\d{4})" + _MIDNIGHT + r"\Z")
_ISO_DATE = re.compile(r"\A(\d{4})-(\d{2})-(\d{2})" + _MIDNIGHT + r"\Z")


@dataclass(frozen=True)
class RowResult:
    """One row's result. ``message`` is English and stable (the stored report keeps it, and an erasure
    scrubs e-mail addresses from it); ``code`` and ``params`` select the page's text (``row_text``).
    Stored reports carry no personal data in ``params``."""

    row: int
    ok: bool
    message: str
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict)


class CsvRefused(MalformedError):
    """The file as a whole cannot be read (size, encoding, header, row count): no row was checked or issued."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code, self.params = code, params


class BatchRefused(MalformedError):
    """At least one row is invalid, so nothing was issued; ``results`` holds every row's result."""

    def __init__(self, results: list[RowResult]) -> None:
        self.results = results
        self.bad = sum(not r.ok for r in results)
        super().__init__(f"nothing was issued: {self.bad} of {len(results)} rows have problems")


# --- kinds and column names: from credentials.KINDS and the UI catalogue only ---


def _norm(text: str) -> str:
    return " ".join(text.casefold().replace("ё", "е").split())


def kind_names(lang: str) -> list[tuple[str, str]]:
    """(identifier, name in ``lang``) of every kind, in the order of ``credentials.KINDS``."""
    return [(k, msg(f"kind.{k}", lang)) for k in KINDS]


def kind_aliases() -> dict[str, str]:
    """Every accepted spelling of a kind (normalized) -> its identifier. A name like "Школьный аттестат /
    грамота" is also accepted by either half."""
    out: dict[str, str] = {}
    for k in KINDS:
        spellings = {k, k.replace("-", "_"), k.replace("-", " ")}
        for lang in LANGS:
            name = msg(f"kind.{k}", lang)
            spellings |= {name, *name.split("/")}
        for s in spellings:
            if _norm(s) and out.setdefault(_norm(s), k) != k:
                raise ValueError(f"kind names collide: {s!r} names both {out[_norm(s)]} and {k}")
    return out


_HEADER_INDEX = {_norm(name): col for col, names in HEADERS.items() for name in names}


def _column_list(cols: tuple[str, ...] | list[str]) -> str:
    russian = dict(zip(COLUMNS, TEMPLATE_HEADER))
    return ", ".join(f"{c} ({russian[c]})" for c in cols)


# --- the file: bytes -> text -> rows ---


def decode_csv(data: bytes) -> str:
    """The file's text: UTF-8 (BOM dropped) if it is valid UTF-8, else Windows-1251; binary is refused."""
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):  # .xlsx (zip) and .xls (OLE) workbooks
        raise CsvRefused("xlsx", "the file is an Excel workbook, not CSV: save it as CSV UTF-8 or CSV (semicolon delimited)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvRefused("utf16", "the file is UTF-16 text: save it as CSV UTF-8 or CSV (semicolon delimited)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1251")
        except UnicodeDecodeError:  # 0x98 is the one byte cp1251 leaves undefined
            text = "\x00"
    if _CONTROL.search(text):
        raise CsvRefused("binary", "the file is not text: upload a CSV file in UTF-8 or Windows-1251")
    return text


def _delimiter(text: str) -> str:
    """``;``, ``,`` or tab: whichever splits the first non-blank line into the most cells (ties: ``;``)."""
    first = next((line for line in io.StringIO(text) if line.strip()), "")
    counts = {}
    for d in (";", ",", "\t"):
        try:
            counts[d] = len(next(csv.reader([first], delimiter=d), []))
        except csv.Error:
            counts[d] = 0
    return max(counts, key=lambda d: counts[d])


def _header(cells: list[str]) -> tuple[str | None, ...] | None:
    """The columns a first row names, or None if it names none (the file has no header row)."""
    if not any(_norm(c) in _HEADER_INDEX for c in cells):
        return None
    cols: list[str | None] = []
    for c in cells:
        if not _norm(c):
            cols.append(None)
            continue
        col = _HEADER_INDEX.get(_norm(c))
        if col is None:
            raise CsvRefused("header-unknown", f"unknown column {c.strip()!r} in the first row; columns: {_column_list(COLUMNS)}",
                             column=c.strip(), columns=_column_list(COLUMNS))
        if col in cols:
            raise CsvRefused("header-duplicate", f"column {c.strip()!r} appears twice in the first row", column=c.strip())
        cols.append(col)
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise CsvRefused("header-missing", f"the first row has no column for {_column_list(missing)}", columns=_column_list(missing))
    return tuple(cols)


def parse_date(text: str) -> date | None:
    """dd.mm.yyyy or yyyy-mm-dd (a midnight time after it, as Excel may write, is ignored); None otherwise."""
    if m := _RU_DATE.match(text):
        d, mo, y = (int(g) for g in m.groups())
    elif m := _ISO_DATE.match(text):
        y, mo, d = (int(g) for g in m.groups())
    else:
        return None
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def _bad(n: int, code: str, message: str, **params: Any) -> RowResult:
    return RowResult(n, False, message, code, params)


def _fields(n: int, cells: list[str], columns: tuple[str | None, ...] | None) -> dict[str, str] | RowResult:
    if columns is None:
        while len(cells) > 4 and not cells[-1].strip():  # Excel ends short rows with empty cells
            cells = cells[:-1]
        if len(cells) not in (4, 5):
            return _bad(n, "columns", f"expected 4 or 5 columns (email, kind, title, date[, description]), got {len(cells)}", got=len(cells))
        return dict(zip(COLUMNS, cells))
    for i, c in enumerate(cells):
        if c.strip() and (i >= len(columns) or columns[i] is None):
            return _bad(n, "no-column", f"column {i + 1} has a value but no name in the first row", column=i + 1)
    return {col: c for col, c in zip(columns, cells) if col is not None}


def _row(n: int, f: dict[str, str], today: date, kinds: dict[str, str]) -> IssueRequest | RowResult:
    """One row's fields, checked in column order; the first problem is the row's result."""
    email = f.get("email", "").strip()
    if not email:
        return _bad(n, "email-empty", "the e-mail address is empty")
    if not _EMAIL.match(email):
        return _bad(n, "email-invalid", f"{email!r} is not an e-mail address", value=email)
    kind_text = f.get("kind", "").strip()
    kind = kinds.get(_norm(kind_text))
    if kind is None:
        return _bad(n, "kind-unknown", f"unknown kind {kind_text!r}; kinds: {', '.join(KINDS)}", value=kind_text)
    title = " ".join(f.get("title", "").split())
    if not 2 <= len(title) <= 300:
        return _bad(n, "title-length", "the title must be 2 to 300 characters")
    date_text = f.get("date", "").strip()
    if not date_text:
        return _bad(n, "date-empty", "the date is empty")
    achieved = parse_date(date_text)
    if achieved is None:
        return _bad(n, "date-format", f"date {date_text!r} is not a date: write dd.mm.yyyy or yyyy-mm-dd", value=date_text)
    if achieved > today:
        return _bad(n, "date-future", f"the date {date_text} is in the future: a credential records an achievement that has happened",
                    value=date_text)
    description = f.get("description", "").strip()
    if len(description) > 2000:
        return _bad(n, "description-length", "the description is longer than 2000 characters")
    try:  # the issuing rules themselves, in case they are stricter than the checks above
        return IssueRequest(email, kind, title, achieved.isoformat(), description, idem_key="x" * 8).checked()
    except MalformedError as e:
        return _bad(n, "invalid", str(e))


def parse_csv(data: bytes, *, today: date, max_bytes: int = MAX_CSV_BYTES) -> tuple[list[tuple[int, IssueRequest]], list[RowResult]]:
    """The rows that parse, and a result for each one that does not. Row numbers are the spreadsheet's
    (the header is row 1); blank rows are skipped. Raises ``CsvRefused`` for a file that cannot be read."""
    if len(data) > max_bytes:
        raise CsvRefused("too-large", f"the CSV file is larger than {max_bytes // 1024} KB", limit_kb=max_bytes // 1024)
    text = decode_csv(data)
    kinds = kind_aliases()
    good: list[tuple[int, IssueRequest]] = []
    bad: list[RowResult] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    columns: tuple[str | None, ...] | None = None
    first = True
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        for n, cells in enumerate(reader, start=1):
            if not any(c.strip() for c in cells):
                continue
            if first:
                first = False
                columns = _header(cells)
                if columns is not None:
                    continue
            if len(good) + len(bad) >= MAX_ROWS:
                raise CsvRefused("too-many-rows", f"a batch holds at most {MAX_ROWS} rows", limit=MAX_ROWS)
            f = _fields(n, cells, columns)
            r = f if isinstance(f, RowResult) else _row(n, f, today, kinds)
            if isinstance(r, RowResult):
                bad.append(r)
                continue
            key = (r.holder_email.casefold(), r.kind, r.title.casefold(), r.achieved_on)
            if key in seen:
                bad.append(_bad(n, "duplicate", f"repeats row {seen[key]}: same person, kind, title and date", other=seen[key]))
                continue
            seen[key] = n
            good.append((n, r))
    except csv.Error as e:
        raise CsvRefused("unreadable", f"the file does not read as CSV (row {reader.line_num}): {e}", line=reader.line_num, detail=str(e)) from None
    if not good and not bad:
        raise CsvRefused("empty", "the CSV file has no rows")
    return good, bad


def template_csv() -> bytes:
    """The downloadable template: UTF-8 with a BOM (so Excel reads it as UTF-8), ``;`` (a Russian Excel's
    list separator), the Russian column names and one example row. It parses back through ``parse_csv``."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(TEMPLATE_HEADER)
    w.writerow(["ivanova@example.org", msg("kind.olympiad", "ru"), "Призёр регионального этапа олимпиады по математике", "15.03.2026", ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --- texts for pages (the JSON-free web UI); the English messages above stay the stable form ---


def _format(key: str, lang: str, values: Mapping[str, Any]) -> str | None:
    if key not in catalogue_ids():
        return None
    try:
        return msg(key, lang).format_map(values)
    except (KeyError, IndexError, ValueError):
        return None


def row_text(result: Mapping[str, Any], lang: str) -> str:
    """A row result (a ``RowResult`` as a dict, as stored) in ``lang``; its English message if the code has no text."""
    values = {"message": result.get("message", ""), "kinds": ", ".join(name for _, name in kind_names(lang)), **(result.get("params") or {})}
    code = result.get("code")
    return (code and _format(f"batch.row.{code}", lang, values)) or str(result.get("message", ""))


def page_rows(results: list[RowResult] | list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Row results (fresh, or as stored in a report) with their ``text`` in ``lang``, for a page."""
    out = []
    for r in results:
        d = asdict(r) if isinstance(r, RowResult) else dict(r)
        out.append({**d, "text": row_text(d, lang)})
    return out


def error_text(error: EduledgerError, lang: str) -> str:
    """A refused file's reason in ``lang``."""
    if isinstance(error, BatchRefused):
        return _format("batch.file.refused", lang, {"bad": error.bad, "total": len(error.results)}) or str(error)
    if isinstance(error, CsvRefused):
        return _format(f"batch.file.{error.code}", lang, error.params) or str(error)
    return str(error)


# --- the service ---


class Batches:
    def __init__(self, ctx: Ctx, credentials: Credentials) -> None:
        self.ctx, self.credentials = ctx, credentials

    def today(self) -> date:
        """The server's calendar date, as for every other date typed into a form (``services.dates``)."""
        return server_today(self.ctx.now())

    def _institution(self, staff: User) -> str:
        if not staff.is_staff or staff.institution_id is None:
            raise NotFoundError("only institution staff issue batches")
        return staff.institution_id

    def check(self, staff: User, data: bytes, *, max_bytes: int = MAX_CSV_BYTES) -> list[RowResult]:
        """Every row's result, as a real run would find it. Reads only: writes nothing anywhere."""
        return self._checked(staff, data, max_bytes)[0]

    def _checked(self, staff: User, data: bytes, max_bytes: int) -> tuple[list[RowResult], list[tuple[int, IssueRequest]]]:
        inst = self._institution(staff)
        with self.ctx.engine.connect() as conn:  # read only: suspended or unregistered institutions learn it first
            self.credentials._check_can_issue(conn, inst)
        good, results = parse_csv(data, today=self.today(), max_bytes=max_bytes)
        valid: list[tuple[int, IssueRequest]] = []
        for n, req in good:
            holder = self.credentials.accounts.find_by_email(req.holder_email)
            if holder is None or not holder.is_holder:
                results.append(_bad(n, "no-holder", f"no student or teacher with e-mail {req.holder_email}", email=req.holder_email))
            else:
                results.append(RowResult(n, True, "ok", "ok"))
                valid.append((n, req))
        results.sort(key=lambda r: r.row)
        return results, valid

    def _existing(self, institution_id: str, idem_key: str) -> int | None:
        with self.ctx.engine.begin() as conn:
            return conn.execute(
                sa.select(t.batches.c.id).where(t.batches.c.institution_id == institution_id, t.batches.c.idem_key == idem_key)
            ).scalar()

    def start(self, staff: User, data: bytes, idem_key: str, *, max_bytes: int = MAX_CSV_BYTES) -> tuple[int, list[tuple[int, IssueRequest]] | None]:
        """Create the batch (or find the one this form already created). Returns its id and the rows to issue
        (None if it exists). Raises ``BatchRefused`` (nothing written) if any row is invalid."""
        inst = self._institution(staff)
        idem_key = (idem_key or "batch")[:64]
        existing = self._existing(inst, idem_key)
        if existing is not None:
            return existing, None
        results, valid = self._checked(staff, data, max_bytes)
        if len(valid) != len(results):
            raise BatchRefused(results)
        rows = [(n, replace(req, idem_key=f"b{idem_key[:40]}-{n}").checked()) for n, req in valid]  # a bad form key fails here, before any write
        try:
            with self.ctx.engine.begin() as conn:
                self.credentials._check_can_issue(conn, inst)
                bid = conn.execute(
                    t.batches.insert().values(
                        institution_id=inst, created_by=staff.id, created_at=self.ctx.now(), total=len(rows), done=0, status="running",
                        report="[]", idem_key=idem_key,
                    )
                ).inserted_primary_key[0]
                audit.record(conn, at=self.ctx.now(), actor_id=staff.id, actor=f"{staff.role}#{staff.id}", institution_id=inst,
                             action="batch", target=f"batch:{bid}", detail=f"{len(rows)} rows")
        except sa.exc.IntegrityError:  # the same form submitted twice at once: the other request created it
            existing = self._existing(inst, idem_key)
            if existing is None:
                raise
            return existing, None
        return bid, rows

    def run(self, staff: User, batch_id: int, rows: list[tuple[int, IssueRequest]]) -> None:
        """Issue the rows in chunks, recording progress and a result per row (runs in a worker thread)."""
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            try:
                creds = self.credentials.issue_many(staff, [r for _, r in chunk], action="issue")
                results = [RowResult(n, True, f"issued, ledger index {c.anchor_index}", "issued", {"index": c.anchor_index})
                           for (n, _), c in zip(chunk, creds)]
            except EduledgerError as e:  # e.g. suspended since the check, or a holder erased since: the message may name her
                results = [RowResult(n, False, str(e), "failed") for n, _ in chunk]
            except Exception as e:  # keep the report honest even on a bug; logged
                log.exception("batch %s failed", batch_id)
                results = [RowResult(n, False, f"internal error: {e}", "failed") for n, _ in chunk]
            with self.ctx.engine.begin() as conn:
                row = conn.execute(sa.select(t.batches.c.report, t.batches.c.done).where(t.batches.c.id == batch_id)).one()
                report = json.loads(row.report) + [asdict(r) for r in results]
                report.sort(key=lambda r: r["row"])
                conn.execute(t.batches.update().where(t.batches.c.id == batch_id).values(report=json.dumps(report), done=row.done + len(chunk)))
        with self.ctx.engine.begin() as conn:
            conn.execute(t.batches.update().where(t.batches.c.id == batch_id).values(status="done"))

    def get(self, staff: User, batch_id: int) -> tuple[dict, list[dict]]:
        with self.ctx.engine.begin() as conn:
            r = conn.execute(sa.select(t.batches).where(t.batches.c.id == batch_id)).first()
        if r is None or r.institution_id != staff.institution_id:
            raise NotFoundError(f"no batch {batch_id} in your institution")
        return dict(r._mapping), json.loads(r.report)

    def list(self, staff: User) -> list[dict]:
        with self.ctx.engine.begin() as conn:
            rows = conn.execute(sa.select(t.batches).where(t.batches.c.institution_id == staff.institution_id).order_by(t.batches.c.id.desc()).limit(20)).all()
        return [dict(r._mapping) for r in rows]
