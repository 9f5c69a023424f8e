"""``eduledger demo``: the demo network, its institutions as separate node processes on localhost."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer


def demo(
    root: Annotated[Path, typer.Option("--root", help="where the three node directories live")] = Path("demo-network"),
    base_port: Annotated[int, typer.Option(help="first port; the nodes use three consecutive ports")] = 8101,
) -> None:
    """Run the demo network: three institutions as separate node processes on localhost."""
    import shutil
    import signal
    import subprocess

    from ledger.node.datadir import demo_passphrase_file, load_genesis, split_network
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
                [sys.executable, "-m", "ledger.cli.main", "run", seed, "--data-dir", str(root / inst), "--port", port],
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
