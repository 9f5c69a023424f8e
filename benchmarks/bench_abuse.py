"""A node under a hostile mix from anonymous clients: its memory, and whether a real verification still answers.

    .venv/bin/python benchmarks/bench_abuse.py [--duration 60] [--clients 50] [--before 10] [--kinds KIND ...]

One real node (``eduledger run`` on a fresh three-institution network, SQLite, with its verifier process, as
benchmarks/bench_http_verify.py starts it) and two client processes on loopback:

* the legitimate client, in this process: ``POST /api/v1/verify`` with one real credential bundle (issued with
  ``eduledger credential issue`` and exported), one request after another on a fresh connection each, every
  answer checked (200 and a report beginning ``{"ok":true,"status":"verified",``); first alone for
  ``--before`` seconds, then for ``--duration`` seconds while the attack runs;
* the attacker, a child process of this script (``--attack``): ``--clients`` concurrent anonymous connections
  for ``--duration`` seconds, each sending one hostile request after another, in turn of the kinds below,
  each request on a fresh connection, its body streamed until the node answers or closes.

The hostile kinds (``KINDS``):

=================  ===================================================================================
declared           ``POST /api/v1/ledger/entries`` declaring a 300 MB ``Content-Length``, then streaming it
chunked-api        ``POST /api/v1/verify``, ``Transfer-Encoding: chunked``, streaming up to 300 MB
chunked-form       ``POST /verify`` (the web form, multipart), chunked, up to 300 MB, no CSRF token
pdf-bomb           ``POST /api/v1/verify`` of a 0.6 MB PDF embedding 8 files ``credential.bundle.json``, each
                   70 MB of zeros FlateDecode-compressed (the issue's finding: 595 MB per request before)
pdf-bomb-form      ``POST /verify`` (multipart, with the CSRF cookie and token an anonymous visitor gets) of a
                   PDF embedding one such 70 MB file: past the "only one bundle" check, to the inflate cap
bulk               ``POST /verify/bulk`` of two 19 MB files (the issue: 15 × 19 MB → +233 MB)
bulk-bombs         ``POST /verify/bulk`` of 60 copies of the 8-file PDF bomb (36 MB in all)
deep-json          ``POST /api/v1/verify`` of 100,000 ``[``
deep-json-ledger   ``POST /api/v1/ledger/entries`` of 100,000 ``[``
=================  ===================================================================================

Memory: the resident set (``VmRSS`` in ``/proc/<pid>/status``) of the node and every process below it (its
verifier process), summed, sampled every 50 ms; "idle" is its median over 2 s after a warm-up of 20 legitimate
verifications (so the verifier process is up), before any hostile request. Reported: the peak of the sum
over idle, beside the ceiling issue 16 names (+150 MB), and each process's high-water mark (``VmHWM``) at the
end. Latency: p50/p99 of the legitimate requests alone and during the attack, and how many failed.
Times on this shared 2-core machine move between runs; the attacker's CPU use is printed (its process time
over wall time), since it shares the cores with the node. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIB = 1 << 20
CHUNK = 64 * 1024
STREAM_MAX = 300 * 1000 * 1000  # what an oversized request would go on to send, were it let
CEILING = 150 * MIB  # issue 16: the node's and verifier's RSS under this mix stays under +150 MB over idle
KINDS = ("declared", "chunked-api", "chunked-form", "pdf-bomb", "pdf-bomb-form", "bulk", "bulk-bombs", "deep-json", "deep-json-ledger")


# --- hostile documents ------------------------------------------------------------------------------


def zeros_flate(n_mib: int) -> bytes:
    """A zlib stream (RFC 1950) of ``n_mib`` MiB of zeros, about 1,000 times smaller, built without compressing
    them all: after a full flush the compressor starts afresh, so every MiB compresses to the same bytes."""
    zeros = bytes(MIB)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(n_mib):
        adler = zlib.adler32(zeros, adler)
    return b"\x78\xda" + piece * n_mib + packer.flush(zlib.Z_FINISH) + struct.pack(">I", adler)


def pdf_bomb(files: int = 8, inflated_mib: int = 70, name: str = "credential.bundle.json") -> bytes:
    """A one-page PDF whose EmbeddedFiles name tree holds ``files`` files all called ``name``, each a
    FlateDecode stream of ``inflated_mib`` MiB of zeros (PDF 1.7 §7.11.4): the issue's finding, rebuilt."""
    stream = zeros_flate(inflated_mib)
    objects: list[bytes] = []
    first_file = 4
    pairs = b" ".join(b"(%s) %d 0 R" % (name.encode(), first_file + 2 * i) for i in range(files))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [" + pairs + b"] >> >> >>")
    objects.append(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>")
    for i in range(files):
        spec = first_file + 2 * i
        objects.append(b"<< /Type /Filespec /F (%s) /UF (%s) /EF << /F %d 0 R >> >>" % (name.encode(), name.encode(), spec + 1))
        objects.append(b"<< /Type /EmbeddedFile /Filter /FlateDecode /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]], boundary: str = "abuse-boundary") -> tuple[bytes, str]:
    """A multipart/form-data body (RFC 7578) and its content type."""
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for field, filename, data in files:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# --- process memory ---------------------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in parentheses may hold spaces
            children[ppid].append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_rss(pids: list[int]) -> int:
    """Bytes resident in these processes now (VmRSS)."""
    return sum(_status_kib(pid, "VmRSS") for pid in pids) * 1024


class Sampler(threading.Thread):
    """The node tree's summed RSS every ``interval`` seconds (the tree itself re-read every second)."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.samples: list[tuple[float, int]] = []
        self.pids = process_tree(root)
        self.stopping = threading.Event()

    def run(self) -> None:
        refreshed = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            if now - refreshed > 1.0:
                self.pids, refreshed = process_tree(self.root), now
            self.samples.append((now, tree_rss(self.pids)))
            self.stopping.wait(self.interval)

    def peak(self, since: float, until: float) -> int:
        return max((rss for t, rss in self.samples if since <= t <= until), default=0)

    def median(self, since: float, until: float) -> int:
        return int(statistics.median(rss for t, rss in self.samples if since <= t <= until))


# --- the attacker (a child process) ---------------------------------------------------------------------


async def _csrf(host: str, port: int) -> str:
    """The CSRF cookie an anonymous visitor of GET /verify is given (the same value goes in the form)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /verify HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    head = (await reader.read(-1)).split(b"\r\n\r\n", 1)[0].decode("latin-1")
    writer.close()
    for line in head.split("\r\n"):
        if line.lower().startswith("set-cookie:") and "edu_csrf=" in line:
            return line.split("edu_csrf=", 1)[1].split(";", 1)[0]
    raise SystemExit("attack: GET /verify set no edu_csrf cookie")


class Hostile:
    """The requests of each kind, encoded once: (head, body or None for a stream, stream is chunked)."""

    def __init__(self, host: str, port: int, csrf: str) -> None:
        authority = f"{host}:{port}"
        bomb8, bomb1 = pdf_bomb(8), pdf_bomb(1)
        self.sizes = {"pdf-bomb": len(bomb8), "pdf-bomb-form": len(bomb1)}
        cookie = f"Cookie: edu_csrf={csrf}\r\n"

        def fixed(path: str, body: bytes, content_type: str, extra: str = "") -> tuple[bytes, bytes | None, bool]:
            head = (f"POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                    f"Accept: application/json\r\nConnection: close\r\n{extra}\r\n")
            return head.encode(), body, False

        form_bomb, form_type = multipart({"csrf": csrf}, [("file", "diploma.pdf", bomb1)])
        bulk, bulk_type = multipart({"csrf": csrf}, [("files", f"scan{i}.pdf", b"%PDF-1.7\n" + bytes(19 * 1000 * 1000)) for i in range(2)])
        bulk_bombs, bulk_bombs_type = multipart({"csrf": csrf}, [("files", f"d{i}.pdf", bomb8) for i in range(60)])
        deep = b"[" * 100_000
        self.requests: dict[str, tuple[bytes, bytes | None, bool]] = {
            "declared": (f"POST /api/v1/ledger/entries HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {STREAM_MAX}\r\nConnection: close\r\n\r\n".encode(), None, False),
            "chunked-api": (f"POST /api/v1/verify HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n"
                            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode(), None, True),
            "chunked-form": (f"POST /verify HTTP/1.1\r\nHost: {authority}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                             f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode(), None, True),
            "pdf-bomb": fixed("/api/v1/verify", bomb8, "application/pdf"),
            "pdf-bomb-form": fixed("/verify", form_bomb, form_type, cookie),
            "bulk": fixed("/verify/bulk", bulk, bulk_type, cookie),
            "bulk-bombs": fixed("/verify/bulk", bulk_bombs, bulk_bombs_type, cookie),
            "deep-json": fixed("/api/v1/verify", deep, "application/json"),
            "deep-json-ledger": fixed("/api/v1/ledger/entries", deep, "application/json"),
        }


async def _one(host: str, port: int, request: tuple[bytes, bytes | None, bool]) -> tuple[str, int]:
    """Send one hostile request; (its status or what happened instead, the body bytes written)."""
    head, body, chunked = request
    reader, writer = await asyncio.open_connection(host, port)
    sent = 0
    answer: asyncio.Task[bytes] = asyncio.ensure_future(reader.readuntil(b"\r\n"))
    try:
        writer.write(head)
        if body is not None:
            for i in range(0, len(body), CHUNK):
                if answer.done():
                    break
                writer.write(body[i : i + CHUNK])
                sent += min(CHUNK, len(body) - i)
                await writer.drain()
        else:
            zeros = bytes(CHUNK)
            piece = b"%x\r\n" % CHUNK + zeros + b"\r\n" if chunked else zeros
            while sent < STREAM_MAX and not answer.done():
                writer.write(piece)
                sent += CHUNK
                await writer.drain()
            if chunked and not answer.done():
                writer.write(b"0\r\n\r\n")
        status_line = await asyncio.wait_for(answer, 60)
        return status_line.split()[1].decode(), sent
    except (ConnectionError, asyncio.IncompleteReadError):
        if answer.done() and not answer.cancelled() and answer.exception() is None:
            return answer.result().split()[1].decode(), sent
        return "reset", sent
    except TimeoutError:
        return "timeout", sent
    finally:
        answer.cancel()
        writer.close()


async def attack(host: str, port: int, clients: int, seconds: float, kinds: tuple[str, ...] = KINDS) -> dict:
    """``clients`` connections sending hostile requests of ``kinds`` in turn for ``seconds``; a request still
    unanswered then is counted as "unanswered at the end" (the attack stops on time, whatever the node does)."""
    hostile = Hostile(host, port, await _csrf(host, port))
    deadline = time.monotonic() + seconds
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    written: Counter[str] = Counter()

    async def client(i: int) -> None:
        n = i
        while time.monotonic() < deadline:
            kind = kinds[n % len(kinds)]
            n += 1
            try:
                outcome, sent = await _one(host, port, hostile.requests[kind])
            except OSError as e:  # cannot even connect: the node is down or its backlog is full
                outcome, sent = type(e).__name__, 0
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                outcomes[kind]["unanswered at the end"] += 1
                raise
            outcomes[kind][outcome] += 1
            written[kind] += sent

    started = time.process_time()
    tasks = [asyncio.ensure_future(client(i)) for i in range(clients)]
    await asyncio.wait(tasks, timeout=seconds + 1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"outcomes": {k: dict(v) for k, v in outcomes.items()}, "written": dict(written), "sizes": hostile.sizes,
            "cpu": time.process_time() - started}


# --- the legitimate client and the run ----------------------------------------------------------------


async def legitimate(host: str, port: int, request: bytes, seconds: float, *, at_most: int | None = None) -> tuple[list[float], Counter[str]]:
    """Verify the bundle again and again for ``seconds`` (or ``at_most`` times): the latencies of the good
    answers, and what the others were."""
    from benchmarks.loadgen import LoadError, fetch

    latencies: list[float] = []
    failures: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (at_most is None or len(latencies) + sum(failures.values()) < at_most):
        t0 = time.perf_counter()
        try:
            r = await fetch(host, port, request, timeout=30)
        except LoadError as e:
            failures[str(e).split(":")[0]] += 1
            continue
        if r.status == 200 and r.body.startswith(b'{"ok":true,"status":"verified",'):
            latencies.append(time.perf_counter() - t0)
        else:
            failures[f"HTTP {r.status}"] += 1
    return latencies, failures


def pct(values: list[float], p: float) -> float:
    """The nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def mb(n: float) -> str:
    return f"{n / MIB:,.1f} MiB"


def run(args: argparse.Namespace) -> None:
    from benchmarks.bench_http_verify import make_bundle
    from benchmarks.loadgen import encode_request
    from tests.nodeproc import NodeProcess

    tmp = Path(tempfile.mkdtemp(prefix="bench-abuse-"))
    data, bundle = make_bundle(tmp)
    node = NodeProcess(data, env={"EDULEDGER_LOG_LEVEL": "warning"}).start()
    host, port = "127.0.0.1", node.port
    verify = encode_request("POST", "/api/v1/verify", host=f"{host}:{port}", body=bundle, content_type="application/json")
    attacker: subprocess.Popen[bytes] | None = None
    try:
        assert node.proc is not None
        # Twenty verifications first: the verifier process starts and warms up, and the bundle must verify.
        warm, failures = asyncio.run(legitimate(host, port, verify, 120, at_most=20))
        if failures or not warm:
            raise SystemExit(f"bench: the bundle did not verify before the attack: {dict(failures)}")
        sampler = Sampler(node.proc.pid)
        sampler.start()
        t_idle = time.monotonic()
        time.sleep(2.0)
        idle = sampler.median(t_idle, time.monotonic())
        idle_per_process = {pid: _status_kib(pid, "VmRSS") * 1024 for pid in sampler.pids}
        t_before = time.monotonic()
        before, before_failed = asyncio.run(legitimate(host, port, verify, args.before))
        peak_before = sampler.peak(t_before, time.monotonic())
        t_attack = time.monotonic()
        attacker = subprocess.Popen([sys.executable, __file__, "--attack", str(port), "--duration", str(args.duration),
                                     "--clients", str(args.clients), "--kinds", *args.kinds], stdout=subprocess.PIPE)
        during, during_failed = asyncio.run(legitimate(host, port, verify, args.duration))
        out, _ = attacker.communicate(timeout=args.duration + 300)
        t_end = time.monotonic()
        sampler.stopping.set()
        sampler.join()
        peak = sampler.peak(t_attack, t_end)
        report = json.loads(out)
        alive = node.proc.poll() is None
        hwm = {pid: _status_kib(pid, "VmHWM") * 1024 for pid in process_tree(node.proc.pid)}
        after = asyncio.run(legitimate(host, port, verify, 1.0))[0] if alive else []
    finally:
        if attacker is not None and attacker.poll() is None:
            attacker.kill()
        node.kill()

    print(f"\none node (eduledger run, SQLite, verifier process) on loopback, {os.cpu_count()} CPUs; "
          f"{args.clients} hostile clients for {args.duration:.0f} s ({'every kind' if len(args.kinds) == len(KINDS) else ' '.join(args.kinds)}), "
          "one legitimate client")
    print(f"node tree RSS idle {mb(idle)} ({len(idle_per_process)} processes: "
          f"{', '.join(mb(v) for v in idle_per_process.values())}); peak alone {mb(peak_before)}")
    verdict = "under" if peak - idle <= CEILING else "OVER"
    print(f"peak during the attack {mb(peak)}: +{mb(peak - idle)} over idle, {verdict} the +{mb(CEILING)} ceiling "
          f"(sampled every 50 ms; VmHWM per process at the end: {', '.join(mb(v) for v in hwm.values())})")
    print(f"{'legitimate POST /api/v1/verify':<34} {'answers':>8} {'failed':>7} {'p50 ms':>8} {'p99 ms':>9}")
    for name, lat, failed in (("alone", before, before_failed), ("during the attack", during, during_failed)):
        print(f"{name:<34} {len(lat):>8,} {sum(failed.values()):>7} {pct(lat, 50) * 1e3:>8.1f} {pct(lat, 99) * 1e3:>9.1f}"
              + (f"   {dict(failed)}" if failed else ""))
    print(f"ratio during/alone: p50 {pct(during, 50) / pct(before, 50):.1f}x, p99 {pct(during, 99) / pct(before, 99):.1f}x; "
          f"node {'alive' if alive else 'DEAD'} after the attack ({len(after)} verifications in the next second)")
    print(f"attacker: {report['cpu'] / args.duration:.0%} of a core; PDF bomb {report['sizes']['pdf-bomb'] / 1e3:,.0f} KB "
          f"(8 × 70 MiB inflated), one-file bomb {report['sizes']['pdf-bomb-form'] / 1e3:,.0f} KB")
    print(f"{'hostile kind':<18} {'requests':>8} {'MB sent':>9}  answers (MB sent: by the requests that ended)")
    for kind in args.kinds:
        outcomes = report["outcomes"].get(kind, {})
        print(f"{kind:<18} {sum(outcomes.values()):>8,} {report['written'].get(kind, 0) / 1e6:>9,.1f}  "
              + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--duration", type=float, default=60, help="seconds of attack (default 60)")
    ap.add_argument("--clients", type=int, default=50, help="concurrent hostile connections (default 50)")
    ap.add_argument("--before", type=float, default=10, help="seconds of legitimate requests alone, before the attack (default 10)")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="the hostile kinds to send (default: all)")
    ap.add_argument("--attack", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the attacker child process
    args = ap.parse_args()
    if args.attack:
        print(json.dumps(asyncio.run(attack("127.0.0.1", args.attack, args.clients, args.duration, tuple(args.kinds)))))
        return
    run(args)


if __name__ == "__main__":
    main()
