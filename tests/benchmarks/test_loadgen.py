"""benchmarks/loadgen.py against a real tiny HTTP/1.1 server on loopback: counts, checks, parsing, schedule.

The server runs in the test's own event loop (asyncio streams) and answers by path; it records every request,
so a test compares what the generator reports with what the server saw. No assertion is about speed: the only
times checked are lower bounds the generator cannot beat unless it breaks its schedule.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from benchmarks.loadgen import (
    BadResponse,
    LoadError,
    ProtocolError,
    body_contains,
    closed_loop,
    encode_request,
    fetch,
    open_loop,
)

VERIFIED = b'{"ok":true,"status":"verified"}'
MARKER = body_contains(b'"status":"verified"')


def _answer(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nserver: tiny\r\ncontent-length: %d\r\ncontent-type: application/json\r\n%s\r\n" % (
        status.encode(), len(body), extra) + body


class TinyServer:
    """Answers by path; ``requests`` holds (arrival, method, path, body) of each, ``connections`` counts accepts."""

    def __init__(self, service_time: float = 0.0) -> None:
        self.requests: list[tuple[float, str, str, bytes]] = []
        self.connections = 0
        self.handlers: set[tuple[asyncio.Task[None], asyncio.StreamWriter]] = set()
        self.stopping = asyncio.Event()
        self.service_time = service_time
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end every connection (by EOF, so each handler returns rather than being cancelled)."""
        assert self.server is not None
        self.server.close()
        self.stopping.set()
        for _, writer in self.handlers:
            writer.close()
        await asyncio.gather(*(task for task, _ in self.handlers))

    def count(self, path: str) -> int:
        return sum(1 for _, _, p, _ in self.requests if p == path)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        me = (asyncio.current_task(), writer)
        self.handlers.add(me)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("ascii")
                lines = head.split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((time.perf_counter(), method, path, body))
                if self.service_time:
                    await asyncio.sleep(self.service_time)
                if not await self._respond(path, body, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.handlers.discard(me)

    async def _respond(self, path: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        """Write the answer for ``path``; False when the connection is to be closed."""
        if path == "/ok":
            writer.write(_answer(VERIFIED[:-1] + b',"got":%d}' % len(body)))
        elif path == "/error":
            writer.write(_answer(b'{"error":"boom"}', "500 Internal Server Error"))
        elif path == "/wrong":
            writer.write(_answer(b'{"ok":false,"status":"failed"}'))
        elif path == "/split":  # the Content-Length header, its value and the body each cut across TCP segments
            whole = _answer(VERIFIED)
            cut = whole.index(b"content-length: ") + 9
            for piece in (whole[:cut], whole[cut : cut + 8], whole[cut + 8 : -10], whole[-10:-4], whole[-4:]):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.005)
        elif path == "/close":
            writer.write(_answer(VERIFIED, extra=b"connection: close\r\n"))
            await writer.drain()
            return False
        elif path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        elif path == "/hangup":
            return False
        elif path == "/stall":
            await self.stopping.wait()
            return False
        else:
            writer.write(_answer(b'{"error":"not found"}', "404 Not Found"))
        await writer.drain()
        return True


def serve(test: Callable[[TinyServer, int], Awaitable[None]], service_time: float = 0.0) -> TinyServer:
    async def main() -> TinyServer:
        server = TinyServer(service_time)
        port = await server.start()
        try:
            await test(server, port)
        finally:
            await server.stop()
        return server

    return asyncio.run(main())


def get(path: str) -> bytes:
    return encode_request("GET", path, host="127.0.0.1")


def test_encode_request_writes_host_type_length_and_body():
    assert encode_request("POST", "/api/v1/verify", host="h:1", body=b"{}", content_type="application/json") == (
        b"POST /api/v1/verify HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    assert get("/x") == b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.mark.parametrize("kwargs", [
    {"method": "HEAD", "path": "/"},
    {"method": "GET", "path": "/a b"},
    {"method": "GET", "path": "relative"},
    {"method": "POST", "path": "/", "body": b"x"},
    {"method": "POST", "path": "/", "body": b"x", "content_type": "a\r\nX-Injected: 1"},
])
def test_encode_request_refuses_what_would_break_the_request(kwargs):
    with pytest.raises(ValueError):
        encode_request(host="h", **kwargs)


def test_closed_loop_counts_every_answer_the_server_gave():
    async def test(server: TinyServer, port: int) -> None:
        request = encode_request("POST", "/ok", host="127.0.0.1", body=b'{"n":1}', content_type="application/json")
        run = await closed_loop("127.0.0.1", port, request, concurrency=4, seconds=0.3, check=MARKER)
        assert run.requests == server.count("/ok") > 4
        assert run.connections == server.connections == 4
        assert {body for _, _, _, body in server.requests} == {b'{"n":1}'}
        assert all(latency > 0 for latency in run.latencies)
        assert run.wall > 0.3 and run.cpu >= 0

    serve(test)


def test_closed_loop_reconnects_when_the_server_closes_after_an_answer():
    async def test(server: TinyServer, port: int) -> None:
        run = await closed_loop("127.0.0.1", port, get("/close"), concurrency=2, seconds=0.2, check=MARKER)
        assert run.requests == server.count("/close") == run.connections == server.connections > 2

    serve(test)


@pytest.mark.parametrize("loop", ["closed", "open"])
def test_a_non_200_answer_stops_the_run(loop):
    async def test(server: TinyServer, port: int) -> None:
        with pytest.raises(BadResponse) as e:
            if loop == "closed":
                await closed_loop("127.0.0.1", port, get("/error"), concurrency=2, seconds=5)
            else:
                await open_loop("127.0.0.1", port, get("/error"), rate=100, seconds=5)
        assert e.value.response.status == 500
        assert b"boom" in e.value.response.body
        assert server.count("/error") < 20  # stopped at the first answer, not after the 5 s

    serve(test)


def test_a_body_the_check_refuses_stops_the_run():
    async def test(server: TinyServer, port: int) -> None:
        with pytest.raises(BadResponse, match="lacks") as e:
            await closed_loop("127.0.0.1", port, get("/wrong"), concurrency=2, seconds=5, check=MARKER)
        assert e.value.response.status == 200
        assert e.value.response.body == b'{"ok":false,"status":"failed"}'

    serve(test)


def test_an_answer_split_across_reads_is_parsed_whole():
    async def test(server: TinyServer, port: int) -> None:
        answer = await fetch("127.0.0.1", port, get("/split"))
        assert (answer.status, answer.body) == (200, VERIFIED)
        run = await closed_loop("127.0.0.1", port, get("/split"), concurrency=2, seconds=0.1, check=MARKER)
        assert run.requests == server.count("/split") - 1

    serve(test)


def test_fetch_returns_any_status():
    async def test(server: TinyServer, port: int) -> None:
        answer = await fetch("127.0.0.1", port, get("/missing"))
        assert (answer.status, answer.body) == (404, b'{"error":"not found"}')

    serve(test)


@pytest.mark.parametrize("path, message", [("/chunked", "Transfer-Encoding"), ("/hangup", "closed the connection")])
def test_answers_this_client_cannot_read_are_refused(path, message):
    async def test(server: TinyServer, port: int) -> None:
        with pytest.raises(ProtocolError, match=message):
            await fetch("127.0.0.1", port, get(path))
        with pytest.raises(ProtocolError, match=message):
            await closed_loop("127.0.0.1", port, get(path), concurrency=1, seconds=5)

    serve(test)


def test_a_server_that_stops_answering_is_a_load_error():
    async def test(server: TinyServer, port: int) -> None:
        with pytest.raises(LoadError, match="2 of 2 requests still unanswered"):
            await closed_loop("127.0.0.1", port, get("/stall"), concurrency=2, seconds=0.05, timeout=0.2)

    serve(test)


def test_no_server_is_a_load_error():
    async def test(server: TinyServer, port: int) -> None:
        assert server.server is not None
        server.server.close()
        await server.server.wait_closed()
        with pytest.raises(LoadError, match="cannot connect"):
            await closed_loop("127.0.0.1", port, get("/ok"), concurrency=1, seconds=1)

    serve(test)


def test_open_loop_sends_rate_times_seconds_requests_over_the_schedule():
    async def test(server: TinyServer, port: int) -> None:
        run = await open_loop("127.0.0.1", port, get("/ok"), rate=200, seconds=0.5, check=MARKER)
        assert run.requests == server.count("/ok") == 100
        assert run.target_rate == 200
        arrivals = [t for t, _, _, _ in server.requests]
        # Request 99 is due 0.495 s after request 0 and is never sent early: the requests are spread, not a burst.
        assert arrivals[-1] - arrivals[0] >= 0.3

    serve(test)


def test_open_loop_counts_the_wait_for_a_connection_as_latency():
    # 20 requests due over 0.2 s, 2 connections, 30 ms per answer: the last answer cannot come before
    # 10 x 30 ms = 0.3 s, while its request was due at 0.19 s.
    async def test(server: TinyServer, port: int) -> None:
        run = await open_loop("127.0.0.1", port, get("/ok"), rate=100, seconds=0.2, check=MARKER,
                              max_connections=2, warm_connections=0)
        assert run.requests == server.count("/ok") == 20
        assert run.connections == server.connections == 2
        assert max(run.latencies) >= 0.3 - 0.19

    serve(test, service_time=0.03)


def test_open_loop_never_opens_more_than_max_connections_even_for_a_batch():
    # 100 requests due within 0.1 ms: all but the first few go out in one batch, as after a late wake-up.
    async def test(server: TinyServer, port: int) -> None:
        run = await open_loop("127.0.0.1", port, get("/ok"), rate=1_000_000, seconds=0.0001, check=MARKER,
                              max_connections=3, warm_connections=0)
        assert run.requests == server.count("/ok") == 100
        assert run.connections == server.connections == 3

    serve(test, service_time=0.01)
