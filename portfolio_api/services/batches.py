"""Batch issuance from a CSV file: every row checked first, valid rows issued in chunks, a per-row report.

CSV columns: ``email,kind,title,date[,description]`` (a header row is
recognised and skipped). A malformed row is reported and issues nothing; the
valid rows are issued with one ledger submission per chunk (one batch
signature). The batch is idempotent per form (``idem_key``), and each row per
(batch, row number), so re-submitting the form or resuming issues nothing twice.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from ledger.errors import EduledgerError, MalformedError, NotFoundError
from portfolio_api.db import tables as t
from portfolio_api.services import audit
from portfolio_api.services.accounts import User
from portfolio_api.services.context import Ctx
from portfolio_api.services.credentials import Credentials, IssueRequest

log = logging.getLogger("eduledger.portfolio.batch")

MAX_ROWS = 5000
MAX_CSV_BYTES = 2 * 1024 * 1024
CHUNK = 500


@dataclass(frozen=True)
class RowResult:
    row: int
    ok: bool
    message: str


def parse_csv(data: bytes) -> tuple[list[tuple[int, IssueRequest]], list[RowResult]]:
    """Rows that parse, and a report line for each one that does not."""
    if len(data) > MAX_CSV_BYTES:
        raise MalformedError(f"the CSV file is larger than {MAX_CSV_BYTES // 1024} KB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedError("the CSV file must be UTF-8 text") from None
    good, bad = [], []
    rows = list(csv.reader(io.StringIO(text)))
    if rows and [c.strip().lower() for c in rows[0][:4]] == ["email", "kind", "title", "date"]:
        rows = [None, *rows[1:]]  # type: ignore[list-item]
    for n, cells in enumerate(rows, start=1):
        if cells is None or not any(c.strip() for c in cells):
            continue
        if len(cells) not in (4, 5):
            bad.append(RowResult(n, False, f"expected 4 or 5 columns (email,kind,title,date[,description]), got {len(cells)}"))
            continue
        req = IssueRequest(cells[0].strip(), cells[1].strip(), cells[2], cells[3].strip(), cells[4] if len(cells) == 5 else "", idem_key="x" * 8)
        try:
            req.checked()
        except MalformedError as e:
            bad.append(RowResult(n, False, str(e)))
            continue
        good.append((n, req))
    if len(good) + len(bad) > MAX_ROWS:
        raise MalformedError(f"a batch holds at most {MAX_ROWS} rows")
    if not good and not bad:
        raise MalformedError("the CSV file has no rows")
    return good, bad


class Batches:
    def __init__(self, ctx: Ctx, credentials: Credentials) -> None:
        self.ctx, self.credentials = ctx, credentials

    def start(self, staff: User, data: bytes, idem_key: str) -> tuple[int, list[tuple[int, IssueRequest]] | None]:
        """Create the batch (or find the one this form already created). Returns its id and the rows to issue (None if it exists)."""
        if not staff.is_staff or staff.institution_id is None:
            raise NotFoundError("only institution staff issue batches")
        idem_key = idem_key or "batch"
        with self.ctx.engine.begin() as conn:
            existing = conn.execute(
                sa.select(t.batches.c.id).where(t.batches.c.institution_id == staff.institution_id, t.batches.c.idem_key == idem_key[:64])
            ).scalar()
        if existing is not None:
            return existing, None
        good, bad = parse_csv(data)
        checked: list[tuple[int, IssueRequest]] = []
        for n, req in good:
            if self.credentials.accounts.find_by_email(req.holder_email) is None:
                bad.append(RowResult(n, False, f"no student or teacher with e-mail {req.holder_email}"))
            else:
                checked.append((n, IssueRequest(req.holder_email, req.kind, req.title, req.achieved_on, req.description, idem_key=f"b{idem_key[:40]}-{n}")))
        with self.ctx.engine.begin() as conn:
            self.credentials._check_can_issue(conn, staff.institution_id)
            bid = conn.execute(
                t.batches.insert().values(
                    institution_id=staff.institution_id, created_by=staff.id, created_at=self.ctx.now(), total=len(checked) + len(bad),
                    done=len(bad), status="running" if checked else "done", report=json.dumps([asdict(b) for b in sorted(bad, key=lambda r: r.row)]),
                    idem_key=idem_key[:64],
                )
            ).inserted_primary_key[0]
            audit.record(conn, at=self.ctx.now(), actor_id=staff.id, actor=f"{staff.role}#{staff.id}", institution_id=staff.institution_id,
                         action="batch", target=f"batch:{bid}", detail=f"{len(checked)} valid rows, {len(bad)} refused")
        return bid, checked

    def run(self, staff: User, batch_id: int, rows: list[tuple[int, IssueRequest]]) -> None:
        """Issue the rows in chunks, recording progress and a result per row (runs in a worker thread)."""
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            try:
                creds = self.credentials.issue_many(staff, [r for _, r in chunk], action="issue")
                results = [RowResult(n, True, f"issued, ledger index {c.anchor_index}") for (n, _), c in zip(chunk, creds)]
            except EduledgerError as e:
                results = [RowResult(n, False, str(e)) for n, _ in chunk]
            except Exception as e:  # keep the report honest even on a bug; logged
                log.exception("batch %s failed", batch_id)
                results = [RowResult(n, False, f"internal error: {e}") for n, _ in chunk]
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
