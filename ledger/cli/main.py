"""``eduledger``: the command line.

Exit codes: 0 success; 1 the thing checked is bad (audit found a discrepancy,
verification failed); 2 usage or environment error (bad flags, missing files,
wrong passphrase). Messages go to stderr as ``eduledger: <what>`` in lowercase,
with a hint of what to do.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli import demo, network
from ledger.cli.common import DataDir, DbUrl, db_url, fail
from ledger.cli.common import passphrase as key_passphrase
from ledger.errors import EduledgerError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="eduledger: a tamper-evident record of learning achievements")
ledger_app = typer.Typer(no_args_is_help=True, help="inspect and audit the ledger")
app.add_typer(ledger_app, name="ledger")
app.add_typer(network.app, name="network")
app.command()(demo.demo)


@app.command()
def run(
    data_dir: DataDir = Path("data"),
    database_url: DbUrl = None,
    host: Annotated[str, typer.Option(envvar="EDULEDGER_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="EDULEDGER_PORT")] = 8000,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="create a demo network with demo data if the data directory is empty")] = True,
    verify_process: Annotated[bool, typer.Option(
        "--verify-process/--no-verify-process", envvar="EDULEDGER_VERIFY_PROCESS",
        help="check POST /api/v1/verify documents in a process of their own, on another core")] = True,
) -> None:
    """Start a node (creating a demo network on first start) and print its URL."""
    import uvicorn

    from ledger.node.datadir import GENESIS_FILE
    from portfolio_api.app import create_app
    from portfolio_api.settings import Settings

    if not (data_dir / GENESIS_FILE).exists():
        if not demo:
            raise fail(f"no network in {data_dir}; run 'eduledger network init' first or pass --demo")
        from portfolio_api.demo import create_demo

        typer.echo(f"eduledger: creating a demo network in {data_dir}", err=True)
        create_demo(data_dir, db_url(data_dir, database_url))
    try:
        passphrase = key_passphrase(data_dir)
    except EduledgerError as e:
        raise fail(str(e)) from None
    from ledger.node.datadir import demo_passphrase_file

    is_demo = demo and demo_passphrase_file(data_dir).exists()
    settings = Settings(data_dir=data_dir, database_url=database_url, host=host, port=port, demo_seed=is_demo, gc_tuning=True, verify_process=verify_process)
    application = create_app(settings, passphrase=passphrase)
    url = f"http://{host}:{port}/"
    typer.echo(f"eduledger node running at {url}  (API docs: {url}docs)", err=False)
    if is_demo:
        from portfolio_api.demo import demo_logins

        typer.echo("demo logins (e-portfolio):")
        for role, email, password in demo_logins():
            typer.echo(f"  {role:<11} {email:<46} {password}")
    sys.stdout.flush()
    uvicorn.run(application, host=host, port=port, log_level="warning")


@ledger_app.command("audit")
def audit_cmd(data_dir: DataDir = Path("data"), database_url: DbUrl = None) -> None:
    """Re-derive every leaf hash, block hash, tree root and signature from storage."""
    from ledger.node.audit import AuditFailure, audit
    from ledger.node.datadir import load_genesis
    from ledger.storage import open_store

    try:
        genesis = load_genesis(data_dir)
        store = open_store(db_url(data_dir, database_url))
    except EduledgerError as e:
        raise fail(str(e)) from None
    try:
        started = time.perf_counter()
        result = audit(store, genesis)
    except AuditFailure as e:
        typer.echo(f"eduledger: audit failed at {e.where}: {e.problem}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(
        f"audit passed: {result.entries} entries in {result.blocks} blocks, {result.checkpoints} checkpoints, "
        f"final size {result.final_size}, root {result.root.hex()} ({time.perf_counter() - started:.2f}s)"
    )


def _mount_optional() -> None:
    """Sub-apps owned by other packages."""
    from ledger.cli.keys import app as keys_app

    app.add_typer(keys_app, name="keys", help="generate and inspect institution keys")
    from ledger.cli.credential import app as credential_app

    app.add_typer(credential_app, name="credential", help="issue, revoke, supersede and export credentials")
    try:
        from verifier.cli import register as register_verify
    except ImportError:  # pragma: no cover - verifier not installed in this build
        return
    register_verify(app)


_mount_optional()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        rv = app(args=argv, standalone_mode=False)
        return rv if isinstance(rv, int) else 0  # click returns the code of a typer.Exit here
    except typer.Exit as e:
        return e.exit_code
    except SystemExit as e:  # click usage errors
        return int(e.code or 0)
    except EduledgerError as e:
        typer.echo(f"eduledger: {e}", err=True)
        return 2
    except Exception as e:  # click's UsageError and friends (typer vendors click, so duck-type)
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
