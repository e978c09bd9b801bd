"""The gateway's HTTP server against raw sockets on loopback: what aiohttp's server did for the
gateway (keep-alive, pipelining, HTTP/1.0, chunked bodies, slow clients, shutdown)."""

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest

from modelops.gateway.http_exchange import Request, Response, StreamResponse
from modelops.gateway.http_server import HttpServer
from tests.support.garbage import cyclic_garbage

CAP = 100


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, 20))


async def echo(request: Request) -> Response | StreamResponse:
    """The method, path and body back; /stream answers in three chunks, /slow after 0.5 s."""
    if request.path == "/stream":
        out = StreamResponse(headers={"Content-Type": "text/plain"})
        await out.prepare(request)
        for word in (b"one ", b"two ", b"three"):
            await out.write(word)
        await out.write_eof()
        return out
    if request.path == "/no-content":
        empty = StreamResponse(204)
        await empty.prepare(request)
        await empty.write(b"never sent")
        await empty.write_eof()
        return empty
    if request.path == "/slow":
        await asyncio.sleep(0.5)
    if request.path == "/ignore-body":
        return Response(200, b"ignored")
    body = await request.read_body(CAP)
    if body is None:
        return Response(400, b"too large")
    return Response(200, f"{request.method} {request.path_qs} ".encode() + body)


@asynccontextmanager
async def serving(idle_timeout: float = 5.0) -> AsyncIterator[HttpServer]:
    server = HttpServer(echo, idle_timeout)
    await server.start("127.0.0.1", 0, 16)
    try:
        yield server
    finally:
        await server.shutdown(2.0)


async def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, then read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def answer(*requests: bytes) -> bytes:
    """What a fresh server sends back to ``requests`` sent at once on one connection, until
    it closes it."""
    got: list[bytes] = []

    async def scenario() -> None:
        async with serving() as server:
            got.append(await exchange(server.port, b"".join(requests)))

    run(scenario())
    return got[0]


def test_pipelined_requests_are_answered_in_order_on_one_connection() -> None:
    got = answer(
        b"GET /slow?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    answers = got.split(b"HTTP/1.1 200 OK")
    assert len(answers) == 4, got
    assert answers[1].endswith(b"GET /slow?x=1 ")
    assert answers[2].endswith(b"POST /b abc")
    assert b"Connection: close" in answers[3] and answers[3].endswith(b"GET /c ")


def test_http_1_0_is_answered_and_closed() -> None:
    got = answer(b"GET /old HTTP/1.0\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(b"GET /old ")
    assert b"Connection: close" in got
    stream = answer(b"GET /stream HTTP/1.0\r\n\r\n")
    assert stream.endswith(b"\r\n\r\none two three"), stream  # no chunked framing


def test_a_streamed_answer_is_chunked_and_the_connection_kept() -> None:
    got = answer(
        b"GET /stream HTTP/1.1\r\n\r\n", b"GET /after HTTP/1.1\r\nConnection: close\r\n\r\n"
    )
    assert b"Transfer-Encoding: chunked" in got
    assert b"\r\n4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\nHTTP/1.1 200" in got
    assert got.endswith(b"GET /after ")


def test_an_answer_without_body_is_neither_chunked_nor_closed() -> None:
    got = answer(
        b"GET /no-content HTTP/1.1\r\n\r\n", b"GET /after HTTP/1.1\r\nConnection: close\r\n\r\n"
    )
    first, _, rest = got.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 204 No Content") and b"chunked" not in first, got
    assert rest.startswith(b"HTTP/1.1 200 OK") and rest.endswith(b"GET /after "), got


def test_a_chunked_body_is_read_whole_and_capped_while_read() -> None:
    chunked = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    got = answer(chunked, b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert got.endswith(b"POST /c abcde")
    flood = b"".join(b"40\r\n" + b"x" * 64 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
    assert answer(chunked, flood).endswith(b"too large")


def test_expect_100_continue_is_answered_when_the_body_is_read() -> None:
    async def scenario() -> None:
        async with serving() as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
                b"Connection: close\r\n\r\n"
            )
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"ok")
            got = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(b"POST /e ok")

    run(scenario())


def test_an_unread_body_is_dropped_and_the_connection_kept() -> None:
    got = answer(
        b"POST /ignore-body HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /next HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    assert got.count(b"HTTP/1.1 200 OK") == 2 and got.endswith(b"GET /next "), got


def test_a_malformed_request_gets_400_and_a_close() -> None:
    assert answer(b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400 Bad Request")


def test_head_gets_the_length_but_no_body() -> None:
    got = answer(b"HEAD /h HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert b"Content-Length: 8" in got and got.endswith(b"\r\n\r\n")


def test_headers_not_complete_within_the_idle_timeout_close_the_connection() -> None:
    async def scenario() -> None:
        async with serving(idle_timeout=0.3) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n")
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()

    run(scenario())


def test_an_answer_s_after_work_runs_once_the_client_can_read_the_answer() -> None:
    """What a handler leaves for ``after`` (the gateway's metrics and token charges) is off
    the client's wait: its answer is already in the client's socket when that work runs,
    and the work is done before the connection's next request is answered."""
    events: list[str] = []
    client = socket.socket()

    async def handler(request: Request) -> Response:
        events.append(f"answer {request.path}")
        response = Response(200, request.path.encode())

        def after() -> None:
            seen = client.recv(4096, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            events.append(f"after {request.path}: client holds {seen.count(b' 200 OK')}")

        response.after = after
        return response

    async def scenario() -> None:
        server = HttpServer(handler, 5.0)
        await server.start("127.0.0.1", 0, 16)
        try:
            client.connect(("127.0.0.1", server.port))
            client.sendall(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
            while len(events) < 4:
                await asyncio.sleep(0.01)
        finally:
            client.close()
            await server.shutdown(2.0)

    run(scenario())
    assert events == [
        "answer /a",
        "after /a: client holds 1",
        "answer /b",
        "after /b: client holds 2",
    ]


def test_a_failure_after_the_answer_is_logged_and_the_connection_serves_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: Request) -> Response:
        response = Response(200, request.path.encode())

        def after() -> None:
            raise RuntimeError(f"broken after {request.path}")

        response.after = after
        return response

    got: list[bytes] = []

    async def scenario() -> None:
        server = HttpServer(handler, 5.0)
        await server.start("127.0.0.1", 0, 16)
        try:
            got.append(
                await exchange(
                    server.port,
                    b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
                )
            )
        finally:
            await server.shutdown(2.0)

    with caplog.at_level(logging.ERROR, logger="modelops.gateway.http"):
        run(scenario())
    assert got[0].count(b"HTTP/1.1 200 OK") == 2 and got[0].endswith(b"/b"), got[0]
    failures = [r for r in caplog.records if r.getMessage() == "error after an answer was sent"]
    assert [str(r.exc_info[1]) for r in failures if r.exc_info] == [
        "broken after /a",
        "broken after /b",
    ]


def test_shutdown_lets_the_request_in_flight_finish_and_accepts_no_more() -> None:
    async def scenario() -> None:
        server = HttpServer(echo, 5.0)
        await server.start("127.0.0.1", 0, 16)
        port = server.port
        in_flight = asyncio.create_task(
            exchange(port, b"GET /slow HTTP/1.1\r\n\r\nGET /never HTTP/1.1\r\n\r\n")
        )
        await asyncio.sleep(0.1)
        await server.shutdown(5.0)
        got = await in_flight
        assert got.count(b"HTTP/1.1 200 OK") == 1 and got.endswith(b"GET /slow ")
        assert b"Connection: close" in got
        try:
            await exchange(port, b"GET / HTTP/1.1\r\n\r\n")
        except ConnectionRefusedError:
            return
        raise AssertionError("a connection was accepted after shutdown")

    run(scenario())


def test_a_client_gone_mid_stream_fails_the_handler_s_writes_with_a_reset() -> None:
    """Not a cancellation (as aiohttp's server did not cancel): the handler sees the reset
    and ends the request its own way."""
    seen: list[Exception] = []

    async def endless(request: Request) -> StreamResponse:
        out = StreamResponse()
        await out.prepare(request)
        try:
            while True:
                await out.write(b"x" * 65536)
                await asyncio.sleep(0.01)
        except ConnectionResetError as err:
            seen.append(err)
        return out

    async def scenario() -> None:
        server = HttpServer(endless, 5.0)
        await server.start("127.0.0.1", 0, 16)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.05)
        await server.shutdown(1.0)
        assert len(seen) == 1

    run(scenario())


def test_closed_connections_leave_no_reference_cycles() -> None:
    """A connection's parser holds its callbacks: unless it is let go when the connection
    is lost, every connection leaves a cycle for the collector."""
    connections = 50

    async def scenario() -> None:
        async with serving() as server:
            for _ in range(connections):
                got = await exchange(
                    server.port, b"GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                )
                assert got.endswith(b"GET /c ")

    garbage = cyclic_garbage(lambda: run(scenario()))
    # asyncio's own transports leave cycles (uvloop's do not): only the server's are looked for.
    ours = {name: garbage[name] for name in ("_Connection", "HttpRequestParser", "Request")}
    assert ours == {"_Connection": 0, "HttpRequestParser": 0, "Request": 0}, garbage
