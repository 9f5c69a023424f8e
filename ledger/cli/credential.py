"""``eduledger credential``: issue, batch-issue, revoke, supersede and export credentials (mounted by ledger/cli/main.py).

::

    eduledger credential issue (--file SPEC.json | --kind K --holder NAME [--holder-email ADDRESS] --title T [--field K=V ...]) [NODE]
    eduledger credential batch ROWS.csv|ROWS.json --kind K [--report FILE] [--check] [NODE]
    eduledger credential revoke DIGEST --reason R [NODE]
    eduledger credential supersede OLD --by NEW_SPEC.json [NODE]
    eduledger credential export DIGEST --out FILE [NODE]

Credentials are the Open Badges 3.0 model of :mod:`verifier.credentials`
(kinds ``olympiad-diploma``, ``participation``, ``school-leaving``,
``teacher-pd``, ``generic``; docs/formats.md, "Credentials"). A spec file is
one batch row plus its ``kind``: ``{"kind", "holder_name", "title", ...the
kind's fields}``; ``holder_email`` (``--holder-email``) puts the holder's
e-mail in the credential as a salted hash only (:mod:`verifier.holder`), so a
verifier can confirm "issued to this address" (``eduledger verify
--holder-email``). Batches are a JSON list of rows or a CSV with a header row
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

import csv
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import fail
from ledger.cli.credential_files import check_kind, read_rows, read_spec, row_from_flags, store_credentials, stored_credential, write_json
from ledger.cli.credential_nodes import NodeAccess, Refused, run_with_node, status_publications, with_status
from ledger.errors import EduledgerError, MalformedError
from ledger.model.entries import REVOCATION_REASONS, Statement
from ledger.model.issuance import anchor_statement, revoke_statement, supersede_statement
from ledger.model.receipts import Receipt, Rejection
from ledger.tlog.canonical import canonical_digest
from verifier.credentials import KINDS, build_batch, credential_kind, prove

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="issue, revoke, supersede and export credentials")

EXIT_REFUSED = 1
EXIT_USAGE = 2
#: Statements signed as one batch and submitted together (one Ed25519 signature each).
CHUNK = 1000

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="EDULEDGER_DATA_DIR", help="node data directory (the node runs in this process)")]
DbUrl = Annotated[str | None, typer.Option("--database-url", envvar="EDULEDGER_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data directory)")]
Url = Annotated[str | None, typer.Option("--url", help="a running node, instead of --data-dir")]
KeyPath = Annotated[Path | None, typer.Option("--key", help="the institution's signing key file (with --url)")]
Institution = Annotated[str | None, typer.Option("--institution", help="issuing institution id (default: the only one the key or data directory names)")]
Store = Annotated[Path, typer.Option("--store", envvar="EDULEDGER_CREDENTIAL_STORE", help="where issued credentials are kept")]


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
                            progress=lambda n: progress.update(checking, completed=n), network_url=node.network_url)
        for n, reason in built.refused + list(wrong_kind.items()):
            outcomes[n] = RowOutcome(n, False, reason)
        # Each credential gets a slot in the institution's status lists and its Data Integrity proof; it is hashed
        # and anchored with both (verifier/statuslist.py, verifier/dataintegrity.py).
        built.built = [(n, c) for n, c in built.built if n not in wrong_kind]
        slots, new_lists = await node.reserve_slots(len(built.built)) if built.built and not check_only else ([None] * len(built.built), [])
        built.built = [(n, prove(c, node.signer, network_url=node.network_url, created=now, status_slot=slot)) for (n, c), slot in zip(built.built, slots)]
        if check_only:
            for n, cred in built.built:
                outcomes[n] = RowOutcome(n, False, "checked, not issued (--check)", canonical_digest(cred).hex())
            return [outcomes[n] for n in sorted(outcomes)]
        anchoring = progress.add_task("anchoring", total=len(built.built))
        # A list none of whose credentials was anchored before is published (empty) first, so outside verifiers find it.
        publications = await status_publications(node, new_lists)
        for start in range(0, len(built.built), CHUNK):
            chunk = built.built[start : start + CHUNK]
            chunk_slots = slots[start : start + CHUNK]
            digests = store_credentials(store, [c for _, c in chunk])
            statements = [
                anchor_statement(node.network, node.institution, digest=d, kind=credential_kind(c), issued_at=now, slot=slot)
                for d, (_, c), slot in zip(digests, chunk, chunk_slots)
            ]
            results = await node.submit(publications + statements)
            for res in results[: len(publications)]:
                if isinstance(res, Rejection):
                    typer.echo(f"warning: the ledger refused a status list: {res.error}", err=True)
            results, publications = results[len(publications) :], []
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
    holder_id: Annotated[str | None, typer.Option("--holder-id", help="the holder's identifier (a URI), optional")] = None,
    holder_email: Annotated[
        str | None, typer.Option("--holder-email", help="the holder's e-mail: only its salted hash goes in the credential (recommended)")
    ] = None,
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
    row = read_spec(file) if file is not None else {}
    row.update(row_from_flags(holder, title, holder_id, description, achieved_on, valid_until, field, holder_email))
    chosen = check_kind(kind or row.pop("kind", None))
    row.pop("kind", None)
    (outcome,) = run_with_node(lambda node: _issue_rows(node, chosen, [row], store), data_dir, database_url, url, key, institution)
    if not outcome.issued:
        raise fail(f"not issued: {outcome.reason}", EXIT_REFUSED)
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
    chosen = check_kind(kind)
    data = read_rows(rows)
    outcomes = run_with_node(lambda node: _issue_rows(node, chosen, data, store, check_only=check), data_dir, database_url, url, key, institution)
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


def _submit_one(statement_for: Callable[[NodeAccess], Statement], digest: str) -> Callable[[NodeAccess], Any]:
    """Submit a change of ``digest``'s status, with its status list (``with_status``); the change's receipt."""

    async def work(node: NodeAccess) -> Receipt:
        res, *published = await node.submit(await with_status(node, digest, statement_for(node)))
        if isinstance(res, Rejection):
            raise Refused(str(res.error), 0)
        for refused in (p for p in published if isinstance(p, Rejection)):
            typer.echo(f"warning: the ledger refused the new status list: {refused.error}", err=True)
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
        raise fail(f"unknown --reason {reason!r}; use one of {', '.join(sorted(REVOCATION_REASONS))}")
    receipt = _refusable(_submit_one(lambda node: revoke_statement(node.network, node.institution, digest, reason), digest), data_dir, database_url, url, key, institution)
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
    from ledger.tlog.encoding import hex32

    try:
        hex32(old, "OLD")
    except MalformedError as e:
        raise fail(f"{e}; give the digest 'eduledger credential issue' printed") from None
    row = read_spec(by)
    chosen = check_kind(row.pop("kind", None))

    async def work(node: NodeAccess) -> tuple[RowOutcome, Receipt | Rejection | None]:
        (outcome,) = await _issue_rows(node, chosen, [row], store)
        if not outcome.issued:
            return outcome, None
        res, *_ = await node.submit(await with_status(node, old, supersede_statement(node.network, node.institution, old, outcome.digest)))
        return outcome, res

    outcome, res = run_with_node(work, data_dir, database_url, url, key, institution)
    if not outcome.issued:
        raise fail(f"the corrected credential was not issued: {outcome.reason}", EXIT_REFUSED)
    if isinstance(res, Rejection):
        raise fail(f"issued {outcome.digest} at ledger index {outcome.index}, but the ledger refused the supersession: {res.error}", EXIT_REFUSED)
    typer.echo(f"issued {outcome.digest} at ledger index {outcome.index}; {old} superseded by it at ledger index {res.index}")


def _refusable(work: Callable[[NodeAccess], Any], *args: Any) -> Any:
    """``run_with_node``, with a ledger refusal exiting 1 rather than 2."""
    refused: list[str] = []

    async def guarded(node: NodeAccess) -> Any:
        try:
            return await work(node)
        except Refused as e:
            refused.append(str(e))
            return None

    result = run_with_node(guarded, *args)
    if refused:
        raise fail(f"the ledger refused it: {refused[0]}", EXIT_REFUSED)
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
        cred = stored_credential(store, digest)
    except EduledgerError as e:
        raise fail(str(e)) from None
    bundle = run_with_node(lambda node: node.bundle(cred), data_dir, database_url, url, key, institution, signs=False)
    write_json(out, bundle)
    typer.echo(f"bundle of {digest} written to {out}; check it with: eduledger verify {out} --trust TRUST")
