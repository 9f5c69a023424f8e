"""``eduledger verify``: thin I/O around the pure verifier.

::

    eduledger verify FILE... --trust TRUST [--json] [--online URL] [--at TIME] [--workers N] [--holder-email ADDRESS] [--check-proof]
                     [--max-trust-age DAYS]

FILE may be a bundle (JSON), a diploma PDF carrying one (``verifier.pdf``), or
a directory, walked for ``*.json`` and ``*.pdf``. Offline by default; with
``--online URL`` the newest status and a consistency proof are fetched from a
node and verified too (see :mod:`verifier.online`). Plain output for one file
leads with the credential's verified facts (holder, achievement, place, date,
issuer: what the paper must show), then its verdict and every step; for more
files it is one line per file with the first failed step's reason. A PDF's
report adds that only the verified facts are confirmed, and warns when the
page's printed text differs from them (``verifier/facts.py``); the exit status
is the bundle's. ``--json`` prints every report, with its ``facts``.
Many files show a progress bar (on a terminal); more than 2,000 are verified by
a process pool in chunks, each worker with its own checkpoint cache.

Offline, step 8 also reads the credential's bit in its issuer's status list in the
trust file (exported with every institution's lists): set is a revocation after the
bundle was made (exit 1). A trust file older than the bundle, or than
``--max-trust-age`` days (default 30, 0: never), is a warning on the file's line and
in its JSON report, not a failure: the credential is as valid as the newest status
known says, and the warning says how old that is.

Exit status:

* **0** — every file verifies, and with ``--online`` the node's newest
  checkpoint provably extends each bundle's and the status it proves was checked;
* **1** — any file fails verification: a malformed, truncated or unreadable
  bundle file included, and with ``--online`` a fork the node's proof shows, a
  consistency proof the node refuses or that does not verify, a node checkpoint
  the trust file does not vouch for, or a revocation or supersession learned
  from the node (the failed step and its reason are printed); with
  ``--holder-email`` a credential issued to another address (``OTHER-HOLDER``:
  its hashed e-mail identifier does not match; one naming no address only warns);
  with ``--check-proof`` a credential whose Data Integrity proof does not verify
  (``INVALID-PROOF``; one issued before proofs only warns);
* **2** — usage errors (missing, unreadable or invalid trust file — one of its
  status lists whose proof does not verify with the roster's key included —, no files, a
  path that does not exist, bad flags or a bad ``--at`` time), and with
  ``--online`` a node that could not give its view: unreachable, halted (HTTP
  503 after a storage or fork alert), lagging behind a bundle, or answering HTTP
  errors. ``eduledger: ...`` on stderr names the node and what to do; each such
  file's report is ``incomplete`` (never ``verified``).

1 wins over 2: a file that fails verification fails whatever the node says.
A failed online check is never a warning with exit 0 (see :mod:`verifier.online`).

The trust file comes from a node: ``eduledger network export-trust`` (ledger/cli/network.py).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from ledger.errors import EduledgerError
from verifier import gcpolicy
from verifier.document import read_document, unreadable_report, with_printed
from verifier.facts import PLACE_NAMES
from verifier.pdf import Diploma
from verifier.report import HALTED, LAGGING, NOT_CHECKED, SKIPPED, UNAVAILABLE, UNREACHABLE, WARNING, OnlineCheck, Report
from verifier.trust import MAX_TRUST_BYTES, TrustPolicy
from verifier.verify import MAX_BUNDLE_BYTES, STATUS_MAX_AGE, CheckpointCache, verify

__all__ = ["Outcome", "main", "register", "verify_command", "verify_paths"]

PARALLEL_THRESHOLD = 2000
MAX_PDF_BYTES = 20 << 20
SUFFIXES = (".json", ".pdf")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"eduledger: {message}", err=True)
    return typer.Exit(code)


# --- reading files --------------------------------------------------------------------


def collect_paths(paths: Sequence[Path]) -> list[str]:
    """Files to verify: given files as they are, directories walked (sorted) for *.json and *.pdf.

    Plain strings, not Path objects: sorting 100,000 Paths costs half a second."""
    out: list[str] = []
    for p in paths:
        if p.is_dir():
            out += sorted(_walk(p), key=_parts)
        elif p.exists():
            out.append(os.fspath(p))
        else:
            raise FileNotFoundError(str(p))
    return out


def _parts(path: str) -> list[str]:
    """Sort key: by path components, as Path objects sort (a/b/c before a/b-c/x)."""
    return path.split(os.sep)


def _walk(top: Path) -> Iterator[str]:
    """Regular files with a bundle suffix below ``top`` (os.scandir: the file type comes with
    the directory listing, so a cohort of 100,000 files costs no stat call each)."""
    stack = [os.fspath(top)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif os.path.splitext(e.name)[1].lower() in SUFFIXES and e.is_file():
                    yield e.path


def read_bundle(path: str | Path) -> bytes:
    """The bundle bytes in ``path`` (a PDF's embedded bundle for PDFs); reads at most the size limit + 1."""
    return read_file(path)[0]


def read_file(path: str | Path) -> tuple[bytes, Diploma | None]:
    """The bundle bytes in ``path``, and for a PDF what it prints (``verifier.document.read_document``)."""
    with open(path, "rb") as f:
        head = f.read(5)
        if head == b"%PDF-":
            return read_document(head + f.read(MAX_PDF_BYTES))
        return head + f.read(MAX_BUNDLE_BYTES + 1 - len(head)), None


def verify_path(path: str | Path, trust: TrustPolicy, now: int, seen: CheckpointCache, online: Any = None, holder_email: str | None = None,
                check_proof: bool = False, max_trust_age: int = STATUS_MAX_AGE) -> Report:
    try:
        data, diploma = read_file(path)
    except OSError as e:
        return unreadable_report(f"cannot read the file: {e.strerror or e}")
    except EduledgerError as e:
        return unreadable_report(f"the file is not a well-formed credential bundle: {e}")
    asked = {"holder_email": holder_email, "check_proof": check_proof, "max_trust_age": max_trust_age}
    report = verify(data, trust, now=now, seen=seen, **asked)  # type: ignore[arg-type]
    if online is not None and report.digest and report.checkpoint_size is not None:
        refresh = online.refresh(report.digest, report.checkpoint_size)
        report = verify(data, trust, now=now, seen=seen, refresh=refresh, **asked)  # type: ignore[arg-type]
    elif online is not None:
        report.online = OnlineCheck(online.base, SKIPPED, NOT_CHECKED, "the node was not asked because the bundle's checkpoint could not be read")
    return with_printed(report, diploma)


# --- many files ---------------------------------------------------------------------------


class Outcome(NamedTuple):
    """One file's result as the command prints it: ``shown`` is its output line, or with
    ``--json`` its full report. Workers send these, not reports: a line pickles in a
    fraction of the time of nine step objects."""

    ok: bool
    checkpoint: tuple[int, str] | None  # (size, root) of the checkpoint it verified against
    shown: Any
    failed: bool = False  # a step failed (exit 1)
    online_error: tuple[str, str] | None = None  # (code, message): the node's view could not be had (exit 2)


def outcome(path: str, report: Report, as_json: bool, detailed: bool = False) -> Outcome:
    """``detailed``: plain output in full (``_details``), for a single file."""
    checkpoint = (report.checkpoint_size, report.checkpoint_root) if report.checkpoint_size is not None else None
    shown = {"file": path, **report.to_json()} if as_json else _details(path, report) if detailed else _line(path, report)
    online_error = (report.online.code, report.online.message) if report.incomplete else None  # type: ignore[union-attr]
    failed = report.first_failure is not None or not report.steps or report.other_holder or report.bad_proof
    return Outcome(report.ok, checkpoint, shown, failed, online_error)  # type: ignore[arg-type]


_worker: tuple[TrustPolicy, CheckpointCache] | None = None


def _init_worker(trust_bytes: bytes) -> None:
    global _worker
    trust = TrustPolicy.from_bytes(trust_bytes)
    _worker = (trust, CheckpointCache(trust))
    gcpolicy.tune_process()  # a worker's whole life is this one job: its loaded state needs no collecting


def _verify_chunk(paths: list[str], now: int, as_json: bool, holder_email: str | None = None, check_proof: bool = False,
                  max_trust_age: int = STATUS_MAX_AGE) -> list[Outcome]:
    assert _worker is not None
    trust, seen = _worker
    return [
        outcome(p, verify_path(p, trust, now, seen, holder_email=holder_email, check_proof=check_proof, max_trust_age=max_trust_age), as_json)
        for p in paths
    ]


def verify_paths(
    paths: Sequence[str],
    trust: TrustPolicy,
    trust_bytes: bytes,
    *,
    now: int,
    as_json: bool = False,
    online: Any = None,
    workers: int = 0,
    advance: Callable[[int], None] = lambda n: None,
    holder_email: str | None = None,
    check_proof: bool = False,
    max_trust_age: int = STATUS_MAX_AGE,
    detailed: bool = False,
) -> list[Outcome]:
    """One outcome per path, in order; a process pool for large offline cohorts. ``holder_email``:
    also check that every credential was issued to this address; ``check_proof``: and its Data Integrity proof;
    ``max_trust_age``: seconds after which the trust file's status lists are too old to pass without a warning;
    ``detailed``: plain output in full (facts, verdict, steps) rather than a line."""
    workers = workers or (os.cpu_count() or 1)
    if len(paths) < PARALLEL_THRESHOLD or workers < 2 or online is not None:
        seen = CheckpointCache(trust)
        out = []
        for p in paths:
            out.append(outcome(p, verify_path(p, trust, now, seen, online, holder_email, check_proof, max_trust_age), as_json, detailed))
            advance(1)
        return out
    chunk = max(100, -(-len(paths) // (workers * 8)))
    chunks = [list(paths[i : i + chunk]) for i in range(0, len(paths), chunk)]
    outcomes: list[Outcome] = []
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(trust_bytes,)) as pool:
        n = len(chunks)
        for result in pool.map(_verify_chunk, chunks, [now] * n, [as_json] * n, [holder_email] * n, [check_proof] * n, [max_trust_age] * n):
            outcomes += result
            advance(len(result))
    return _recheck_forks(paths, outcomes, trust, now, as_json, holder_email, check_proof, max_trust_age)


def _recheck_forks(
    paths: Sequence[str], outcomes: list[Outcome], trust: TrustPolicy, now: int, as_json: bool, holder_email: str | None = None,
    check_proof: bool = False, max_trust_age: int = STATUS_MAX_AGE,
) -> list[Outcome]:
    """Workers each saw part of the cohort: if two of them saw different roots for one log size,
    verify those files again in one process so the fork is reported with its evidence."""
    roots: dict[int, set[str]] = {}
    for o in outcomes:
        if o.checkpoint is not None:
            roots.setdefault(o.checkpoint[0], set()).add(o.checkpoint[1])
    forked = {size for size, rs in roots.items() if len(rs) > 1}
    if not forked:
        return outcomes
    seen = CheckpointCache(trust)
    return [
        outcome(p, verify_path(p, trust, now, seen, holder_email=holder_email, check_proof=check_proof, max_trust_age=max_trust_age), as_json)
        if o.checkpoint is not None and o.checkpoint[0] in forked else o
        for p, o in zip(paths, outcomes)
    ]


# --- output -------------------------------------------------------------------------------


#: What to do about a node whose view could not be had, by OnlineCheck.code.
NODE_HINTS = {
    UNREACHABLE: "check the URL and the network, or verify offline without --online",
    HALTED: "ask its operator, or verify against another node of the network",
    LAGGING: "try again once it has caught up, or verify against another node of the network",
    UNAVAILABLE: "check that the URL is an eduledger node's, or try again later",
}


def _line(path: str, r: Report) -> str:
    what = "; ".join(x for x in (r.title, r.holder, r.issuer) if x)
    if r.ok:
        note = "".join(f" — warning at step {w.number} ({w.name}): {w.message}" for w in r.steps if w.status == WARNING)
        if r.holder_check is not None and r.holder_check.status != SKIPPED:
            note += f" — holder: {r.holder_check.message}"
        if r.proof_check is not None and r.proof_check.status != SKIPPED:
            note += f" — proof: {r.proof_check.message}"
        if r.printed is not None:
            note += f" — WARNING: {r.printed.message}" if r.printed_differs else f" — {r.printed.notice}"
        return f"{path}: verified ({what}){note}"
    if r.bad_proof and r.first_failure is None:
        return f"{path}: INVALID-PROOF ({what}): {r.proof_check.message}"  # type: ignore[union-attr]
    if r.other_holder and r.first_failure is None:
        return f"{path}: OTHER-HOLDER ({what}): {r.holder_check.message}"  # type: ignore[union-attr]
    if r.incomplete and r.first_failure is None:
        return f"{path}: INCOMPLETE: no step failed ({what}), but the online check could not be made: {r.online.message}"  # type: ignore[union-attr]
    first = r.first_failure
    assert first is not None
    return f"{path}: {r.status.upper()} at step {first.number} ({first.name}): {first.message}"


def _details(path: str, r: Report) -> str:
    """One file in full: what was verified first (the facts the paper must show), then the verdict and every step."""
    return "\n".join([*_facts_block(r), _line(path, r), "steps:", *(f"  {s.number} {s.name}: {s.status}: {s.message}" for s in r.steps)])


def _facts_block(r: Report) -> list[str]:
    f = r.facts
    if f is None:
        lines = ["verified facts: none (the credential did not verify: nothing this file says is confirmed)"]
    else:
        rows = [("holder", f.holder), ("achievement", f.title), ("kind", f.kind)]
        rows += [("place", PLACE_NAMES.get(f.place, f.place))] if f.place else []
        rows += [("stage", f.stage)] if f.stage else []
        rows += [("hours", str(f.hours))] if f.hours is not None else []
        rows += [("date", f.date if f.date == f.issued_on else f"{f.date} (issued {f.issued_on})"), ("issuer", f"{f.issuer} ({f.issuer_id})")]
        lines = ["verified facts:", *(f"  {name:<12} {value}" for name, value in rows)]
    if r.printed is not None:
        lines += [f"pdf: {r.printed.notice}", ("WARNING: " if r.printed_differs else "pdf: ") + r.printed.message]
    return lines


def verify_command(
    files: Annotated[list[Path], typer.Argument(help="bundle files, diploma PDFs or directories of them")],
    trust: Annotated[Path, typer.Option("--trust", help="the network's trust file (eduledger network export-trust)")],
    as_json: Annotated[bool, typer.Option("--json", help="print every report in full, as JSON")] = False,
    online: Annotated[str | None, typer.Option("--online", metavar="URL", help="also fetch newer status from this node")] = None,
    at: Annotated[str | None, typer.Option("--at", metavar="TIME", help="verify as of this RFC 3339 time instead of now")] = None,
    workers: Annotated[int, typer.Option(help="processes for more than 2,000 files (0: one per CPU)")] = 0,
    holder_email: Annotated[
        str | None, typer.Option("--holder-email", metavar="ADDRESS", help="also check each credential was issued to this e-mail address")
    ] = None,
    check_proof: Annotated[
        bool, typer.Option("--check-proof", help="also check each credential's W3C Data Integrity proof with the key the ledger says was valid")
    ] = False,
    max_trust_age: Annotated[
        int,
        typer.Option("--max-trust-age", metavar="DAYS", help="warn when the trust file's status lists are older than this (0: never)"),
    ] = STATUS_MAX_AGE // 86400,
) -> None:
    """Verify credential bundles against a trust file (offline unless --online)."""
    try:
        with open(trust, "rb") as f:
            trust_bytes = f.read(MAX_TRUST_BYTES + 1)
        policy = TrustPolicy.from_bytes(trust_bytes)
    except OSError as e:
        raise _fail(f"cannot read the trust file {trust}: {e.strerror or e}; export one with 'eduledger network export-trust'") from None
    except EduledgerError as e:
        raise _fail(f"{trust} is not a usable trust file: {e}") from None
    try:
        policy.check_status_lists()  # a list the roster's key did not sign: the file is not what a node exported
    except EduledgerError as e:
        raise _fail(f"{trust} is not a usable trust file: {e}; the file was altered or damaged: export it again with 'eduledger network export-trust'") from None
    if workers < 0:
        raise _fail("--workers must be 0 or more")
    if max_trust_age < 0:
        raise _fail("--max-trust-age must be 0 (never warn) or a number of days")
    if holder_email is not None:
        from verifier.holder import normalise_email

        try:
            normalise_email(holder_email)
        except EduledgerError as e:
            raise _fail(f"--holder-email: {e}") from None
    try:
        now = int(time.time()) if at is None else _parse_at(at)
    except EduledgerError as e:
        raise _fail(f"--at: {e}") from None
    try:
        paths = collect_paths(files)
    except FileNotFoundError as e:
        raise _fail(f"no such file or directory: {e}") from None
    if not paths:
        raise _fail("no bundle files (*.json, *.pdf) to verify")
    client = None
    if online is not None:
        from verifier.online import NodeClient

        client = NodeClient(online)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    forced = os.environ.get("EDULEDGER_PROGRESS") == "1"  # a bar even when stderr is not a terminal
    show = len(paths) > 1 and (sys.stderr.isatty() or forced)
    progress = Progress(
        TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True, force_terminal=forced or None), transient=True, disable=not show,
    )  # fmt: skip
    try:
        with progress:
            task = progress.add_task("verify", total=len(paths))
            outcomes = verify_paths(
                paths, policy, trust_bytes, now=now, as_json=as_json, online=client, workers=workers,
                advance=lambda n: progress.advance(task, n), holder_email=holder_email, check_proof=check_proof,
                max_trust_age=max_trust_age * 86400, detailed=len(paths) == 1,
            )  # fmt: skip
    finally:
        if client is not None:
            client.close()
    failed = sum(o.failed for o in outcomes)
    incomplete = sum(o.online_error is not None and not o.failed for o in outcomes)
    verified = sum(o.ok for o in outcomes)
    code = 1 if failed else 2 if any(o.online_error for o in outcomes) else 0
    if as_json:
        out = {
            "ok": code == 0,
            "verified": verified,
            "failed": failed,
            "incomplete": incomplete,  # no step failed, but the online check could not be made
            "exit_status": code,
            "trust": _trust_summary(policy),
            "files": [o.shown for o in outcomes],
        }
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        typer.echo("\n".join(o.shown for o in outcomes))
        if len(paths) > 1:
            typer.echo(f"{verified} of {len(paths)} verified" + (f"; {incomplete} not checked online" if incomplete else ""))
    for message in _node_errors(outcomes):
        typer.echo(f"eduledger: {message}", err=True)
    raise typer.Exit(code)


def _trust_summary(policy: TrustPolicy) -> dict[str, Any]:
    """When the trust file was exported, at which log size, and how many status lists it carries (None: none, an older export)."""
    from ledger.tlog.timefmt import format_time

    as_of = format_time(policy.as_of) if policy.as_of is not None else None
    lists = len(policy.status_lists) if policy.status_lists is not None else None
    return {"network": policy.network, "as_of": as_of, "roster_size": policy.roster_size, "status_lists": lists}


def _node_errors(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per kind of node problem, with its first message (a cohort against a dead node
    is one line, not 10,000)."""
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for o in outcomes:
        if o.online_error is not None:
            kind, message = o.online_error
            counts[kind] += 1
            first.setdefault(kind, message)
    return [f"{first[k]}{f' ({n} files)' if n > 1 else ''}: {NODE_HINTS.get(k, 'try again later')}" for k, n in counts.items()]


def _parse_at(value: str) -> int:
    from ledger.tlog.timefmt import parse_time

    return parse_time(value, "time")


def register(app: typer.Typer) -> None:
    """Mount ``verify`` on the ``eduledger`` app."""
    app.command("verify")(verify_command)


def main(argv: list[str] | None = None) -> int:
    """``python -m verifier.cli FILE... --trust TRUST``: the verify command alone; returns the exit code."""
    standalone = typer.Typer(add_completion=False)
    standalone.command()(verify_command)
    try:
        rv = standalone(args=argv, standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except typer.Exit as e:
        return e.exit_code
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:  # click usage errors (typer vendors click): show them, exit 2
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
