"""A lean HTTP/1.1 load generator for the benchmarks: closed loop and open loop on keep-alive connections.

The generator shares the machine with the server it measures, so each request must cost it little CPU,
or the figures describe the generator. Hence no HTTP library: a request is encoded once to bytes
(``encode_request``) and written as is; a connection is an ``asyncio.Protocol`` whose ``data_received``
parses the answer (status line, headers, a body of exactly ``Content-Length`` bytes) and hands it to the run
by a plain callback, with no task or future per request. One request is in flight per connection (no
pipelining), so an answer is always the answer to the one request sent.

What is refused rather than half-supported (``ProtocolError``): ``Transfer-Encoding`` (uvicorn sends
``Content-Length`` for every fixed-size response, which is all the benchmarks ask for), interim 1xx answers,
a body without ``Content-Length`` (read until close), bytes beyond the answer, HEAD requests (their answer
has a ``Content-Length`` but no body).

Two ways to load a server:

* ``closed_loop``: ``concurrency`` connections, each sending its next request as soon as the answer to the
  previous one is in, for ``seconds``; latency counts from the send. The rate is the server's (or the
  generator's: see ``Run.cpu_share``) limit at that concurrency.
* ``open_loop``: request ``i`` is due at ``start + i / rate`` whatever the answers' speed; one scheduling
  coroutine wakes for each due time and hands every request due by then to an idle connection, or opens a
  new one (up to ``max_connections``; past it the request waits for a connection). Latency counts from the
  due time, so a slow server, a late scheduler or a wait for a connection all show as latency and never as a
  lower offered rate (no coordinated omission).

Every answer is checked: its status must be 200 and the caller's ``check`` (e.g. ``body_contains``) must
pass; the first wrong answer stops the run. Errors::

    LoadError             the run could not measure what was asked
    ├── BadResponse       the server answered, wrongly: another status, or a body the check refuses
    └── ProtocolError     the bytes are not an HTTP/1.1 answer this client reads, or the connection broke
"""

from __future__ import annotations

import asyncio
import collections
import functools
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "BadResponse",
    "Check",
    "LoadError",
    "ProtocolError",
    "Response",
    "Run",
    "body_contains",
    "closed_loop",
    "encode_request",
    "fetch",
    "open_loop",
]

MAX_HEAD_BYTES = 16 * 1024  # a status line and headers longer than this are not an answer from our servers


class LoadError(Exception):
    """The run could not measure what was asked; see the module docstring for the subclasses."""


class ProtocolError(LoadError):
    """The server's bytes are not an HTTP/1.1 answer this client reads, or the connection broke mid-request."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


class BadResponse(LoadError):
    """The server answered, but not as expected; carries the answer as evidence."""

    def __init__(self, reason: str, response: Response) -> None:
        excerpt = response.body[:300].decode("utf-8", "replace")
        super().__init__(f"{reason}: status {response.status}, body {excerpt!r}")
        self.reason = reason
        self.response = response


Check = Callable[[Response], None]
"""Raises ``BadResponse`` if an answer (already known to be a 200) is wrong."""


def body_contains(marker: bytes) -> Check:
    """A check that the body holds ``marker`` (a substring search: cheap enough to run on every answer)."""
    if not marker:
        raise ValueError("an empty marker matches every body")

    def check(response: Response) -> None:
        if marker not in response.body:
            raise BadResponse(f"the body lacks {marker!r}", response)

    return check


def encode_request(method: str, path: str, *, host: str, body: bytes = b"", content_type: str | None = None) -> bytes:
    """One HTTP/1.1 request as the bytes written for every send: request line, Host, Content-Type, Content-Length, body."""
    for name, value, forbidden in (("method", method, " \r\n"), ("path", path, " \r\n"), ("host", host, " \r\n"),
                                   ("content type", content_type or "", "\r\n")):
        if any(c in value for c in forbidden):
            raise ValueError(f"{name} {value!r} would break the request line or a header")
    if method == "HEAD":
        raise ValueError("HEAD is not supported: its answer has a Content-Length but no body")
    if not path.startswith("/"):
        raise ValueError(f"path {path!r} must start with /")
    if body and content_type is None:
        raise ValueError("a body needs a content type")
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    if body or method not in ("GET", "DELETE", "OPTIONS"):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """(status, body length, whether the connection stays open) of a status line and headers, without the blank line."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:100]!r}")
    status = int(parts[1])
    if status < 200:
        raise ProtocolError(f"interim answer {status} is not supported (no request asks for one)")
    keep_alive = parts[0] == b"HTTP/1.1"
    length: int | None = None
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProtocolError(f"not a header line: {line[:100]!r}")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            if not value.isdigit() or (length is not None and int(value) != length):
                raise ProtocolError(f"bad Content-Length {value[:40]!r}")
            length = int(value)
        elif name == b"transfer-encoding":
            raise ProtocolError(f"Transfer-Encoding: {value[:40].decode('latin-1')} is not supported; this client reads Content-Length bodies only")
        elif name == b"connection":
            tokens = {t.strip() for t in value.lower().split(b",")}
            if b"close" in tokens:
                keep_alive = False
            elif b"keep-alive" in tokens:
                keep_alive = True
    if length is None:
        if status not in (204, 304):  # the two answers that never have a body
            raise ProtocolError(f"status {status} without Content-Length (a body read until close is not supported)")
        length = 0
    return status, length, keep_alive


class _Owner(Protocol):
    """Whoever a connection reports to: a run's driver, or ``fetch``'s single answer."""

    def answered(self, conn: _Connection, response: Response, keep_alive: bool) -> None: ...
    def fail(self, error: LoadError) -> None: ...
    def lost(self, conn: _Connection, exc: Exception | None) -> None: ...


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, parses its answer, reports it to its owner by callback."""

    def __init__(self, owner: _Owner) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.in_flight = False
        self.since = 0.0  # the request's latency origin: its due time (open loop) or send time (closed loop)
        self._buffer = bytearray()
        self._status = 0
        self._length = -1  # the body's length once the head is parsed; -1 while it is not
        self._keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport  # asyncio sets TCP_NODELAY on TCP sockets: a small request leaves at once

    def send(self, request: bytes, since: float) -> None:
        assert self.transport is not None and not self.in_flight, "one request in flight per connection"
        self.in_flight, self.since = True, since
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        try:
            response = self._parse(data)
        except ProtocolError as e:
            self.owner.fail(e)
            return
        if response is not None:
            self.in_flight = False
            self.owner.answered(self, response, self._keep_alive)

    def _parse(self, data: bytes) -> Response | None:
        if not self.in_flight:
            raise ProtocolError(f"the server sent {len(data)} bytes with no request in flight")
        buffer = self._buffer
        buffer += data
        if self._length < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise ProtocolError(f"no end of headers in the first {len(buffer)} bytes")
                return None
            self._status, self._length, self._keep_alive = _parse_head(bytes(buffer[:end]))
            del buffer[: end + 4]
        if len(buffer) < self._length:
            return None
        if len(buffer) > self._length:
            raise ProtocolError(f"{len(buffer) - self._length} bytes after a {self._length}-byte body with one request in flight")
        response = Response(self._status, bytes(buffer))
        buffer.clear()
        self._length = -1
        return response

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.lost(self, exc)


class _Driver:
    """The connections of one run: an idle queue, requests waiting for a connection, the answers' latencies.

    ``finished`` resolves once ``close()`` has been called and every request submitted has its answer, or
    fails with the first error."""

    def __init__(self, host: str, port: int, request: bytes, check: Check | None, max_connections: int) -> None:
        self.host, self.port, self.request, self.check = host, port, request, check
        self.max_connections = max_connections
        self.loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.connections: set[_Connection] = set()
        self.opened = 0
        self.idle: collections.deque[_Connection] = collections.deque()  # FIFO: no connection idles long enough to time out
        self.waiting: collections.deque[float] = collections.deque()  # latency origins of requests with no connection yet
        self.opening = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.shut = False
        self.latencies: list[float] = []
        self.last_answer = 0.0
        self.submitted = 0
        self.closing = False
        self.on_answer: Callable[[float], None] | None = None  # the closed loop's resend

    def open(self) -> asyncio.Task[None]:
        """Start opening one more connection; it serves a waiting request or joins the idle queue once open."""
        self.opening += 1  # now, not when the task first runs: submissions before then must see it on its way
        task = self.loop.create_task(self._connect())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _connect(self) -> None:
        try:
            transport, conn = await self.loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError as e:
            self.fail(LoadError(f"cannot connect to {self.host}:{self.port}: {e}"))
            return
        finally:
            self.opening -= 1
        if self.shut:  # the run ended while this connection was being opened
            transport.close()
            return
        self.connections.add(conn)
        self.opened += 1
        self.ready(conn)

    def submit(self, since: float) -> None:
        """Send one request now on an idle connection, or queue it (its latency still counts from ``since``)."""
        if self.finished.done():
            return
        self.submitted += 1
        if self.idle:
            self.idle.popleft().send(self.request, since)
            return
        self.waiting.append(since)
        self._replenish()

    def _replenish(self) -> None:
        """Open one more connection if a request waits with none on its way and the cap allows."""
        if len(self.waiting) > self.opening and len(self.connections) + self.opening < self.max_connections:
            self.open()

    def ready(self, conn: _Connection) -> None:
        if self.finished.done():
            return
        if self.waiting:
            conn.send(self.request, self.waiting.popleft())
        else:
            self.idle.append(conn)

    def answered(self, conn: _Connection, response: Response, keep_alive: bool) -> None:
        now = time.perf_counter()
        if self.finished.done():
            return
        try:
            if response.status != 200:
                raise BadResponse("expected status 200", response)
            if self.check is not None:
                self.check(response)
        except BadResponse as e:
            self.fail(e)
            return
        self.latencies.append(now - conn.since)
        self.last_answer = now
        if keep_alive:
            self.ready(conn)
        else:  # the server will close it: answer the requests still to come on a new connection
            self.connections.discard(conn)
            assert conn.transport is not None
            conn.transport.close()
            self._replenish()
        if self.on_answer is not None:
            self.on_answer(now)
        self._maybe_finished()

    def lost(self, conn: _Connection, exc: Exception | None) -> None:
        if conn.in_flight:
            self.fail(ProtocolError(f"the server closed the connection with a request in flight ({exc or 'end of stream'})"))
            return
        self.connections.discard(conn)
        if conn in self.idle:  # closed by the server while idle (keep-alive timeout): just not reused
            self.idle.remove(conn)

    def fail(self, error: LoadError) -> None:
        if not self.finished.done():
            self.finished.set_exception(error)

    def close(self) -> None:
        """No more submissions: the run is finished once the requests in flight are answered."""
        self.closing = True
        self._maybe_finished()

    def _maybe_finished(self) -> None:
        if self.closing and len(self.latencies) == self.submitted and not self.finished.done():
            self.finished.set_result(None)

    def shutdown(self) -> None:
        self.shut = True
        for task in self.tasks:
            task.cancel()
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.close()
        self.connections.clear()
        if not self.finished.done():
            self.finished.cancel()
        elif not self.finished.cancelled():
            self.finished.exception()  # retrieved: the caller has already raised it or never will


@dataclass(frozen=True)
class Run:
    """What one run measured. ``wall`` spans the first send (closed loop) or first due time (open loop) to the
    last answer; ``cpu`` is this process's CPU time over the same span, so ``cpu_share`` near 1.0 means the
    generator's one event-loop thread was saturated and the figures are the generator's, not the server's."""

    latencies: tuple[float, ...] = field(repr=False)  # seconds, in order of the answers
    wall: float
    cpu: float
    connections: int  # opened during the run, warm ones included (a replacement for one the server closed counts again)
    target_rate: float | None = None  # open loop only: the schedule's rate
    worst_lag: float = 0.0  # open loop only: the scheduler's worst lateness in handing a request over (a wait for
    # a connection comes after it: that is in the latencies, not here)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.wall

    @property
    def cpu_share(self) -> float:
        return self.cpu / self.wall

    def percentile(self, p: float) -> float:
        """The nearest-rank ``p``-th percentile latency, in seconds."""
        if not self.latencies:
            raise ValueError("no latencies")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _await_finish(driver: _Driver, timeout: float) -> None:
    """Wait for the last answers; give up only when none has come for ``timeout`` s (a stuck server, not a slow one:
    an open loop far above the server's rate may take long to drain, and that is its measurement)."""
    while True:
        answered = len(driver.latencies)
        done, _ = await asyncio.wait([driver.finished], timeout=timeout)
        if done:
            driver.finished.result()  # raises the run's error, if any
            return
        if len(driver.latencies) == answered:
            missing = driver.submitted - answered
            raise LoadError(f"{missing} of {driver.submitted} requests still unanswered after {timeout:.0f} s without any answer")


class _OneAnswer:
    """``fetch``'s owner of its one connection."""

    def __init__(self, answer: asyncio.Future[Response]) -> None:
        self.answer = answer

    def answered(self, conn: _Connection, response: Response, keep_alive: bool) -> None:
        if not self.answer.done():
            self.answer.set_result(response)

    def fail(self, error: LoadError) -> None:
        if not self.answer.done():
            self.answer.set_exception(error)

    def lost(self, conn: _Connection, exc: Exception | None) -> None:
        if conn.in_flight:
            self.fail(ProtocolError(f"the server closed the connection with a request in flight ({exc or 'end of stream'})"))


async def fetch(host: str, port: int, request: bytes, *, timeout: float = 30.0) -> Response:
    """One request on a fresh connection and its answer, whatever its status: the runs' parser, for a sanity check."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Response] = loop.create_future()
    try:
        transport, conn = await loop.create_connection(lambda: _Connection(_OneAnswer(answer)), host, port)
    except OSError as e:
        raise LoadError(f"cannot connect to {host}:{port}: {e}") from None
    try:
        conn.send(request, time.perf_counter())
        return await asyncio.wait_for(answer, timeout)
    except TimeoutError:
        raise LoadError(f"no answer from {host}:{port} in {timeout:.0f} s") from None
    finally:
        transport.close()


def _collector_off(run: Callable[..., Awaitable[Run]]) -> Callable[..., Awaitable[Run]]:
    """A run goes without the cyclic collector: a collection in the generator stops every connection at
    once, and its pause would show as the server's latency. A request makes only acyclic objects, which
    reference counting frees; the collector is back on (and catches up) right after the run."""

    @functools.wraps(run)
    async def without_collector(*args: Any, **kwargs: Any) -> Run:
        enabled = gc.isenabled()
        gc.collect()
        gc.disable()
        try:
            return await run(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return without_collector


@_collector_off
async def closed_loop(host: str, port: int, request: bytes, *, concurrency: int, seconds: float,
                      check: Check | None = None, timeout: float = 30.0) -> Run:
    """``concurrency`` connections sending back to back for ``seconds``; every answer checked (module docstring).

    Connections are opened before the clock starts. Requests sent before ``seconds`` have passed are all
    answered and counted; the run fails if no answer comes for ``timeout`` s."""
    if concurrency < 1 or seconds <= 0:
        raise ValueError("concurrency must be >= 1 and seconds > 0")
    driver = _Driver(host, port, request, check, concurrency)
    try:
        await asyncio.gather(*(driver.open() for _ in range(concurrency)))
        if driver.finished.done():
            await driver.finished
        cpu0, start = time.process_time(), time.perf_counter()
        stop = start + seconds

        def resend(now: float) -> None:
            if now < stop:
                driver.submit(now)

        driver.on_answer = resend
        for _ in range(concurrency):
            driver.submit(time.perf_counter())
        await asyncio.wait([driver.finished], timeout=seconds)
        driver.close()
        await _await_finish(driver, timeout)
        return Run(tuple(driver.latencies), driver.last_answer - start, time.process_time() - cpu0, driver.opened)
    finally:
        driver.shutdown()


@_collector_off
async def open_loop(host: str, port: int, request: bytes, *, rate: float, seconds: float, check: Check | None = None,
                    max_connections: int = 512, warm_connections: int = 8, timeout: float = 30.0) -> Run:
    """``int(rate * seconds)`` requests, request ``i`` due ``i / rate`` after the start; latency from the due time.

    ``warm_connections`` are opened before the clock starts, more on demand up to ``max_connections``
    (module docstring). Every request is answered and counted, however long after the schedule's end; the run
    fails if no answer comes for ``timeout`` s."""
    if rate <= 0 or seconds <= 0 or max_connections < 1 or not 0 <= warm_connections <= max_connections:
        raise ValueError("rate and seconds must be > 0, 0 <= warm_connections <= max_connections, max_connections >= 1")
    n = int(rate * seconds)
    if n < 1:
        raise ValueError(f"rate {rate} over {seconds} s schedules no request")
    driver = _Driver(host, port, request, check, max_connections)
    worst_lag = 0.0
    try:
        await asyncio.gather(*(driver.open() for _ in range(warm_connections)))
        cpu0, start = time.process_time(), time.perf_counter()
        i = 0
        while i < n and not driver.finished.done():
            now = time.perf_counter()
            # Everything due by now goes out in this wake-up: a late wake-up sends a batch, never shifts the schedule.
            while i < n and start + i / rate <= now:
                due = start + i / rate
                worst_lag = max(worst_lag, now - due)
                driver.submit(due)
                i += 1
            if i < n:
                await asyncio.sleep(start + i / rate - time.perf_counter())
        driver.close()
        await _await_finish(driver, timeout)
        return Run(tuple(driver.latencies), driver.last_answer - start, time.process_time() - cpu0, driver.opened,
                   target_rate=rate, worst_lag=worst_lag)
    finally:
        driver.shutdown()
