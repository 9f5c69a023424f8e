"""``eduledger credential``: issue, batch-issue, revoke, supersede and export credentials (mounted by ledger/cli.py).

::

    eduledger credential issue (--file SPEC.json | --kind K --holder NAME --title T [--field K=V ...]) [NODE]
    eduledger credential batch ROWS.csv|ROWS.json --kind K [--report FILE] [--check] [NODE]
    eduledger credential revoke DIGEST --reason R [NODE]
    eduledger credential supersede OLD --by NEW_SPEC.json [NODE]
    eduledger credential export DIGEST --out FILE [NODE]

Credentials are the Open Badges 3.0 model of :mod:`verifier.credentials`
(kinds ``olympiad-diploma``, ``participation``, ``school-leaving``,
``teacher-pd``, ``generic``; docs/formats.md, "Credentials"). A spec file is
one batch row plus its ``kind``: ``{"kind", "holder_name", "title", ...the
kind's fields}``. Batches are a JSON list of rows or a CSV with a header row
(:func:`verifier.credentials.rows_from_csv`), one row per holder, and are
all-or-reported: every row is issued or listed with its row number and reason.

NODE is where the entries go, signed with the institution's signing key:

* ``--data-dir DIR`` (default ``data``, like ``eduledger run``): the node of
  that data directory runs in this process for the command, with the key in
  ``DIR/keys/<institution>.signing.key``. Stop ``eduledger run`` on that
  directory first (or use ``--url``): one process writes a ledger.
* ``--url URL --key FILE``: over HTTP to a running node, signing here with the
  key file (``POST /api/v1/ledger/entries``; any node forwards to the sequencer).

``--institution`` may be left out when the data directory holds one signing
key, or when the key file's public key is in the node's roster. Issued
credentials are written to ``--store DIR`` (default ``issued``) as
``<digest>.credential.json`` *before* their anchors are submitted: a crash in
between leaves a credential that is not anchored (harmless, issue it again),
never an anchor whose credential is lost. ``export`` reads the credential from
there and asks the node for its bundle (proven under a final checkpoint).

Output: results on stdout; errors on stderr as ``eduledger: <what>; <hint>``.
Exit codes: **0** done; **1** refused: a row or credential is invalid, or the
ledger refused an entry (every refusal is printed); **2** usage or environment:
bad flags, unreadable files, a credential not in the store, the node
unreachable, a key or passphrase problem.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer

from ledger.canonical import canonical_digest
from ledger.entries import REVOCATION_REASONS, Statement, sign_batch
from ledger.errors import EduledgerError, MalformedError, NotFoundError
from ledger.issuance import anchor_statement, revoke_statement, supersede_statement
from ledger.log import Receipt, Rejection
from verifier.credentials import KINDS, build_batch, credential_kind, rows_from_csv

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="issue, revoke, supersede and export credentials")

EXIT_REFUSED = 1
EXIT_USAGE = 2
#: Statements signed as one batch and submitted together (one Ed25519 signature each).
CHUNK = 1000
MAX_ROWS = 100_000
MAX_ROWS_BYTES = 64 << 20
BUNDLE_RETRY_SECONDS = 60.0

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="EDULEDGER_DATA_DIR", help="node data directory (the node runs in this process)")]
DbUrl = Annotated[str | None, typer.Option("--database-url", envvar="EDULEDGER_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data directory)")]
Url = Annotated[str | None, typer.Option("--url", help="a running node, instead of --data-dir")]
KeyPath = Annotated[Path | None, typer.Option("--key", help="the institution's signing key file (with --url)")]
Institution = Annotated[str | None, typer.Option("--institution", help="issuing institution id (default: the only one the key or data directory names)")]
Store = Annotated[Path, typer.Option("--store", envvar="EDULEDGER_CREDENTIAL_STORE", help="where issued credentials are kept")]


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"eduledger: {message}", err=True)
    return typer.Exit(code)


# --- nodes ----------------------------------------------------------------------------------


class NodeAccess(Protocol):
    """What the commands need from a node; :class:`LocalNode` and :class:`RemoteNode` provide it."""

    network: str
    institution: str
    institution_name: str

    async def submit(self, statements: Sequence[Statement]) -> list[Receipt | Rejection]: ...

    async def bundle(self, credential: dict[str, Any]) -> dict[str, Any]: ...

    async def close(self) -> None: ...


def _pick(institution: str | None, candidates: Sequence[str], where: str, hint: str) -> str:
    if institution is not None:
        if institution not in candidates:
            raise NotFoundError(f"{where} holds no signing key for {institution}; {hint}")
        return institution
    if len(candidates) != 1:
        found = ", ".join(candidates) or "none"
        raise MalformedError(f"{where} holds signing keys for {found}; choose one with --institution")
    return candidates[0]


class LocalNode:
    """The node of a data directory, started in this process for one command."""

    def __init__(self, node: Any, institution: str | None) -> None:
        self.node = node
        self.network = node.network
        self.institution, self.institution_name = "", ""
        if institution is not None:  # None: reading only (export)
            inst = node.log.registry.institutions.get(institution)
            if inst is None:
                raise NotFoundError(f"institution {institution} is not registered on the ledger")
            self.institution, self.institution_name = institution, inst.name

    @classmethod
    async def open(cls, data_dir: Path, database_url: str | None, institution: str | None, *, signs: bool = True) -> "LocalNode":
        from ledger.cli import _db_url, _passphrase
        from ledger.datadir import GENESIS_FILE
        from ledger.node import Node, NodeOptions

        if not (data_dir / GENESIS_FILE).exists():
            raise NotFoundError(f"no network in {data_dir}; pass --data-dir of a node, or --url of a running one")
        node = Node.from_data_dir(data_dir, _db_url(data_dir, database_url), _passphrase(data_dir), options=NodeOptions(batch_ms=20))
        await node.start()
        try:
            return cls(node, _pick(institution, sorted(node.keys.signing), str(data_dir), "pass --url and --key instead") if signs else None)
        except EduledgerError:
            await node.stop()
            raise

    async def submit(self, statements: Sequence[Statement]) -> list[Receipt | Rejection]:
        return await self.node.submit_statements(self.institution, list(statements))

    async def bundle(self, credential: dict[str, Any]) -> dict[str, Any]:
        from ledger.issuance import final_bundle

        anchor = self.node.log.registry.anchors.get(canonical_digest(credential).hex())
        if anchor is None:
            raise NotFoundError("the credential is not anchored on this ledger")
        return await asyncio.to_thread(final_bundle, self.node, credential, anchor.index, wait_seconds=BUNDLE_RETRY_SECONDS)

    async def close(self) -> None:
        await self.node.stop()


class RemoteNode:
    """A running node over HTTP; entries are signed here, with the institution's key file."""

    def __init__(self, client: Any, url: str, signer: Any, network: str, institution: str, institution_name: str) -> None:
        self.client, self.url, self.signer = client, url, signer
        self.network, self.institution, self.institution_name = network, institution, institution_name

    @classmethod
    async def open(cls, url: str, key: Path | None, institution: str | None) -> "RemoteNode":
        import httpx

        from keys.keyfile import load_key_file
        from keys.passphrase import resolve_passphrase
        from verifier.trust import TrustPolicy

        if key is None:
            raise MalformedError("--url needs --key: the institution's signing key file signs the entries")
        signer = load_key_file(key, resolve_passphrase(prompt=sys.stdin.isatty())).signer
        client = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=120)
        try:
            trust = TrustPolicy.from_bytes((await cls._get(client, url, "/api/v1/trust")).content)
            mine = [e.id for e in trust.roster.values() if any(k.key == signer.public_key for k in e.keys)]
            chosen = _pick(institution, mine, f"the roster of {url} (for key {key})", "check --key")
        except BaseException:
            await client.aclose()
            raise
        return cls(client, url, signer, trust.network, chosen, trust.roster[chosen].name)

    @staticmethod
    async def _get(client: Any, url: str, path: str) -> Any:
        import httpx

        from ledger.errors import FetchError

        try:
            r = await client.get(path)
        except httpx.HTTPError as e:
            raise FetchError(f"cannot reach {url}: {e}; is the node running?") from None
        if r.status_code != 200:
            raise FetchError(f"{url}{path} answered {r.status_code}: {r.text[:200]}")
        return r

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        import httpx

        from ledger.errors import FetchError

        try:
            return await self.client.post(path, content=json.dumps(body, ensure_ascii=False).encode(), headers={"content-type": "application/json"})
        except httpx.HTTPError as e:
            raise FetchError(f"cannot reach {self.url}: {e}; is the node running?") from None

    @staticmethod
    def _refusal(r: Any) -> EduledgerError:
        from ledger.errors import FetchError

        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        if 400 <= r.status_code < 500:
            return _Refused(str(detail), r.status_code)
        return FetchError(f"the node answered {r.status_code}: {str(detail)[:300]}")

    async def submit(self, statements: Sequence[Statement]) -> list[Receipt | Rejection]:
        from ledger.submission import results_from_json, to_submission

        entries = sign_batch(list(statements), self.signer)
        body = to_submission(entries)  # one compact batch: statements and the batch signature
        while True:
            r = await self._post("/api/v1/ledger/entries", body)
            if r.status_code != 503:
                break
            await asyncio.sleep(float(r.headers.get("retry-after", "1")))  # the sequencer's queue is full: pushback
        if r.status_code != 200:
            err = self._refusal(r)
            if isinstance(err, _Refused):  # every entry was refused: the node answers with the first reason
                return [Rejection(n, err) for n in range(len(entries))]
            raise err
        return results_from_json(r.json()["results"])

    async def bundle(self, credential: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + BUNDLE_RETRY_SECONDS
        while True:
            r = await self._post("/api/v1/credentials/bundle", {"credential": credential})
            if r.status_code == 200:
                return r.json()
            if r.status_code != 503 or time.monotonic() > deadline:
                err = self._refusal(r)
                raise NotFoundError(str(err)) if r.status_code == 404 else err
            await asyncio.sleep(float(r.headers.get("retry-after", "1")))

    async def close(self) -> None:
        await self.client.aclose()


class _Refused(EduledgerError):
    """The node refused a request (4xx), with its reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def _open(data_dir: Path, database_url: str | None, url: str | None, key: Path | None, institution: str | None, signs: bool) -> NodeAccess:
    if url is not None:
        if not signs and key is None:  # a bundle is public proof: asked for with the credential, no key needed
            import httpx

            return RemoteNode(httpx.AsyncClient(base_url=url.rstrip("/"), timeout=120), url, None, "", "", "")
        return await RemoteNode.open(url, key, institution)
    if key is not None:
        raise MalformedError("--key goes with --url; with --data-dir the node's own key file is used")
    return await LocalNode.open(data_dir, database_url, institution, signs=signs)


def _run(
    work: Callable[[NodeAccess], Any], data_dir: Path, database_url: str | None, url: str | None, key: Path | None, institution: str | None,
    *, signs: bool = True,
) -> Any:
    """Open the node, run ``work(node)`` (a coroutine function), close the node; domain errors exit 2."""

    async def go() -> Any:
        node = await _open(data_dir, database_url, url, key, institution, signs)
        try:
            return await work(node)
        finally:
            await node.close()

    try:
        return asyncio.run(go())
    except EduledgerError as e:
        raise _fail(str(e)) from None


# --- credentials and the store ---------------------------------------------------------------


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a file


def _store(store: Path, creds: Sequence[dict[str, Any]]) -> list[str]:
    """Write each credential as <digest>.credential.json and flush them to disk; returns the digests."""
    store.mkdir(parents=True, exist_ok=True)
    digests = []
    for cred in creds:
        digest = canonical_digest(cred).hex()
        _write_json(store / f"{digest}.credential.json", cred)
        digests.append(digest)
    os.sync()  # persisted before anything is anchored (see the module docstring)
    return digests


def _stored(store: Path, digest: str) -> dict[str, Any]:
    from ledger.encoding import hex32

    hex32(digest, "digest")
    path = store / f"{digest}.credential.json"
    try:
        cred = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"no credential {digest} in {store}; pass --store where 'eduledger credential issue' wrote it") from None
    except (OSError, ValueError) as e:
        raise MalformedError(f"cannot read {path}: {e}") from None
    if canonical_digest(cred).hex() != digest:
        raise MalformedError(f"{path} does not hash to {digest}: the stored credential was changed")
    return cred


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise _fail(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise _fail(f"{path} is not JSON: {e}; a spec is {{\"kind\", \"holder_name\", \"title\", ...fields}}") from None
    if not isinstance(doc, dict):
        raise _fail(f"{path} must hold one JSON object (a spec), not {type(doc).__name__}")
    return doc


def _read_rows(path: Path) -> list[Any]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _fail(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > MAX_ROWS_BYTES:
        raise _fail(f"{path} is larger than {MAX_ROWS_BYTES >> 20} MB; split the batch")
    try:
        text = data.decode("utf-8-sig")
        if path.suffix.lower() == ".csv":
            rows: Any = rows_from_csv(text)
        else:
            rows = json.loads(text)
    except UnicodeDecodeError:
        raise _fail(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except (MalformedError, csv.Error) as e:
        raise _fail(f"{path}: {e}") from None
    except ValueError as e:
        raise _fail(f"{path} is not JSON: {e}; a batch is a JSON list of rows or a .csv file") from None
    if not isinstance(rows, list) or not rows:
        raise _fail(f"{path} holds no rows; a batch is a non-empty JSON list of rows or a CSV with a header row")
    if len(rows) > MAX_ROWS:
        raise _fail(f"{path} has {len(rows)} rows, at most {MAX_ROWS}; split the batch")
    return rows


def _row_from_flags(holder: str | None, title: str | None, holder_id: str | None, description: str | None,
                    achieved_on: str | None, valid_until: str | None, field: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for k, v in (("holder_name", holder), ("title", title), ("holder_id", holder_id), ("description", description),
                 ("achieved_on", achieved_on), ("valid_until", valid_until)):
        if v is not None:
            row[k] = v
    for item in field:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise _fail(f"--field must be NAME=VALUE, got {item!r}")
        row[name.strip()] = value
    return row


def _check_kind(kind: str | None) -> str:
    if kind not in KINDS:
        raise _fail(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    return kind


# --- issuing -----------------------------------------------------------------------------------


@dataclass
class RowOutcome:
    row: int
    issued: bool
    reason: str = ""
    digest: str = ""
    index: int | None = None


def _progress(total: int) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    forced = os.environ.get("EDULEDGER_PROGRESS") == "1"  # a bar even when stderr is not a terminal
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True, force_terminal=forced or None), transient=not forced, disable=not (sys.stderr.isatty() or forced) or total < 2,
    )  # fmt: skip


async def _issue_rows(node: NodeAccess, kind: str, rows: Sequence[Any], store: Path, *, check_only: bool = False) -> list[RowOutcome]:
    """Build every row, store the built credentials, anchor them in chunks; an outcome per row, in order."""
    now = int(time.time())
    outcomes: dict[int, RowOutcome] = {}
    rows, wrong_kind = _without_kind(rows, kind)
    with _progress(len(rows)) as progress:
        checking = progress.add_task("checking", total=len(rows))
        built = build_batch(kind, rows, issuer_id=node.institution, issuer_name=node.institution_name, issued_at=now,
                            progress=lambda n: progress.update(checking, completed=n))
        for n, reason in built.refused + list(wrong_kind.items()):
            outcomes[n] = RowOutcome(n, False, reason)
        built.built = [(n, c) for n, c in built.built if n not in wrong_kind]
        if check_only:
            for n, cred in built.built:
                outcomes[n] = RowOutcome(n, False, "checked, not issued (--check)", canonical_digest(cred).hex())
            return [outcomes[n] for n in sorted(outcomes)]
        anchoring = progress.add_task("anchoring", total=len(built.built))
        for start in range(0, len(built.built), CHUNK):
            chunk = built.built[start : start + CHUNK]
            digests = _store(store, [c for _, c in chunk])
            statements = [anchor_statement(node.network, node.institution, digest=d, kind=credential_kind(c), issued_at=now) for d, (_, c) in zip(digests, chunk)]
            results = await node.submit(statements)
            for (n, _), d, res in zip(chunk, digests, results):
                if isinstance(res, Rejection):
                    outcomes[n] = RowOutcome(n, False, f"the ledger refused it: {res.error}", d)
                else:
                    outcomes[n] = RowOutcome(n, True, "", d, res.index)
            progress.advance(anchoring, len(chunk))
    return [outcomes[n] for n in sorted(outcomes)]


def _without_kind(rows: Sequence[Any], kind: str) -> tuple[list[Any], dict[int, str]]:
    """Rows may name their kind (a spec's ``kind``, a CSV column): it must be the batch's, and is dropped."""
    out, wrong = [], {}
    for n, row in enumerate(rows, start=1):
        if isinstance(row, dict) and "kind" in row:
            row = dict(row)
            if (theirs := row.pop("kind")) != kind:
                wrong[n] = f"the row is a {theirs} credential, the batch issues {kind}"
        out.append(row)
    return out, wrong


def _write_report(path: Path, outcomes: Sequence[RowOutcome]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["row", "status", "digest", "ledger_index", "reason"])
        for o in outcomes:
            w.writerow([o.row, "issued" if o.issued else "refused", o.digest, "" if o.index is None else o.index, o.reason])
    os.replace(tmp, path)


@app.command()
def issue(
    file: Annotated[Path | None, typer.Option("--file", help="a spec: {\"kind\", \"holder_name\", \"title\", ...the kind's fields}")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help=f"credential kind: {', '.join(KINDS)} (overrides the spec's)")] = None,
    holder: Annotated[str | None, typer.Option("--holder", help="the holder's full name")] = None,
    title: Annotated[str | None, typer.Option("--title")] = None,
    holder_id: Annotated[str | None, typer.Option("--holder-id", help="the holder's identifier, optional")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    achieved_on: Annotated[str | None, typer.Option("--achieved-on", help="YYYY-MM-DD")] = None,
    valid_until: Annotated[str | None, typer.Option("--valid-until", help="RFC 3339 time; default: no end")] = None,
    field: Annotated[list[str], typer.Option("--field", help="a kind's field, NAME=VALUE (repeatable), e.g. --field hours=72")] = [],  # noqa: B006
    data_dir: DataDir = Path("data"),
    database_url: DbUrl = None,
    url: Url = None,
    key: KeyPath = None,
    institution: Institution = None,
    store: Store = Path("issued"),
) -> None:
    """Issue one credential: store it, anchor its digest, print the digest and ledger index."""
    row = _read_spec(file) if file is not None else {}
    row.update(_row_from_flags(holder, title, holder_id, description, achieved_on, valid_until, field))
    chosen = _check_kind(kind or row.pop("kind", None))
    row.pop("kind", None)
    (outcome,) = _run(lambda node: _issue_rows(node, chosen, [row], store), data_dir, database_url, url, key, institution)
    if not outcome.issued:
        raise _fail(f"not issued: {outcome.reason}", EXIT_REFUSED)
    typer.echo(f"issued {outcome.digest} at ledger index {outcome.index}; credential in {store / (outcome.digest + '.credential.json')}")


@app.command()
def batch(
    rows: Annotated[Path, typer.Argument(help="a JSON list of rows or a CSV file with a header row, one row per holder")],
    kind: Annotated[str, typer.Option("--kind", help=f"credential kind of every row: {', '.join(KINDS)}")],
    report: Annotated[Path | None, typer.Option("--report", help="write every row's outcome here (CSV)")] = None,
    check: Annotated[bool, typer.Option("--check", help="check every row, issue nothing")] = False,
    data_dir: DataDir = Path("data"),
    database_url: DbUrl = None,
    url: Url = None,
    key: KeyPath = None,
    institution: Institution = None,
    store: Store = Path("issued"),
) -> None:
    """Issue one credential per row; every row is issued or listed with its reason (exit 1 if any is refused)."""
    chosen = _check_kind(kind)
    data = _read_rows(rows)
    outcomes = _run(lambda node: _issue_rows(node, chosen, data, store, check_only=check), data_dir, database_url, url, key, institution)
    if report is not None:
        _write_report(report, outcomes)
    # With --check nothing is issued: a row is refused when it did not build (it has no digest).
    refused = [o for o in outcomes if not o.digest] if check else [o for o in outcomes if not o.issued]
    for o in refused:
        typer.echo(f"row {o.row}: refused: {o.reason}")
    if check:
        typer.echo(f"checked {len(outcomes)} rows: {len(outcomes) - len(refused)} would be issued, {len(refused)} refused")
    else:
        typer.echo(f"{len(outcomes) - len(refused)} of {len(outcomes)} rows issued, {len(refused)} refused; credentials in {store}")
    raise typer.Exit(EXIT_REFUSED if refused else 0)


def _submit_one(statement_for: Callable[[NodeAccess], Statement]) -> Callable[[NodeAccess], Any]:
    async def work(node: NodeAccess) -> Receipt:
        (res,) = await node.submit([statement_for(node)])
        if isinstance(res, Rejection):
            raise _Refused(str(res.error), 0)
        return res

    return work


@app.command()
def revoke(
    digest: Annotated[str, typer.Argument(help="the credential's SHA-256 (64 hex)")],
    reason: Annotated[str, typer.Option("--reason", help=", ".join(sorted(REVOCATION_REASONS)))],
    data_dir: DataDir = Path("data"),
    database_url: DbUrl = None,
    url: Url = None,
    key: KeyPath = None,
    institution: Institution = None,
) -> None:
    """Revoke a credential: it then verifies as revoked, with the reason."""
    if reason not in REVOCATION_REASONS:
        raise _fail(f"unknown --reason {reason!r}; use one of {', '.join(sorted(REVOCATION_REASONS))}")
    receipt = _refusable(_submit_one(lambda node: revoke_statement(node.network, node.institution, digest, reason)), data_dir, database_url, url, key, institution)
    typer.echo(f"revoked {digest} at ledger index {receipt.index}")


@app.command()
def supersede(
    old: Annotated[str, typer.Argument(help="the SHA-256 (64 hex) of the credential to replace")],
    by: Annotated[Path, typer.Option("--by", help="a spec of the corrected credential (as for issue --file)")],
    data_dir: DataDir = Path("data"),
    database_url: DbUrl = None,
    url: Url = None,
    key: KeyPath = None,
    institution: Institution = None,
    store: Store = Path("issued"),
) -> None:
    """Issue a corrected credential, then mark OLD superseded by it (OLD then verifies as superseded, pointing to the new one)."""
    from ledger.encoding import hex32

    try:
        hex32(old, "OLD")
    except MalformedError as e:
        raise _fail(f"{e}; give the digest 'eduledger credential issue' printed") from None
    row = _read_spec(by)
    chosen = _check_kind(row.pop("kind", None))

    async def work(node: NodeAccess) -> tuple[RowOutcome, Receipt | Rejection | None]:
        (outcome,) = await _issue_rows(node, chosen, [row], store)
        if not outcome.issued:
            return outcome, None
        (res,) = await node.submit([supersede_statement(node.network, node.institution, old, outcome.digest)])
        return outcome, res

    outcome, res = _run(work, data_dir, database_url, url, key, institution)
    if not outcome.issued:
        raise _fail(f"the corrected credential was not issued: {outcome.reason}", EXIT_REFUSED)
    if isinstance(res, Rejection):
        raise _fail(f"issued {outcome.digest} at ledger index {outcome.index}, but the ledger refused the supersession: {res.error}", EXIT_REFUSED)
    typer.echo(f"issued {outcome.digest} at ledger index {outcome.index}; {old} superseded by it at ledger index {res.index}")


def _refusable(work: Callable[[NodeAccess], Any], *args: Any) -> Any:
    """``_run``, with a ledger refusal exiting 1 rather than 2."""
    refused: list[str] = []

    async def guarded(node: NodeAccess) -> Any:
        try:
            return await work(node)
        except _Refused as e:
            refused.append(str(e))
            return None

    result = _run(guarded, *args)
    if refused:
        raise _fail(f"the ledger refused it: {refused[0]}", EXIT_REFUSED)
    return result


@app.command()
def export(
    digest: Annotated[str, typer.Argument(help="the credential's SHA-256 (64 hex)")],
    out: Annotated[Path, typer.Option("--out", help="where to write the holder's bundle")],
    data_dir: DataDir = Path("data"),
    database_url: DbUrl = None,
    url: Url = None,
    key: KeyPath = None,
    institution: Institution = None,
    store: Store = Path("issued"),
) -> None:
    """Write the holder's bundle of a stored credential (eduledger-bundle/v1), proven under a final checkpoint."""
    try:
        cred = _stored(store, digest)
    except EduledgerError as e:
        raise _fail(str(e)) from None
    bundle = _run(lambda node: node.bundle(cred), data_dir, database_url, url, key, institution, signs=False)
    _write_json(out, bundle)
    typer.echo(f"bundle of {digest} written to {out}; check it with: eduledger verify {out} --trust TRUST")
