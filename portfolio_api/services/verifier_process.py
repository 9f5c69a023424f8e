"""Verification in a process of its own, for ``POST /api/v1/verify``.

Checking a bundle is pure CPU (strict JSON, the credential's digest, proofs,
cached signature checks, the report), and the node's event loop serves every
other request too. Under the GIL a thread cannot take that work to the second
core; a process can. ``eduledger run`` starts one (``Settings.verify_process``);
the route hands it the documents and gets the reports back as JSON, while the
event loop goes on with HTTP.

The node and the process talk over a socket pair, in frames of a 4-byte
big-endian length and a pickle (both ends are this program, started by it: no
one else can write to the socket)::

    node -> process   ("trust", trust file bytes)               the policy for what follows
                      ("verify", id, now, [document bytes, ...])
    process -> node   (id, [report JSON bytes, ...] or None)    None: it could not; verify in process

The process keeps one trust policy and one checkpoint cache, like the
in-process verifier (``Documents.verify_documents``): a checkpoint's signatures
are checked once, and two documents showing different roots for one log size
are a fork. The node sends a new trust file before the next document whenever
its ledger has grown. If the process dies, the requests waiting on it and
those after it are verified in process (``VerifierGone``), and it is started
again, at most every ``RESTART_EVERY`` seconds.

Memory: a document costs the process no more than the verifier's own caps (a
bundle at most 512 KiB; a diploma PDF's embedded bundle inflated to at most that,
``verifier/pdf.py``), so a PDF bomb is refused without leaving hundreds of MB
allocated here or, when the node verifies in process, in the node; uploaded
files come one per request (``routers/verify_api.py``), not all at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["RESTART_EVERY", "VerifierGone", "VerifierProcess", "report_json"]

log = logging.getLogger("eduledger.verifier_process")

RESTART_EVERY = 5.0
#: Longest wait for the process's answer before it is taken for hung, killed, and the documents verified in process.
ANSWER_WITHIN = 60.0
#: Requests sent to the process and not yet answered, at most (the others wait in the node, holding their body only).
IN_FLIGHT = 4
_HEADER = struct.Struct("!I")


class VerifierGone(Exception):
    """The verifier process is not there (not started yet, ended, or could not check a document)."""


def _frame(message: object) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def report_json(report: dict) -> bytes:
    """A report as the HTTP API sends it (compact JSON, UTF-8)."""
    return json.dumps(report, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


class VerifierProcess:
    """The node's side: start the process, send it documents, await the reports.

    ``ledger_state`` and ``trust_file`` are read in the event loop: the state on every
    request (cheap: ``Log.state``), the trust file (``TrustPolicy.to_bytes``) when it changed."""

    def __init__(self, ledger_state: Callable[[], object], trust_file: Callable[[], bytes]) -> None:
        self._ledger_state, self._trust_file = ledger_state, trust_file
        self._proc: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[list[bytes] | None]] = {}
        self._slots: asyncio.Semaphore | None = None  # made on the event loop, at the first request
        self._ids = itertools.count()
        self._sent_state: object = None
        self._last_start = float("-inf")
        self.answered = 0  # requests the process answered (status, tests)

    @property
    def running(self) -> bool:
        return self._writer is not None

    async def start(self) -> None:
        """Start the process (if it is not running) and connect to it."""
        if self._writer is not None:
            return
        self._last_start = time.monotonic()
        parent, child = socket.socketpair()
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "portfolio_api.services.verifier_process", str(child.fileno())],
                pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip
        except OSError:
            parent.close()
            raise
        finally:
            child.close()
        reader, self._writer = await asyncio.open_unix_connection(sock=parent)
        self._sent_state = None
        self._reader = asyncio.create_task(self._read(reader), name="verifier-process-reader")
        log.info("verifier process %d started", self._proc.pid)

    async def verify(self, datas: Sequence[bytes], now: int) -> list[bytes]:
        """The reports on ``datas`` as JSON bytes, in order; VerifierGone if the process cannot give them."""
        if self._writer is None:
            if time.monotonic() - self._last_start < RESTART_EVERY:
                raise VerifierGone("the verifier process is not running")
            try:
                await self.start()
            except OSError as e:
                raise VerifierGone(f"the verifier process could not start: {e}") from None
        writer = self._writer
        assert writer is not None
        state = self._ledger_state()
        if state != self._sent_state:
            writer.write(_frame(("trust", self._trust_file())))
            self._sent_state = state
        request_id = next(self._ids)
        future: asyncio.Future[list[bytes] | None] = asyncio.get_running_loop().create_future()
        if self._slots is None:
            self._slots = asyncio.Semaphore(IN_FLIGHT)
        try:
            # The process answers one request at a time: more than a few queued in the socket buffer
            # only hold memory (a pickled copy of every body) while a flood waits; they wait here instead.
            async with self._slots:
                self._pending[request_id] = future
                writer.write(_frame(("verify", request_id, now, list(datas))))
                if writer.transport.get_write_buffer_size() > 1 << 20:
                    await writer.drain()
                reports = await asyncio.wait_for(asyncio.shield(future), ANSWER_WITHIN)
        except TimeoutError:  # before OSError, of which it is a subclass
            log.error("the verifier process gave no answer in %.0f s; killing it", ANSWER_WITHIN)
            self._disconnect()  # fails every waiting request over to in-process verification
            raise VerifierGone("the verifier process did not answer") from None
        except (ConnectionError, OSError) as e:
            self._pending.pop(request_id, None)
            self._disconnect()
            raise VerifierGone(f"the verifier process went away ({type(e).__name__})") from None
        if reports is None:
            raise VerifierGone("the verifier process could not check these documents")
        return reports

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (n,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                request_id, reports = pickle.loads(await reader.readexactly(n))
                future = self._pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result(reports)
                    self.answered += 1
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as e:
            log.warning("the verifier process went away (%s); verifying in process until it is back", type(e).__name__)
        finally:
            self._disconnect()

    def _disconnect(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(VerifierGone("the verifier process ended"))
        self._pending.clear()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    async def close(self) -> None:
        """Stop the process: it ends when its socket closes."""
        proc = self._proc
        self._disconnect()
        if self._reader is not None:
            self._reader.cancel()
        if proc is not None:
            await asyncio.to_thread(proc.wait, 5)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


# --- the process ---------------------------------------------------------------------------


def serve(sock: socket.socket) -> None:
    """Answer frames until the node closes the socket."""
    from verifier import gcpolicy
    from verifier.document import verify_document
    from verifier.trust import TrustPolicy
    from verifier.verify import CheckpointCache

    gcpolicy.tune_process()  # this process is one long job over a small, lasting state
    source, sink = sock.makefile("rb"), sock.makefile("wb")
    trust, seen = None, None
    while True:
        head = source.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        (n,) = _HEADER.unpack(head)
        message = pickle.loads(source.read(n))
        if message[0] == "trust":
            trust = TrustPolicy.from_bytes(message[1])
            seen = CheckpointCache(trust)
            continue
        _, request_id, now, datas = message
        try:
            if trust is None:
                raise VerifierGone("no trust file yet")
            reports: list[bytes] | None = [report_json(verify_document(d, trust, now=now, seen=seen).to_json()) for d in datas]
        except Exception:  # noqa: BLE001 - the node verifies these in process; this process goes on
            log.exception("could not verify %d documents", len(datas))
            reports = None
        sink.write(_frame((request_id, reports)))
        sink.flush()


if __name__ == "__main__":  # pragma: no cover - started by VerifierProcess.start
    serve(socket.socket(fileno=int(sys.argv[1])))
