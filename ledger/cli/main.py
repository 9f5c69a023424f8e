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
from ledger.cli.common import DataDir, DbUrl, WitnessDbOpt, WitnessDirOpt, db_url, fail, open_ledger
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
    witness_dir: WitnessDirOpt = None,
    witness_db: WitnessDbOpt = None,
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
    witness = _open_witness_and_refuse_rollback(data_dir, database_url, witness_dir, witness_db)
    try:
        passphrase = key_passphrase(data_dir)
    except EduledgerError as e:
        raise fail(str(e)) from None
    from ledger.node.datadir import demo_passphrase_file

    is_demo = demo and demo_passphrase_file(data_dir).exists()
    settings = Settings(
        data_dir=data_dir, database_url=database_url, host=host, port=port, demo_seed=is_demo, gc_tuning=True, verify_process=verify_process,
        witness_dir=witness.path, witness_db=witness_db,
    )
    application = create_app(settings, passphrase=passphrase)
    url = settings.effective_public_url + "/"
    typer.echo(f"eduledger node running at {url}  (API docs: {url}docs)", err=False)
    if is_demo:
        from portfolio_api.demo import demo_logins

        typer.echo("demo logins (e-portfolio):")
        for role, email, password in demo_logins():
            typer.echo(f"  {role:<11} {email:<46} {password}")
    sys.stdout.flush()
    # X-Forwarded-For / -Proto are trusted only from the proxies named in EDULEDGER_FORWARDED_ALLOW_IPS
    # (none by default: a client could otherwise pick the address its rate limits and logs see).
    forwarded = settings.forwarded_allow_ips
    uvicorn.run(
        application, host=host, port=port, log_level="warning", proxy_headers=bool(forwarded), forwarded_allow_ips=forwarded or "",
        timeout_graceful_shutdown=10,  # a peer's idle keep-alive connection must not hold a stop for ever
    )


def _open_witness_and_refuse_rollback(data_dir: Path, database_url: str | None, witness_dir: Path | None, witness_db: str | None):
    """Open the witness directory for this process (locked, the old layout migrated into it), then
    exit 1 with the reason, before the server starts, if the database was rolled back. Returns
    the open ``WitnessDir``, held until the process exits.

    The node does the same at start-up (``Node.from_data_dir``, ``Roles.start``), but there a
    refusal would reach the operator as a traceback from the server's start-up hook."""
    from ledger.errors import ConflictError, KeyFileError
    from ledger.node.datadir import default_witness_dir
    from ledger.node.rollback import RollbackError, check_store, holds_log_key
    from ledger.node.witnessdir import open_witness_dir

    genesis, store = open_ledger(data_dir, database_url)
    try:
        try:
            witness = open_witness_dir(
                witness_dir or default_witness_dir(data_dir), data_dir=data_dir, log_store=store, network=genesis.network,
                witness_db=witness_db, log_database_url=db_url(data_dir, database_url),
            )
        except (ConflictError, KeyFileError) as e:
            raise fail(f"this node refuses to start: {e}", 1) from None
        try:
            check_store(store, genesis, holds_log_key=holds_log_key(data_dir), witness_store=witness.store)
        except RollbackError as e:
            witness.close()
            raise fail(f"this node refuses to start: {e.problem}", 1) from None
        finally:
            for line in witness.migrated:
                typer.echo(f"eduledger: witness directory {witness.path}: {line}", err=True)
        return witness
    except EduledgerError as e:
        raise fail(str(e)) from None
    finally:
        store.close()


def _witness_states(data_dir: Path, witness_dir: Path | None, witness_db: str | None):
    """The witness state a reader compares the log with: the witness directory's store, or None
    (the states kept in the log's database) for a data directory of the old layout not started since."""
    from ledger.node.datadir import default_witness_dir
    from ledger.node.witnessdir import open_state_readonly

    try:
        return open_state_readonly(witness_dir or default_witness_dir(data_dir), witness_db=witness_db)
    except EduledgerError as e:
        raise fail(str(e)) from None


@ledger_app.command("audit")
def audit_cmd(data_dir: DataDir = Path("data"), database_url: DbUrl = None, witness_dir: WitnessDirOpt = None, witness_db: WitnessDbOpt = None) -> None:
    """Re-derive every leaf hash, block hash, tree root and signature from storage; a rollback fails it.

    The log is also compared with what the same database says it reached (witness
    states, checkpoints, cosignatures, final checkpoint): a shorter log was rolled
    back; the witness states are read from the witness directory (``--witness-dir``,
    ``--witness-db``). Exit codes: 0 passed, 1 a discrepancy, 2 usage or storage errors."""
    from ledger.node.audit import AuditFailure, audit
    from ledger.node.rollback import holds_log_key

    genesis, store = open_ledger(data_dir, database_url)
    witness = _witness_states(data_dir, witness_dir, witness_db)
    try:
        started = time.perf_counter()
        result = audit(store, genesis, holds_log_key=holds_log_key(data_dir), witness_store=witness)
    except AuditFailure as e:
        typer.echo(f"eduledger: audit failed at {e.where}: {e.problem}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
        if witness is not None:
            witness.close()
    typer.echo(
        f"audit passed: {result.entries} entries in {result.blocks} blocks, {result.checkpoints} checkpoints, "
        f"final size {result.final_size}, root {result.root.hex()} ({time.perf_counter() - started:.2f}s)"
    )
    for note in result.notes:
        typer.echo(f"note: {note}")


@ledger_app.command("recover")
def recover_cmd(
    from_url: Annotated[str, typer.Option("--from", help="base URL of a replica or any peer node of this network")],
    data_dir: DataDir = Path("data"),
    database_url: DbUrl = None,
    witness_dir: WitnessDirOpt = None,
    witness_db: WitnessDbOpt = None,
) -> None:
    """Re-mirror the tail a rolled-back database lost from a replica or any peer, proven before it is stored.

    The tail is proven against the peer's final checkpoint and against what this
    database says the log reached (its witnesses' cosigned checkpoints first),
    stored block by block as a replica mirrors, then the cross-check runs again.
    Run it with the node stopped. Exit codes: 0 recovered (or nothing was missing),
    1 the tail cannot be proven from that peer (nothing unproven is stored),
    2 usage, storage or network errors."""
    from ledger.errors import FetchError, MalformedError, VerificationError
    from ledger.network.mirror import HttpPeer
    from ledger.node.rollback import clear_resolved_alerts, holds_log_key, load_log, recover

    if not from_url.startswith(("http://", "https://")):
        raise fail(f"--from must be a node's http:// or https:// URL, got {from_url!r}")
    genesis, store = open_ledger(data_dir, database_url)
    witness = _witness_states(data_dir, witness_dir, witness_db)
    peer = HttpPeer(from_url, timeout=30)
    try:
        try:
            log = load_log(store, genesis, clock=time.time)
        except VerificationError as e:
            raise fail(f"recover: the stored log does not re-derive ({e}); run 'eduledger ledger audit'", 1) from None
        done = recover(log, peer, holds_log_key=holds_log_key(data_dir), witness_store=witness)
        cleared = clear_resolved_alerts(log)  # the alerts the proven log answers (e.g. "beyond")
    except FetchError as e:
        raise fail(f"recover: {e}; check the URL and that the peer is running") from None
    except (VerificationError, MalformedError) as e:  # the peer's data, not the network
        raise fail(f"recover: cannot prove the missing tail from {from_url}: {e}", 1) from None
    except EduledgerError as e:  # storage: e.g. the node is running and appended meanwhile
        raise fail(f"recover: {e}") from None
    finally:
        peer.client.close()
        store.close()
        if witness is not None:
            witness.close()
    if done.size == done.before:
        typer.echo(f"nothing to recover: the log holds {done.size} entries ({from_url} is final at {done.peer_final}); the cross-check passes")
    else:
        witnessed = sum(1 for c in done.checked.claims if c.what.startswith("witness "))
        typer.echo(
            f"recovered {done.size - done.before} entries in {done.blocks} block{'s' if done.blocks != 1 else ''} from {from_url}: "
            f"the log holds {done.size} entries (was {done.before}), proven against its final checkpoint of size {done.peer_final} "
            f"and the checkpoints this node's {witnessed} witness keys cosigned; the cross-check passes"
        )
    for line in cleared:
        typer.echo(line)
    for note in done.checked.notes():
        typer.echo(f"note: {note}")


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
