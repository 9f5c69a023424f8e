"""``eduledger network``: create a network, inspect it, and export its trust file for verifiers."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.common import DataDir, DbUrl, fail, open_ledger
from ledger.errors import EduledgerError

app = typer.Typer(no_args_is_help=True, help="create and inspect the institution network")


@app.command("status")
def network_status(
    url: Annotated[str, typer.Option(help="a node of the network")] = "http://127.0.0.1:8000",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a node's view of the network: size, finality, peers, and any alert.

    Exit codes: 0 no alert; 1 a storage, fork or sequencer alert (evidence on standard error);
    2 the node could not be asked."""
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
        if status.get("sequencing_refused") and not status.get("sequencer_alert"):
            typer.echo(f"  sequencing paused: {status['sequencing_refused']}")
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
    if status.get("sequencer_alert"):
        alert = status["sequencer_alert"]
        typer.echo(f"SEQUENCER ALERT: {alert['reason']}; the sequencer signs and sequences nothing", err=True)
        typer.echo("evidence (the checkpoint shown to the witness):\n" + alert["checkpoint"], err=True)
        typer.echo(f"evidence (witness {alert['witness']}'s answer):\n" + alert["answer"], err=True)
        bad = True
    if bad:
        raise typer.Exit(1)


@app.command("init")
def network_init(
    data_dir: DataDir = Path("data"),
    network: Annotated[str, typer.Option(help="network name, also the checkpoint origin")] = "edu.example/network",
    institution: Annotated[list[str], typer.Option(help="id:type:name, repeatable; the first is the sequencer")] = [],  # noqa: B006
    quorum: Annotated[
        int | None,
        typer.Option(help="cosignatures of institutions besides the sequencer needed for a final checkpoint (default: a majority of them)"),
    ] = None,
) -> None:
    """Create a new network: keys for every founding institution and the genesis file."""
    from keys.passphrase import resolve_passphrase
    from ledger.node.datadir import InstitutionSpec, init_network

    specs = []
    for item in institution:
        parts = item.split(":", 2)
        if len(parts) != 3:
            raise fail(f"--institution must be id:type:name, got {item!r}")
        inst_id, inst_type, name = parts
        specs.append(InstitutionSpec(inst_id, name, inst_type))
    if not specs:
        raise fail("give at least one --institution id:type:name")
    if quorum is None:  # a majority of the witnesses besides the sequencer's, which never counts for itself
        quorum = (len(specs) - 1) // 2 + 1 if len(specs) > 1 else 0
    try:
        pw = resolve_passphrase(prompt=sys.stdin.isatty())
        g = init_network(data_dir, network=network, institutions=specs, sequencer=specs[0].id, quorum=quorum, passphrase=pw, created=int(time.time()))
    except (EduledgerError, FileExistsError) as e:
        raise fail(str(e)) from None
    typer.echo(
        f"network {g.network} created in {data_dir} with {len(specs)} institutions, quorum {g.quorum} of the "
        f"{len(specs) - 1} besides the sequencer {g.sequencer}"
    )


@app.command("export-trust")
def export_trust(
    data_dir: DataDir = Path("data"),
    database_url: DbUrl = None,
    out: Annotated[Path | None, typer.Option("--out", help="write the trust file here instead of standard output")] = None,
) -> None:
    """Write the network's trust file: log key, witness keys, quorum, the institutions' key history and their
    current status lists (so an offline verifier sees a revocation made after a bundle)."""
    from ledger.node.log import Log
    from verifier.trust import TrustPolicy

    genesis, store = open_ledger(data_dir, database_url)
    try:
        if store.block_count() == 0:
            raise fail(f"the ledger in {data_dir} is empty; start the node once ('eduledger run') before exporting")
        log = Log(store, genesis, log_signer=None, clock=time.time)
        log.open()  # no log key: reads and replays only
        data = TrustPolicy.export(genesis, log.registry, log.entry, size=log.size).to_bytes()
    except EduledgerError as e:
        raise fail(f"cannot read the ledger: {e}") from None
    finally:
        store.close()
    if out is None:
        sys.stdout.write(data.decode("utf-8"))
        return
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)  # a reader never sees half a trust file
    typer.echo(f"trust file of {genesis.network} written to {out}", err=True)
