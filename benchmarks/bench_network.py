"""The institution network on loopback: finality on every node, throughput, mirroring.

    .venv/bin/python benchmarks/bench_network.py [--seconds 20] [--in-flight 1 8 32] [--batch-ms 250 50]
        [--clients 4] [--mirror-entries 100000] [--grow-batch 2048] [--timeout 3600]
        [--follow-interval S] [--py-spy PATH]

Four institutions (quorum 2 of the three witnesses besides the sequencer), each a
separate ``eduledger run`` process with its own SQLite and keys, built with
tests/netutil.py exactly as the network tests do. Each ``--batch-ms`` value gets a
network of its own (EDULEDGER_BATCH_MS; the other settings are the node defaults,
EDULEDGER_BATCH_MAX 256).

1. Finality: ``--in-flight`` clients each submit a 10-entry batch (compact form, signed
   before the clock) to the sequencer and send the next when the answer is in, for
   ``--seconds``. One thread per node polls that node's ``/checkpoint`` (the latest final,
   quorum-cosigned checkpoint it serves) every ``--poll-ms`` and records when its size
   changes. A submission is final on a node at the first poll whose size covers its last
   entry; "all nodes" is the latest of the four, per submission. p50/p99 from the send.
   Beside them: the acknowledgement, and how long each replica trails the sequencer's own
   finality (its follower's poll, ``Roles._follow``, and one mirroring round).
2. Throughput: ``--clients`` clients submit 256-entry batches (whole entries, signed before
   the clock) through all four nodes (replicas forward) for ``--seconds``; acknowledged
   entries/s.
3. Mirroring: a fresh network at the node defaults is grown to ``--mirror-entries``
   entries through the sequencer in compact batches of ``--grow-batch`` (a block each),
   every node is let catch up, then a new node (the university's keys, an empty
   database) mirrors and re-derives the log from the sequencer over tiles and entry
   bundles until its final size is the sequencer's. Wall time from starting the process,
   and the CPU time of the node process (``/proc/<pid>/stat``), total and after start-up,
   with the sequencer's CPU spent serving it.

What-ifs and profiling, never part of the figures above unless asked for:
``--follow-interval S`` starts the nodes with the follower's poll interval patched to S
seconds (a ``sitecustomize`` in the run's temporary directory; the project's code is
not changed) to show how much of a replica's finality is that poll; ``--py-spy PATH``
records the mirroring node and the sequencer with py-spy while it mirrors (the top
functions are printed; the collapsed stacks are kept in the temporary directory).

The whole run is bounded by ``--timeout`` (SIGALRM); every process it started is
stopped (SIGTERM, then SIGKILL) on the way out, on failure too.
"""

from __future__ import annotations

import argparse
import bisect
import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger.model.entries import Statement, batch_message, sign_batch
from ledger.tlog import merkle
from ledger.tlog.encoding import b64e
from ledger.tlog.timefmt import format_time
from tests.netutil import NETWORK, SEQ, Network, wait_until
from tests.nodeproc import NodeProcess

SUBMISSION = 10  # entries per finality probe
TPUT_BATCH = 256  # entries per throughput submission
DEFAULTS_ENV = {"EDULEDGER_BATCH_MAX": "256"}  # the node default; tests/netutil.py's FAST_ENV says 64


# --- plumbing ----------------------------------------------------------------------------------


class Deadline(Exception):
    """The run's --timeout passed."""


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


class Conn:
    """One keep-alive HTTP/1.1 connection (http.client: far lighter than httpx, so the
    harness takes less of the two cores from the nodes it measures)."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        u = urlsplit(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.c: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in (0, 1):  # a keep-alive connection the server closed is opened again, once
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                self.c.request(method, path, body=body, headers=headers)
                r = self.c.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.c is not None:
            self.c.close()
            self.c = None


def final_size(url: str) -> int:
    """The size of the node's latest final checkpoint (0 before the first)."""
    c = Conn(url, timeout=10)
    try:
        status, body = c.request("GET", "/checkpoint")
    finally:
        c.close()
    return int(body.split(b"\n", 2)[1]) if status == 200 else 0


class Processes:
    """Every node process the run starts, stopped together on the way out."""

    def __init__(self) -> None:
        self.nodes: list[NodeProcess] = []
        self.others: list[subprocess.Popen[bytes]] = []

    def stop_all(self, grace: float = 20) -> None:
        procs = [n.proc for n in self.nodes if n.proc is not None] + self.others
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        self.nodes.clear()
        self.others.clear()


def start_network(root: Path, procs: Processes, env: dict[str, str]) -> Network:
    net = Network(root, env=env)
    procs.nodes.extend(net.nodes.values())
    net.start()
    wait_until("every node's first final checkpoint", lambda: all(final_size(u) > 0 for u in net.urls.values()), timeout=120)
    return net


def sitecustomize_dir(root: Path, follow_interval: float) -> Path:
    """A directory whose sitecustomize patches the follower's poll interval of the node
    processes started with it on PYTHONPATH (the --follow-interval what-if only)."""
    d = root / "what-if"
    d.mkdir()
    (d / "sitecustomize.py").write_text(
        "import ledger.node.roles as _roles\n"
        f"_roles.Roles._follow.__defaults__ = ({follow_interval!r},)\n"
    )
    return d


# --- submissions, signed before the clock --------------------------------------------------------


def compact_body(signer, institution: str, first: int, n: int, issued_at: str) -> bytes:
    """One institution-signed batch in the compact submission form (docs/formats.md,
    "Submissions"): the batch root over the statement hashes is signed once; no per-entry
    proofs are made (the node derives them), so a batch of 10,000 costs little to make."""
    statements = [
        Statement(NETWORK, "credential.anchor", institution, {"digest": f"{k:064x}", "type": "net-bench", "issued_at": issued_at})
        for k in range(first, first + n)
    ]
    root = merkle.root([s.statement_hash for s in statements])
    sig = signer.sign(batch_message(NETWORK, institution, n, root))
    batch = {
        "v": 1, "network": NETWORK, "institution": institution, "key": b64e(bytes(signer.public_key)), "sig": b64e(sig),
        "statements": [{"kind": s.kind, "body": dict(s.body)} for s in statements],
    }  # fmt: skip
    return json.dumps({"batches": [batch]}, separators=(",", ":")).encode()


def entries_body(signer, institution: str, first: int, n: int, issued_at: str) -> bytes:
    """The same batch as whole entries (``{"entries": [...]}``), as the throughput figure always sent."""
    statements = [
        Statement(NETWORK, "credential.anchor", institution, {"digest": f"{k:064x}", "type": "net-bench", "issued_at": issued_at})
        for k in range(first, first + n)
    ]
    return json.dumps({"entries": [e.to_json() for e in sign_batch(statements, signer)]}, separators=(",", ":")).encode()


class Bodies:
    """Request bodies made ahead of the clock; if a run outpaces the pool, the rest are made
    on demand (outside each request's timing, but on the same cores: counted and printed)."""

    def __init__(self, make: Callable[[int], bytes], first: int, step: int, pool: int) -> None:
        self.make, self.next, self.step = make, first, step
        self.lock = threading.Lock()
        self.ready = [self._make_one() for _ in range(pool)]
        self.ready.reverse()
        self.on_demand = 0

    def _make_one(self) -> bytes:
        first, self.next = self.next, self.next + self.step
        return self.make(first)

    def take(self) -> bytes:
        with self.lock:
            if self.ready:
                return self.ready.pop()
            self.on_demand += 1
            return self._make_one()


# --- 1. finality on every node -------------------------------------------------------------------


@dataclass
class Sent:
    t0: float
    acked: float
    last: int  # index of the submission's last entry


@dataclass
class FinalityRow:
    batch_ms: int
    in_flight: int
    sent: list[Sent]
    seconds: float
    timelines: dict[str, list[tuple[float, int]]]  # node -> (poll answered at, final size) on every change
    on_demand: int
    errors: Counter = field(default_factory=Counter)

    def final_at(self, node: str, last: int) -> float | None:
        """When ``node`` was first seen serving a final checkpoint that covers index ``last``."""
        timeline = self.timelines[node]
        i = bisect.bisect_right(timeline, last, key=lambda point: point[1])  # final sizes only grow
        return timeline[i][0] if i < len(timeline) else None

    def latencies(self, node: str) -> list[float]:
        out = []
        for s in self.sent:
            t = self.final_at(node, s.last)
            if t is not None:
                out.append(t - s.t0)
        return out

    def all_nodes(self) -> tuple[list[float], list[float]]:
        """Per submission final on every node: the latest of the nodes' times from the send;
        and how long each replica trailed the sequencer's own finality."""
        every, lags = [], []
        for s in self.sent:
            ts = {n: self.final_at(n, s.last) for n in self.timelines}
            if None in ts.values():
                continue
            every.append(max(ts.values()) - s.t0)  # type: ignore[type-var]
            lags += [t - ts[SEQ] for n, t in ts.items() if n != SEQ]  # type: ignore[operator]
        return every, lags


def watch(url: str, timeline: list[tuple[float, int]], stop: threading.Event, period: float) -> None:
    """Poll one node's /checkpoint every ``period`` s; record (answered at, size) when the size changes."""
    c = Conn(url, timeout=10)
    last = -1
    tick = time.monotonic()
    while not stop.is_set():
        try:
            status, body = c.request("GET", "/checkpoint")
            size = int(body.split(b"\n", 2)[1]) if status == 200 else 0
        except (OSError, http.client.HTTPException, ValueError, IndexError):
            size = last
        now = time.monotonic()
        if size != last:
            timeline.append((now, size))
            last = size
        tick += period
        time.sleep(max(0.0, tick - time.monotonic()))
    c.close()


def finality(net: Network, batch_ms: int, in_flight: int, seconds: float, poll: float, counter: int) -> FinalityRow:
    seq = net.url(SEQ)
    signer = net.signer("ipk")
    issued_at = format_time(int(time.time()) - 1)
    # Enough bodies for 1,000 submissions/s at most, made before the clock.
    pool = min(20_000, max(50, int(seconds * min(1000, in_flight * 1000 / max(batch_ms, 20)) * 1.5)))
    bodies = Bodies(lambda first: compact_body(signer, "ipk", first, SUBMISSION, issued_at), counter, SUBMISSION, pool)

    timelines: dict[str, list[tuple[float, int]]] = {inst: [] for inst in net.urls}
    stop_watch = threading.Event()
    watchers = [threading.Thread(target=watch, args=(u, timelines[i], stop_watch, poll), daemon=True) for i, u in net.urls.items()]
    for w in watchers:
        w.start()
    sent: list[Sent] = []
    errors: Counter = Counter()
    lock = threading.Lock()
    started = time.monotonic()
    end = started + seconds

    def client() -> None:
        c = Conn(seq, timeout=60)
        while time.monotonic() < end:
            body = bodies.take()
            t0 = time.monotonic()
            try:
                status, answer = c.request("POST", "/api/v1/ledger/entries", body)
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    errors[type(e).__name__] += 1
                continue
            acked = time.monotonic()
            if status != 200:
                with lock:
                    errors[f"HTTP {status}"] += 1
                continue
            last = max(r["index"] for r in json.loads(answer)["results"])
            with lock:
                sent.append(Sent(t0, acked, last))
        c.close()

    clients = [threading.Thread(target=client, daemon=True) for _ in range(in_flight)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    elapsed = time.monotonic() - started
    # Let every node make the last submission final (a node that never does shows as missing).
    if sent:
        top = max(s.last for s in sent)
        try:
            wait_until("every node final over the last submission", lambda: all(tl and tl[-1][1] > top for tl in timelines.values()), timeout=60, interval=0.05)
        except AssertionError as e:
            print(f"  warning: {e}", file=sys.stderr)
    stop_watch.set()
    for w in watchers:
        w.join(15)
    return FinalityRow(batch_ms, in_flight, sent, elapsed, timelines, bodies.on_demand, errors)


def print_finality(rows: list[FinalityRow], nodes: list[str], poll: float) -> None:
    print(f"\nsubmission -> final checkpoint served by each node (10-entry compact batches to the sequencer {SEQ};")
    print(f"each node's /checkpoint polled every {poll * 1000:.0f} ms: figures are late by up to that; ms from the send)")
    head = f"{'blocks':>6} {'in flight':>9} {'subm.':>6} {'subm./s':>7}  {'ack p50':>7} {'p99':>6}  "
    head += "  ".join(f"{n + (' (seq)' if n == SEQ else ''):>16}" for n in nodes) + f"  {'all nodes':>16}  {'replica lag p50/p99':>19}  {'replica every':>13}"
    print(head)
    print(" " * 48 + "  ".join(f"{'p50':>7} {'p99':>8}" for _ in [*nodes, 0]))
    for r in rows:
        acks = [s.acked - s.t0 for s in r.sent]
        cells = []
        for n in nodes:
            lat = r.latencies(n)
            cells.append(f"{percentile(lat, 50) * 1000:7.0f} {percentile(lat, 99) * 1000:8.0f}" if lat else f"{'-':>7} {'-':>8}")
        every, lags = r.all_nodes()
        cells.append(f"{percentile(every, 50) * 1000:7.0f} {percentile(every, 99) * 1000:8.0f}" if every else f"{'-':>7} {'-':>8}")
        lag = f"{percentile(lags, 50) * 1000:.0f} / {percentile(lags, 99) * 1000:.0f}" if lags else "-"
        # How often a replica's final size moved: under load, once per follower round.
        gaps = [b[0] - a[0] for n in nodes if n != SEQ for a, b in zip(r.timelines[n][1:], r.timelines[n][2:])]
        period = f"{percentile(gaps, 50) * 1000:.0f} ms" if gaps else "-"
        line = f"{r.batch_ms:>4}ms {r.in_flight:>9} {len(r.sent):>6} {len(r.sent) / r.seconds:>7.1f}  "
        line += f"{percentile(acks, 50) * 1000:7.0f} {percentile(acks, 99) * 1000:6.0f}  " + "  ".join(cells) + f"  {lag:>19}  {period:>13}"
        print(line)
        missing = len(r.sent) - len(every)
        notes = []
        if missing:
            notes.append(f"{missing} submissions not final on every node within 60 s")
        if r.errors:
            notes.append("errors: " + ", ".join(f"{k} x{v}" for k, v in r.errors.items()))
        if r.on_demand:
            notes.append(f"{r.on_demand} bodies signed during the run (pool exhausted)")
        if notes:
            print("      " + "; ".join(notes))


# --- 2. throughput -------------------------------------------------------------------------------


def throughput(net: Network, seconds: float, clients: int, counter: int) -> tuple[float, int]:
    signer = net.signer("uni")
    issued_at = format_time(int(time.time()) - 1)
    pool = int(seconds * 10_000 / TPUT_BATCH) + clients  # enough for 10,000 entries/s
    bodies = Bodies(lambda first: entries_body(signer, "uni", first, TPUT_BATCH, issued_at), counter, TPUT_BATCH, pool)
    counts = [0] * clients
    vias = list(net.urls.values())
    end = time.monotonic() + seconds

    def client(k: int) -> None:
        conns = [Conn(u, timeout=120) for u in vias]
        i = k
        while time.monotonic() < end:
            body = bodies.take()
            i += 1
            status, answer = conns[i % len(conns)].request("POST", "/api/v1/ledger/entries", body)
            if status == 200:
                counts[k] += sum(1 for x in json.loads(answer)["results"] if x["accepted"])
        for c in conns:
            c.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - t0), bodies.on_demand


# --- 3. mirroring --------------------------------------------------------------------------------


def grow(net: Network, entries: int, batch: int, clients: int = 2) -> tuple[int, float]:
    """Grow the log to at least ``entries`` through the sequencer, in compact batches of
    ``batch`` (one block each), ``clients`` submissions in flight; each client signs its next
    batch while its last is sequenced. Returns (entries submitted, seconds)."""
    seq = net.url(SEQ)
    signer = net.signer(SEQ)
    issued_at = format_time(int(time.time()) - 1)
    have = json.loads(Conn(seq).request("GET", "/api/v1/ledger/status")[1])["size"]
    todo = math.ceil(max(0, entries - have) / batch)
    next_k = iter(range(todo))
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        c = Conn(seq, timeout=300)
        while not failures:
            with lock:
                k = next(next_k, None)
            if k is None:
                break
            body = compact_body(signer, SEQ, 3 * 10**9 + k * batch, batch, issued_at)
            try:
                while (answer := c.request("POST", "/api/v1/ledger/entries", body))[0] == 503:
                    time.sleep(0.2)  # pushback: the queue is full
            except (OSError, http.client.HTTPException) as e:
                failures.append(f"{type(e).__name__}: {e}")
                break
            if answer[0] != 200:
                failures.append(f"HTTP {answer[0]}: {answer[1][:300]!r}")
        c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"growing the log failed: {failures[0]}")
    return todo * batch, time.monotonic() - t0


def pyspy_top(raw: Path, n: int = 25) -> list[str]:
    """The functions with the most samples (self and total) from py-spy's collapsed stacks."""
    own: Counter = Counter()
    total: Counter = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        k = int(count)
        samples += k
        own[frames[-1]] += k
        for f in set(frames):
            total[f] += k
    out = [f"py-spy: {samples} samples; by own time:"]
    out += [f"  {100 * c / samples:5.1f}%  {f}" for f, c in own.most_common(n)]
    out += ["by total time (with callees):"]
    out += [f"  {100 * c / samples:5.1f}%  {f}" for f, c in total.most_common(n)]
    return out


def mirror(root: Path, procs: Processes, entries: int, grow_batch: int, env: dict[str, str], py_spy: str | None) -> None:
    net = start_network(root / "mirror-net", procs, env)
    submitted, grow_s = grow(net, entries, grow_batch)
    target = wait_until("the sequencer's final size", lambda: (s := final_size(net.url(SEQ))) >= entries and s, timeout=600)
    print(f"\nlog grown by {submitted:,} entries in compact batches of {grow_batch} (one block each) in {grow_s:.1f} s "
          f"({submitted / grow_s:,.0f} entries/s through the sequencer while 3 replicas followed)")
    t_wait = time.monotonic()
    wait_until("every node to mirror the grown log", lambda: all(final_size(u) >= target for u in net.urls.values()), timeout=1800, interval=1)
    print(f"every replica final at {target:,} {time.monotonic() - t_wait:.1f} s later; load average before mirroring: {loadavg()}")

    # A new node: the university's keys, an empty database, the same peers.
    new_dir = root / "newcomer"
    shutil.copytree(net.dirs["uni"], new_dir, ignore=shutil.ignore_patterns("ledger.db*"))
    extra = NodeProcess(new_dir, env=env)
    procs.nodes.append(extra)
    seq_pid = net.nodes[SEQ].proc.pid  # type: ignore[union-attr]
    # The sequencer's own rounds (self-check, answering the replicas' polls) go on while it
    # serves the new node: their CPU rate, measured idle, is reported beside the serving CPU.
    idle0, t_idle = cpu_seconds(seq_pid), time.monotonic()
    time.sleep(5)
    seq_idle_rate = (cpu_seconds(seq_pid) - idle0) / (time.monotonic() - t_idle)
    seq_cpu0 = cpu_seconds(seq_pid)
    t0 = time.monotonic()
    extra.start(timeout=120)
    pid = extra.proc.pid  # type: ignore[union-attr]
    t_up, cpu_up = time.monotonic() - t0, cpu_seconds(pid)
    spies: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    if py_spy:
        for who, p in (("new node", pid), ("sequencer", seq_pid)):
            raw = Path(tempfile.gettempdir()) / f"bench_network_mirror_{os.getpid()}_{p}.pyspy.txt"  # kept: collapsed stacks
            spy = subprocess.Popen([py_spy, "record", "--pid", str(p), "--format", "raw", "--rate", "100", "--nonblocking",
                                    "--output", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            procs.others.append(spy)
            spies.append((who, spy, raw))
    wait_until("the new node to mirror", lambda: final_size(extra.url) >= target, timeout=3600, interval=0.2)
    dt = time.monotonic() - t0
    cpu = cpu_seconds(pid)
    seq_cpu = cpu_seconds(seq_pid) - seq_cpu0
    blocks = json.loads(Conn(extra.url).request("GET", "/api/v1/ledger/status")[1])["blocks"]
    print(f"new node mirrors and re-derives {target:,} entries ({blocks:,} blocks): {dt:.1f} s wall from starting the process "
          f"({target / dt:,.0f} entries/s), {dt - t_up:.1f} s after it answered /api/v1/health ({t_up:.1f} s)")
    print(f"  CPU: new node process {cpu:.1f} s ({cpu - cpu_up:.1f} s after start-up, {1e6 * (cpu - cpu_up) / target:.0f} µs/entry); "
          f"sequencer meanwhile {seq_cpu:.1f} s (its idle rounds: {seq_idle_rate * dt:.1f} s at {seq_idle_rate:.2f} s/s measured before)")
    for who, spy, raw in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
        if raw.exists():
            print(f"\n{who}: " + "\n".join(pyspy_top(raw)) + f"\n(collapsed stacks in {raw})")


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20, help="per finality row and per throughput figure")
    ap.add_argument("--in-flight", type=int, nargs="+", default=[1, 8, 32], help="finality: submissions outstanding")
    ap.add_argument("--batch-ms", type=int, nargs="*", default=[250, 50],
                    help="EDULEDGER_BATCH_MS of each network (250: the default); none: no finality or throughput figures")
    ap.add_argument("--poll-ms", type=float, default=10, help="finality: how often each node's /checkpoint is read")
    ap.add_argument("--clients", type=int, default=4, help="throughput: concurrent clients")
    ap.add_argument("--mirror-entries", type=int, default=100_000, help="0: no mirroring figure")
    ap.add_argument("--grow-batch", type=int, default=2048, help="entries per submission (and block) while growing the log")
    ap.add_argument("--timeout", type=float, default=3600, help="the whole run stops after this many seconds")
    ap.add_argument("--follow-interval", type=float, help="what-if: the followers poll the sequencer every S seconds (default 0.5)")
    ap.add_argument("--py-spy", metavar="PATH", help="record the mirroring node and the sequencer with this py-spy binary")
    args = ap.parse_args(argv)

    def on_alarm(*_: object) -> None:
        raise Deadline(f"--timeout {args.timeout:.0f} s passed")

    def on_term(signum: int, _: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second one must not cut the clean-up short
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(max(1, int(args.timeout)))
    root = Path(tempfile.mkdtemp(prefix="bench-network-"))
    procs = Processes()
    extra_env: dict[str, str] = {}
    if args.follow_interval is not None:
        site = sitecustomize_dir(root, args.follow_interval)
        extra_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), str(ROOT), os.environ.get("PYTHONPATH")) if p)
    print(f"load average at start: {loadavg()} ({os.cpu_count()} CPUs)", flush=True)
    if args.follow_interval is not None:
        print(f"WHAT-IF: followers poll every {args.follow_interval} s (patched at start; the default is 0.5 s)")
    try:
        rows: list[FinalityRow] = []
        tputs: list[tuple[int, float, int]] = []
        nodes: list[str] = []
        for k, batch_ms in enumerate(args.batch_ms):
            env = {**DEFAULTS_ENV, "EDULEDGER_BATCH_MS": str(batch_ms), **extra_env}
            net = start_network(root / f"net-{batch_ms}ms", procs, env)
            nodes = list(net.urls)
            for j, in_flight in enumerate(args.in_flight):
                rows.append(finality(net, batch_ms, in_flight, args.seconds, args.poll_ms / 1000, 10**9 + (k * 10 + j) * 10**7))
                print(f"  finality row done: blocks {batch_ms} ms, {in_flight} in flight, load average {loadavg()}", file=sys.stderr, flush=True)
            rate, on_demand = throughput(net, args.seconds, args.clients, 2 * 10**9 + k * 10**8)
            tputs.append((batch_ms, rate, on_demand))
            procs.stop_all()
        if rows:
            print_finality(rows, nodes, args.poll_ms / 1000)
        for batch_ms, rate, on_demand in tputs:
            extra = f" ({on_demand} bodies signed during the run)" if on_demand else ""
            print(f"sustained throughput, blocks {batch_ms} ms ({args.clients} clients, 256-entry batches as whole entries via all "
                  f"four nodes, replicas forward): {rate:,.0f} entries/s{extra}")
        defaults = [r for r in rows if r.batch_ms == 250]
        if defaults:
            worst = []
            for r in defaults:
                every, _ = r.all_nodes()
                worst.append((r.in_flight, percentile(every, 99) if every else float("inf")))
            met = all(p99 <= 1.0 for _, p99 in worst)
            print("target: p99 <= 1 s to final on every node at the defaults (250 ms blocks): "
                  + ", ".join(f"{n} in flight {p * 1000:.0f} ms" for n, p in worst) + f" -> {'met' if met else 'NOT met'}")
        if args.mirror_entries:
            env = {**DEFAULTS_ENV, "EDULEDGER_BATCH_MS": "250", **extra_env}
            mirror(root, procs, args.mirror_entries, args.grow_batch, env, args.py_spy)
    finally:
        signal.alarm(0)
        procs.stop_all()
        shutil.rmtree(root, ignore_errors=True)
        print(f"load average at end: {loadavg()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
