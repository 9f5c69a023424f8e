"""``eduledger demo``: the demo network, its institutions as separate node processes on localhost.

The demo supervises its nodes instead of sharing their fate. A node that exits is
reported on stderr (institution, exit code or signal, URL) and the others keep running:

* a node that *failed* (any exit but the clean ones below, ``kill -9`` included) is
  started again after a back-off of 1 s, 2 s, 4 s, ... (``RestartBudget``); after
  ``MAX_RESTARTS`` restarts within ``RESTART_WINDOW`` seconds it is left down, so a
  crash loop does not spin;
* a node *stopped on request* (exit 0, or SIGTERM, SIGINT or SIGHUP: the clean exits
  of systemd's ``Restart=on-failure``) stays down, so a witness can be taken out on
  purpose.

For a node left down the demo prints the exact command that starts it by hand, and
SIGUSR1 to the demo starts every stopped node again under its supervision.
Ctrl-C, SIGTERM or SIGHUP to the demo stops every node: SIGTERM, up to
``STOP_GRACE`` seconds for all of them, then SIGKILL.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["FIRST_BACKOFF", "MAX_RESTARTS", "RESTART_WINDOW", "STOP_GRACE", "RestartBudget", "demo", "describe_exit", "stopped_on_request"]

#: Restarts of one failed node allowed within ``RESTART_WINDOW`` seconds before it is left down.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
#: Wait before the first restart; it doubles with each restart still inside the window.
FIRST_BACKOFF = 1.0
#: How long the nodes get, together, to stop after SIGTERM before they are killed.
STOP_GRACE = 15.0
_POLL_EVERY = 0.2
# systemd's "clean" exit signals (systemd.service, SuccessExitStatus): a node ended by one was stopped on request.
_CLEAN_SIGNALS = frozenset(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


def describe_exit(returncode: int) -> str:
    """``Popen.returncode`` in words: ``exited with code 3``, ``was killed by SIGKILL``."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by {name}"


def stopped_on_request(returncode: int) -> bool:
    """Whether a node's exit was asked for (exit 0 or a clean signal) rather than a failure."""
    return returncode == 0 or (returncode < 0 and -returncode in _CLEAN_SIGNALS)


@dataclass
class RestartBudget:
    """The crash-loop guard of one node: when to start it again after a failure, or never.

    The back-off doubles with every restart still inside the window (``first_backoff``,
    twice that, ...); once ``limit`` restarts fall inside the last ``window`` seconds,
    ``next_start`` answers None. Times are ``time.monotonic()`` seconds, passed in so
    tests are exact."""

    limit: int = MAX_RESTARTS
    window: float = RESTART_WINDOW
    first_backoff: float = FIRST_BACKOFF
    _starts: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0 or self.first_backoff <= 0:
            raise ValueError(f"RestartBudget needs limit >= 1, window > 0, first_backoff > 0 (got {self.limit}, {self.window}, {self.first_backoff})")

    def spent(self, now: float) -> int:
        """Restarts inside the window that ends at ``now``."""
        return sum(1 for t in self._starts if now - t < self.window)

    def next_start(self, now: float) -> float | None:
        """When to start again a node that failed at ``now``; None when the budget is spent."""
        self._starts = [t for t in self._starts if now - t < self.window]
        if len(self._starts) >= self.limit:
            return None
        return now + self.first_backoff * 2 ** len(self._starts)

    def record(self, at: float) -> None:
        """A restart happened at ``at``."""
        self._starts.append(at)

    def reset(self) -> None:
        """Forget the restarts: a person asked for this start, the next failure starts afresh."""
        self._starts.clear()


@dataclass
class _Node:
    inst: str
    url: str
    argv: list[str]
    env: dict[str, str]
    budget: RestartBudget
    proc: subprocess.Popen[bytes] | None = None
    start_at: float | None = None  # a start scheduled for this time.monotonic()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env)
        self.start_at = None

    def by_hand(self) -> str:
        """The command that starts this node as the demo does, for a shell."""
        unset = ["-u", "EDULEDGER_KEY_PASSPHRASE"] if "EDULEDGER_KEY_PASSPHRASE" in os.environ else []
        passphrase_file = "EDULEDGER_KEY_PASSPHRASE_FILE=" + self.env["EDULEDGER_KEY_PASSPHRASE_FILE"]
        return shlex.join(["env", *unset, passphrase_file, *self.argv])


def _say(message: str) -> None:
    typer.echo(f"eduledger: {message}", err=True)


def demo(
    root: Annotated[Path, typer.Option("--root", help="where the node directories live, one per demo institution")] = Path("demo-network"),
    base_port: Annotated[int, typer.Option(help="first port; the nodes use consecutive ports, one per demo institution")] = 8101,
) -> None:
    """Run the demo network: each demo institution a separate node process on localhost, restarted if it fails."""
    import shutil

    from ledger.node.datadir import default_witness_dir, demo_passphrase_file, load_genesis, split_network
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
        shutil.rmtree(default_witness_dir(source))  # each node's witness key is in <root>/<id>.witness now
        typer.echo(f"eduledger: created the demo network in {root}", err=True)
    genesis = load_genesis(root / ids[0])

    nodes = []
    for inst in ids:
        data_dir = (root / inst).resolve()  # absolute, so the printed restart command works from any directory
        env = {**os.environ, "EDULEDGER_KEY_PASSPHRASE_FILE": str(demo_passphrase_file(data_dir))}
        env.pop("EDULEDGER_KEY_PASSPHRASE", None)
        port = urls[inst].rsplit(":", 1)[1]
        # The sequencer's node seeds the demo people and credentials on its first start
        # (its directory holds a network already, so --demo creates nothing); the data
        # stays in each node's SQLite across restarts, and seeding is skipped then.
        seed = "--demo" if inst == genesis.sequencer else "--no-demo"
        argv = [sys.executable, "-m", "ledger.cli.main", "run", seed, "--data-dir", str(data_dir), "--port", port]
        nodes.append(_Node(inst, urls[inst], argv, env, RestartBudget()))

    # The handlers only set flags: the loop below acts on them between its steps, so a
    # signal never lands in the middle of starting a node (a child the demo would not know).
    requested = {"stop": False, "wake": False}

    def on_stop(signum, frame):
        requested["stop"] = True

    def on_wake(signum, frame):
        requested["wake"] = True

    handlers = {getattr(signal, name): on_stop for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}
    if hasattr(signal, "SIGUSR1"):
        handlers[signal.SIGUSR1] = on_wake
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        for node in nodes:
            node.start()
        _banner(nodes, genesis)
        _supervise(nodes, requested)
    finally:
        _stop_all(nodes)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _banner(nodes: list[_Node], genesis) -> None:
    for node in nodes:
        role = "sequencer, witness" if node.inst == genesis.sequencer else "replica, witness"
        typer.echo(f"{node.inst:<18} {node.url}/  ({role}, pid {node.proc.pid})")
    typer.echo(
        f"network {genesis.network}: a checkpoint is final with {genesis.quorum} cosignatures of the {len(nodes) - 1} "
        f"institutions besides the sequencer {genesis.sequencer} (its own never counts), so one stopped witness does not stop finality"
    )
    typer.echo(
        f"a node that fails is started again after {FIRST_BACKOFF:g}s, {2 * FIRST_BACKOFF:g}s, {4 * FIRST_BACKOFF:g}s, ... "
        f"(at most {MAX_RESTARTS} restarts within {RESTART_WINDOW:g}s); one stopped on request (exit 0, SIGTERM, SIGINT, SIGHUP) stays down"
    )
    typer.echo(f"kill -USR1 {os.getpid()} starts every stopped node again; Ctrl-C stops all nodes")
    sequencer = next(n for n in nodes if n.inst == genesis.sequencer)
    typer.echo(f"the e-portfolio with demo data is on {sequencer.url}/ (logins printed by that node)")
    sys.stdout.flush()


def _supervise(nodes: list[_Node], requested: dict[str, bool]) -> None:
    """Watch the nodes until a stop is requested: report exits, restart failed nodes on their budget."""
    wake = f"kill -USR1 {os.getpid()}"
    said_all_down = False
    while not requested["stop"]:
        now = time.monotonic()
        if requested["wake"]:
            requested["wake"] = False
            for node in nodes:
                if node.proc is None:
                    node.budget.reset()
                    node.start_at = now
                    _say(f"starting {node.inst} again, as asked by SIGUSR1")
        for node in nodes:
            if node.proc is not None and (returncode := node.proc.poll()) is not None:
                node.proc = None
                running = sum(n.proc is not None for n in nodes)
                _say(f"{node.inst} ({node.url}/) {describe_exit(returncode)}; {running} of {len(nodes)} nodes still running")
                _plan_restart(node, returncode, now, wake)
            if node.proc is None and node.start_at is not None and now >= node.start_at:
                node.start()
                node.budget.record(now)
                said_all_down = False
                _say(f"started {node.inst} again (pid {node.proc.pid}) on {node.url}/")
        if all(n.proc is None and n.start_at is None for n in nodes) and not said_all_down:
            said_all_down = True
            _say(f"no node of the demo is running; {wake} starts them again, Ctrl-C ends the demo")
        time.sleep(_POLL_EVERY)


def _plan_restart(node: _Node, returncode: int, now: float, wake: str) -> None:
    if stopped_on_request(returncode):
        _say(f"{node.inst} was stopped on request and stays down; to start it again: {wake}, or by hand: {node.by_hand()}")
        return
    spent = node.budget.spent(now)
    at = node.budget.next_start(now)
    if at is None:
        _say(
            f"{node.inst} failed after {spent} restarts within {node.budget.window:g}s and stays down, so it does not crash-loop; "
            f"see its output above, then: {wake}, or by hand: {node.by_hand()}"
        )
        return
    node.start_at = at
    _say(f"starting {node.inst} again in {at - now:g}s (restart {spent + 1} of at most {node.budget.limit} within {node.budget.window:g}s)")


def _stop_all(nodes: list[_Node]) -> None:
    """SIGTERM every running node, give them ``STOP_GRACE`` seconds together, then SIGKILL."""
    live = [n.proc for n in nodes if n.proc is not None and n.proc.poll() is None]
    if live:
        _say(f"stopping {len(live)} nodes (SIGTERM, then SIGKILL after {STOP_GRACE:g}s)")
    for proc in live:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for proc in live:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
