"""``eduledger``: the command line.

Exit codes: 0 success; 1 the thing checked is bad (audit found a discrepancy,
verification failed); 2 usage or environment error (bad flags, missing files,
wrong passphrase). Messages go to stderr as ``eduledger: <what>`` in lowercase,
with a hint of what to do.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ledger.errors import EduledgerError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="eduledger: a tamper-evident record of learning achievements")
ledger_app = typer.Typer(no_args_is_help=True, help="inspect and audit the ledger")
network_app = typer.Typer(no_args_is_help=True, help="create and inspect the institution network")
app.add_typer(ledger_app, name="ledger")
app.add_typer(network_app, name="network")

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="EDULEDGER_DATA_DIR", help="node data directory")]
DbUrl = Annotated[str | None, typer.Option("--database-url", envvar="EDULEDGER_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data directory)")]


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"eduledger: {message}", err=True)
    return typer.Exit(code)


def _db_url(data_dir: Path, url: str | None) -> str:
    return url or f"sqlite:///{(data_dir / 'ledger.db').resolve()}"


def _passphrase(data_dir: Path) -> bytes:
    from keys.passphrase import resolve_passphrase
    from ledger.datadir import demo_passphrase_file

    demo = demo_passphrase_file(data_dir)
    if demo.exists() and not os.environ.get("EDULEDGER_KEY_PASSPHRASE") and not os.environ.get("EDULEDGER_KEY_PASSPHRASE_FILE"):
        os.environ["EDULEDGER_KEY_PASSPHRASE_FILE"] = str(demo)
    return resolve_passphrase(prompt=sys.stdin.isatty())


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

    from ledger.datadir import GENESIS_FILE
    from portfolio_api.app import create_app
    from portfolio_api.settings import Settings

    if not (data_dir / GENESIS_FILE).exists():
        if not demo:
            raise fail(f"no network in {data_dir}; run 'eduledger network init' first or pass --demo")
        from portfolio_api.demo import create_demo

        typer.echo(f"eduledger: creating a demo network in {data_dir}", err=True)
        create_demo(data_dir, _db_url(data_dir, database_url))
    try:
        passphrase = _passphrase(data_dir)
    except EduledgerError as e:
        raise fail(str(e)) from None
    from ledger.datadir import demo_passphrase_file

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


@app.command()
def demo(
    root: Annotated[Path, typer.Option("--root", help="where the three node directories live")] = Path("demo-network"),
    base_port: Annotated[int, typer.Option(help="first port; the nodes use three consecutive ports")] = 8101,
) -> None:
    """Run the demo network: three institutions as separate node processes on localhost."""
    import shutil
    import signal
    import subprocess

    from ledger.datadir import demo_passphrase_file, load_genesis, split_network
    from portfolio_api.demo import DEMO_INSTITUTIONS, create_demo

    ids = [i.id for i in DEMO_INSTITUTIONS]
    urls = {inst: f"http://127.0.0.1:{base_port + n}" for n, inst in enumerate(ids)}
    if not (root / ids[0] / "genesis.json").exists():
        source = root / ".genesis-keys"
        create_demo(source, "")
        split_network(source, root, urls)
        for inst in ids:
            shutil.copy2(demo_passphrase_file(source), demo_passphrase_file(root / inst))
        shutil.rmtree(source)
        typer.echo(f"eduledger: created the demo network in {root}", err=True)
    genesis = load_genesis(root / ids[0])

    def stop_on_sigterm(signum, frame):  # stop the nodes as Ctrl-C does, not leave them running
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    procs = []
    for inst in ids:
        env = {**os.environ, "EDULEDGER_KEY_PASSPHRASE_FILE": str(demo_passphrase_file(root / inst))}
        env.pop("EDULEDGER_KEY_PASSPHRASE", None)
        port = urls[inst].rsplit(":", 1)[1]
        # The sequencer's node seeds the demo people and credentials on its first start
        # (its directory holds a network already, so --demo creates nothing); the data
        # stays in each node's SQLite across restarts, and seeding is skipped then.
        seed = "--demo" if inst == genesis.sequencer else "--no-demo"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "ledger.cli", "run", seed, "--data-dir", str(root / inst), "--port", port],
                env=env,
            )
        )
    for inst in ids:
        role = "sequencer, witness" if inst == genesis.sequencer else "replica, witness"
        typer.echo(f"{inst:<18} {urls[inst]}/  ({role})")
    typer.echo(f"network {genesis.network}: quorum {genesis.quorum} of {len(ids)}; Ctrl-C stops all nodes")
    typer.echo(f"the e-portfolio with demo data is on {urls[genesis.sequencer]}/ (logins printed by that node)")
    sys.stdout.flush()
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


@network_app.command("status")
def network_status(
    url: Annotated[str, typer.Option(help="a node of the network")] = "http://127.0.0.1:8000",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a node's view of the network: size, finality, peers, and any fork alert."""
    import json

    import httpx

    try:
        r = httpx.get(url.rstrip("/") + "/api/v1/network/status", timeout=10)
    except httpx.HTTPError as e:
        raise fail(f"cannot reach {url}: {e}; is the node running?") from None
    if r.status_code != 200:
        raise fail(f"{url} answered {r.status_code}: {r.text[:200]}")
    status = r.json()
    if as_json:
        typer.echo(json.dumps(status, indent=2, ensure_ascii=False))
    else:
        typer.echo(f"network {status['network']}  size {status['size']}  final {status['final_size']}  sequencer {status['sequencer']}")
        for p in status["peers"]:
            typer.echo(f"  {p['institution']:<20} {p['url']:<28} {p['state']}")
        for pending in status.get("split_view_pending") or []:
            typer.echo(f"  not yet proved consistent: {pending}")
    bad = False
    if status.get("storage_alert"):
        typer.echo(f"STORAGE ALERT: {status['storage_alert']['reason']}; the node serves no log data and cosigns nothing", err=True)
        bad = True
    if status.get("fork_alert"):
        alert = status["fork_alert"]
        typer.echo(f"FORK ALERT: {alert['reason']}", err=True)
        typer.echo("evidence (first checkpoint):\n" + alert["old"], err=True)
        typer.echo("evidence (second checkpoint):\n" + alert["new"], err=True)
        if alert.get("proof"):
            typer.echo("evidence (the larger tree's root at the smaller size, then the consistency proof):\n" + "\n".join(alert["proof"]), err=True)
        bad = True
    if bad:
        raise typer.Exit(1)


@ledger_app.command("audit")
def audit_cmd(data_dir: DataDir = Path("data"), database_url: DbUrl = None) -> None:
    """Re-derive every leaf hash, block hash, tree root and signature from storage."""
    from ledger.audit import AuditFailure, audit
    from ledger.datadir import load_genesis
    from ledger.storage import open_store

    try:
        genesis = load_genesis(data_dir)
        store = open_store(_db_url(data_dir, database_url))
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


@network_app.command("init")
def network_init(
    data_dir: DataDir = Path("data"),
    network: Annotated[str, typer.Option(help="network name, also the checkpoint origin")] = "edu.example/network",
    institution: Annotated[list[str], typer.Option(help="id:type:name, repeatable; the first is the sequencer")] = [],  # noqa: B006
    quorum: Annotated[int, typer.Option(help="cosignatures needed for a final checkpoint")] = 1,
) -> None:
    """Create a new network: keys for every founding institution and the genesis file."""
    from keys.passphrase import resolve_passphrase
    from ledger.datadir import InstitutionSpec, init_network

    specs = []
    for item in institution:
        parts = item.split(":", 2)
        if len(parts) != 3:
            raise fail(f"--institution must be id:type:name, got {item!r}")
        specs.append(InstitutionSpec(*parts))
    if not specs:
        raise fail("give at least one --institution id:type:name")
    try:
        pw = resolve_passphrase(prompt=sys.stdin.isatty())
        g = init_network(data_dir, network=network, institutions=specs, sequencer=specs[0].id, quorum=quorum, passphrase=pw, created=int(time.time()))
    except (EduledgerError, FileExistsError) as e:
        raise fail(str(e)) from None
    typer.echo(f"network {g.network} created in {data_dir} with {len(specs)} institutions, quorum {g.quorum}")


def _mount_optional() -> None:
    """Sub-apps owned by other packages."""
    from keys.cli import app as keys_app

    app.add_typer(keys_app, name="keys", help="generate and inspect institution keys")
    from ledger.credential_cli import app as credential_app

    app.add_typer(credential_app, name="credential", help="issue, revoke, supersede and export credentials")
    try:
        from verifier.cli import register as register_verify
    except ImportError:  # pragma: no cover - verifier not installed in this build
        return
    register_verify(app, network_app)


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
