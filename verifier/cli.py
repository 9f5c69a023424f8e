"""``eduledger verify`` and ``eduledger network export-trust``.

``eduledger verify FILE... --trust TRUST [--json] [--online URL]``
Files may be bundles (JSON), diploma PDFs carrying a bundle, or directories
(walked for *.json and *.pdf). Offline by default.

Exit status: 0 every file verifies; 1 any file fails verification (a malformed
file included); 2 usage errors (missing or unreadable trust file, bad flags).
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.errors import EduledgerError
from verifier.report import Report
from verifier.trust import TrustPolicy
from verifier.verify import CheckpointCache, verify

PARALLEL_THRESHOLD = 2000
CHUNK = 500


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in (".json", ".pdf") and q.is_file())
        else:
            out.append(p)
    return out


def _read_bundle(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(b"%PDF-"):
        from verifier.pdf import extract_bundle

        return extract_bundle(data)
    return data


def verify_file(path: Path, trust: TrustPolicy, now: int, cache: CheckpointCache) -> Report:
    try:
        data = _read_bundle(path)
    except OSError as e:
        from verifier.report import FAILED, Step

        return Report(steps=[Step(1, "well-formed", FAILED, f"cannot read the file: {e.strerror or e}")])
    except EduledgerError as e:
        from verifier.report import FAILED, Step

        return Report(steps=[Step(1, "well-formed", FAILED, str(e))])
    return verify(data, trust, now=now, cache=cache)


_worker_trust: TrustPolicy | None = None
_worker_cache: CheckpointCache | None = None


def _init_worker(trust_bytes: bytes) -> None:
    global _worker_trust, _worker_cache
    _worker_trust = TrustPolicy.from_bytes(trust_bytes)
    _worker_cache = CheckpointCache(_worker_trust)


def _verify_chunk(args: tuple[list[str], int]) -> list[dict[str, Any]]:
    paths, now = args
    assert _worker_trust is not None and _worker_cache is not None
    return [verify_file(Path(p), _worker_trust, now, _worker_cache).to_json() for p in paths]


def _online_refresh(report: Report, url: str, trust: TrustPolicy) -> None:
    """Ask a node for the newest status of the digest and check its checkpoint extends ours."""
    import httpx

    from ledger.errors import FetchError
    from verifier.report import FAILED, WARNING, Step

    if not report.ok or not report.digest:
        return
    base = url.rstrip("/")
    try:
        r = httpx.get(f"{base}/api/v1/ledger/credentials/{report.digest}", timeout=10)
        status = r.json().get("status") if r.status_code == 200 else None
        if status in ("revoked", "superseded"):
            report.steps.append(Step(9, "online-status", FAILED, f"the node reports the credential as {status} now"))
            if status == "superseded":
                report.superseded_by = r.json().get("superseded_by")
        elif status == "valid":
            report.steps.append(Step(9, "online-status", "passed", f"{base} reports the credential valid now"))
        else:
            report.steps.append(Step(9, "online-status", WARNING, f"{base} answered {r.status_code}; status not refreshed"))
    except (httpx.HTTPError, ValueError) as e:
        report.steps.append(Step(9, "online-status", WARNING, f"{FetchError.__name__}: cannot reach {base}: {e}"))


def register(app: typer.Typer, network_app: typer.Typer) -> None:
    """Mount the verifier's commands on the ``eduledger`` app."""

    @app.command("verify")
    def verify_command(
        files: Annotated[list[Path], typer.Argument(help="bundle files, diploma PDFs or directories")],
        trust: Annotated[Path, typer.Option("--trust", help="trust file (eduledger network export-trust)")],
        as_json: Annotated[bool, typer.Option("--json", help="print the full reports as JSON")] = False,
        online: Annotated[str | None, typer.Option("--online", help="also refresh status from this node URL")] = None,
        workers: Annotated[int, typer.Option(help="processes for large cohorts (0 = one per core)")] = 0,
    ) -> None:
        """Verify credential bundles offline against a trust file."""
        try:
            trust_bytes = trust.read_bytes()
            policy = TrustPolicy.from_bytes(trust_bytes)
        except OSError as e:
            typer.echo(f"eduledger: cannot read the trust file {trust}: {e.strerror}; export one with 'eduledger network export-trust'", err=True)
            raise typer.Exit(2) from None
        except EduledgerError as e:
            typer.echo(f"eduledger: {trust} is not a usable trust file: {e}", err=True)
            raise typer.Exit(2) from None
        paths = _expand(files)
        if not paths:
            typer.echo("eduledger: no files to verify; give bundle files, PDFs or directories", err=True)
            raise typer.Exit(2)
        now = int(time.time())
        reports: list[dict[str, Any]] = []
        from rich.progress import Progress

        show_progress = len(paths) > 50 and sys.stderr.isatty() or os.environ.get("EDULEDGER_PROGRESS") == "1"
        with Progress(transient=True, disable=not show_progress) as progress:
            task = progress.add_task("verifying", total=len(paths))
            n_workers = workers or (os.cpu_count() or 1)
            if len(paths) >= PARALLEL_THRESHOLD and n_workers > 1 and not online:
                chunks = [([str(p) for p in paths[i : i + CHUNK]], now) for i in range(0, len(paths), CHUNK)]
                with ProcessPoolExecutor(n_workers, initializer=_init_worker, initargs=(trust_bytes,)) as pool:
                    for result in pool.map(_verify_chunk, chunks):
                        reports += result
                        progress.advance(task, len(result))
            else:
                cache = CheckpointCache(policy)
                for p in paths:
                    rep = verify_file(p, policy, now, cache)
                    if online:
                        _online_refresh(rep, online, policy)
                    reports.append(rep.to_json())
                    progress.advance(task)
        failed = 0
        for path, rep in zip(paths, reports):
            ok = rep["ok"] and all(s["status"] != "failed" for s in rep["steps"])
            failed += not ok
            if not as_json:
                if ok:
                    typer.echo(f"{path}: verified ({rep.get('title') or 'credential'}, {rep.get('issuer')})")
                else:
                    first = next(s for s in rep["steps"] if s["status"] == "failed")
                    typer.echo(f"{path}: {rep['status'].upper()} at step {first['step']} ({first['name']}): {first['message']}")
        if as_json:
            out = [{"file": str(p), **r} for p, r in zip(paths, reports)]
            typer.echo(json.dumps(out if len(out) > 1 else out[0], indent=2, ensure_ascii=False))
        elif len(paths) > 1:
            typer.echo(f"{len(paths) - failed} of {len(paths)} verified")
        raise typer.Exit(1 if failed else 0)

    @network_app.command("export-trust")
    def export_trust(
        data_dir: Annotated[Path, typer.Option("--data-dir", envvar="EDULEDGER_DATA_DIR")] = Path("data"),
        database_url: Annotated[str | None, typer.Option("--database-url", envvar="EDULEDGER_DATABASE_URL")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="write here instead of standard output")] = None,
    ) -> None:
        """Write the network's trust file (log key, witness keys, quorum, roster)."""
        from ledger.datadir import load_genesis
        from ledger.log import Log
        from ledger.storage import open_store

        try:
            genesis = load_genesis(data_dir)
            store = open_store(database_url or f"sqlite:///{(data_dir / 'ledger.db').resolve()}")
        except EduledgerError as e:
            typer.echo(f"eduledger: {e}", err=True)
            raise typer.Exit(2) from None
        try:
            log = Log(store, genesis, log_signer=None, clock=time.time)
            log.open()
            data = TrustPolicy.from_registry(genesis, log.registry).to_bytes()
        finally:
            store.close()
        if out:
            out.write_bytes(data)
            typer.echo(f"trust file for {genesis.network} written to {out}", err=True)
        else:
            sys.stdout.write(data.decode())
