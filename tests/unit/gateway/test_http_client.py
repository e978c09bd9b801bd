"""The gateway's upstream client against scripted servers on loopback: what aiohttp's client
did for the gateway (keep-alive, framing, broken answers, timeouts, the connection limit)."""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from multidict import CIMultiDict

from modelops.gateway.http_answer import StaleConnectionError
from modelops.gateway.http_client import (
    AnswerBrokenError,
    ConnectError,
    ConnectionPool,
    ConnectTimeoutError,
    Origin,
    Timeouts,
    request_head,
    split_url,
)
from tests.support.garbage import cyclic_garbage

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
QUICK = Timeouts(connect=2.0, read=2.0)


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, 20))


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


class Server:
    """Answers each request on each connection with ``handler``; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Origin:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return split_url(f"http://127.0.0.1:{port}")[0]

    async def __aexit__(self, *_: object) -> None:
        if self.server is not None:
            self.server.close()


def answering(*answers: bytes) -> Handler:
    """Each request on a connection gets the next answer; the connection then stays open."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            await read_request(reader)
            writer.write(answer)
            await writer.drain()
        await reader.read()

    return handler


async def get(pool: ConnectionPool, origin: Origin, method: str = "GET") -> tuple[int, bytes]:
    answer = await pool.request(origin, method, "/x", CIMultiDict(), b"", QUICK)
    try:
        return answer.status, await answer.read()
    finally:
        answer.release()


def connections_for_two(handler: Handler) -> int:
    """Two GETs in a row, both answered ok: how many connections the server saw."""

    async def scenario() -> None:
        async with server as origin:
            pool = ConnectionPool(4)
            assert await get(pool, origin) == (200, b"ok")
            assert await get(pool, origin) == (200, b"ok")
            await pool.close()

    server = Server(handler)
    run(scenario())
    return server.connections


def test_a_kept_alive_connection_serves_the_next_request() -> None:
    assert connections_for_two(answering(OK, OK)) == 1


def test_connection_close_is_not_reused() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    assert connections_for_two(answering(closing)) == 2


def test_bytes_after_an_answer_change_nothing_and_close_the_connection() -> None:
    stray = b"HTTP/1.1 500 Stray\r\nContent-Length: 3\r\n\r\nbad"
    assert connections_for_two(answering(OK + stray)) == 2


def test_an_answer_delimited_by_the_close_is_complete() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")

    async def scenario() -> None:
        async with Server(handler) as origin:
            pool = ConnectionPool(4)
            answer = await pool.request(origin, "GET", "/", CIMultiDict(), b"", QUICK)
            assert answer.content_type == "text/plain"
            assert await answer.read() == b"all of it"
            await pool.close()

    run(scenario())


def test_chunks_arrive_as_the_upstream_sends_them() -> None:
    async def scenario() -> None:
        go_on = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            await go_on.wait()  # the second chunk only once the first was read
            writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
            await reader.read()

        server = Server(handler)
        async with server as origin:
            pool = ConnectionPool(4)
            answer = await pool.request(origin, "POST", "/", CIMultiDict(), b"{}", QUICK)
            chunks = aiter(answer)
            assert await anext(chunks) == b"first"
            go_on.set()
            assert await anext(chunks) == b"second"
            with pytest.raises(StopAsyncIteration):
                await anext(chunks)
            answer.release()
            assert sum(len(idle) for idle in pool.idle.values()) == 1  # kept: it ended cleanly
            await pool.close()

    run(scenario())


def test_an_answer_is_taken_whole_only_once_all_of_it_arrived() -> None:
    async def scenario() -> None:
        go_on = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf ")
            await writer.drain()
            await go_on.wait()
            writer.write(b"whole")
            await read_request(reader)
            writer.write(OK)
            await reader.read()

        server = Server(handler)
        async with server as origin:
            pool = ConnectionPool(4)
            answer = await pool.request(origin, "POST", "/", CIMultiDict(), b"{}", QUICK)
            assert answer.whole() is None  # half of it came: nothing is taken
            go_on.set()
            assert await anext(aiter(answer)) == b"half "
            while (rest := answer.whole()) is None:
                await asyncio.sleep(0.01)
            assert rest == b"whole"
            assert answer.whole() == b""  # taken: nothing is left
            with pytest.raises(StopAsyncIteration):
                await anext(aiter(answer))
            answer.release()
            assert sum(len(idle) for idle in pool.idle.values()) == 1  # it ended cleanly
            assert await get(pool, origin) == (200, b"ok")  # on the kept connection
            assert server.connections == 1
            await pool.close()

    run(scenario())


def test_an_answer_cut_short_is_an_error_and_its_connection_is_dropped() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(cut)

    async def scenario() -> None:
        async with Server(handler) as origin:
            pool = ConnectionPool(4)
            answer = await pool.request(origin, "GET", "/", CIMultiDict(), b"", QUICK)
            with pytest.raises(AnswerBrokenError):
                await answer.read()
            answer.release()
            assert pool.in_use == 0
            assert not pool.idle.get(origin)
            await pool.close()

    run(scenario())


def test_an_answer_given_up_half_read_closes_its_connection() -> None:
    answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", OK]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answers.pop(0))
        await reader.read()

    async def scenario() -> None:
        server = Server(handler)
        async with server as origin:
            pool = ConnectionPool(4)
            answer = await pool.request(origin, "GET", "/", CIMultiDict(), b"", QUICK)
            answer.release()
            assert await get(pool, origin) == (200, b"ok")  # on a new connection
            assert server.connections == 2
            await pool.close()

    run(scenario())


def stale_after_first(first: bytes) -> Handler:
    """Answers one request, then closes the connection when the next arrives (an idle
    keep-alive connection the upstream closed as the request crossed)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(first)
        await writer.drain()
        await read_request(reader)

    return handler


def test_an_idempotent_request_on_a_stale_connection_is_sent_again() -> None:
    assert connections_for_two(stale_after_first(OK)) == 2


def test_a_post_on_a_stale_connection_is_not_sent_twice() -> None:
    async def scenario() -> None:
        server = Server(stale_after_first(OK))
        async with server as origin:
            pool = ConnectionPool(4)
            assert await get(pool, origin, "POST") == (200, b"ok")
            with pytest.raises(StaleConnectionError):
                await get(pool, origin, "POST")
            assert server.connections == 1
            await pool.close()

    run(scenario())


def test_head_and_interim_answers() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\n!"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await read_request(reader)
            writer.write(head if request.startswith(b"HEAD") else interim)

    async def scenario() -> None:
        async with Server(handler) as origin:
            pool = ConnectionPool(4)
            assert await get(pool, origin, "HEAD") == (200, b"")
            assert await get(pool, origin, "POST") == (201, b"!")
            assert await get(pool, origin, "POST") == (201, b"!")  # interim: still clean
            await pool.close()

    run(scenario())


def test_refused_and_silent_upstreams() -> None:
    async def silent(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await reader.read()

    async def scenario() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        pool = ConnectionPool(4)
        refused = split_url(f"http://127.0.0.1:{port}")[0]
        with pytest.raises(ConnectError):
            await get(pool, refused)
        async with Server(silent) as origin:
            quiet = Timeouts(connect=2.0, read=0.2)
            with pytest.raises(TimeoutError):
                await pool.request(origin, "GET", "/", CIMultiDict(), b"", quiet)
            assert pool.in_use == 0
        await pool.close()

    run(scenario())


def test_the_total_timeout_cuts_an_answer_that_keeps_trickling() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"1\r\n.\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        async with Server(trickle) as origin:
            pool = ConnectionPool(4)
            timeouts = Timeouts(connect=2.0, read=1.0, total=0.3)
            answer = await pool.request(origin, "GET", "/", CIMultiDict(), b"", timeouts)
            with pytest.raises(TimeoutError):
                await answer.read()  # never silent for the read timeout, yet cut
            answer.release()
            await pool.close()

    run(scenario())


def test_the_read_timeout_counts_each_silence_not_the_whole_answer() -> None:
    """Chunks 0.05 s apart for 0.6 s pass a 0.2 s read timeout (the one timer an answer keeps
    is checked against the wait under way, not the first); then 0.5 s of silence cuts it."""

    async def trickle_then_hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(12):
            writer.write(b"1\r\n.\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
        await reader.read()

    async def scenario() -> None:
        async with Server(trickle_then_hang) as origin:
            pool = ConnectionPool(4)
            timeouts = Timeouts(connect=2.0, read=0.2)
            answer = await pool.request(origin, "GET", "/", CIMultiDict(), b"", timeouts)
            loop = asyncio.get_running_loop()
            seen: list[tuple[float, bytes]] = []

            async def read() -> None:
                async for chunk in answer:
                    seen.append((loop.time(), chunk))

            with pytest.raises(TimeoutError):
                await read()
            assert b"".join(chunk for _, chunk in seen) == b"." * 12
            assert 0.15 < loop.time() - seen[-1][0] < 0.5
            answer.release()
            await pool.close()

    run(scenario())


def test_a_full_pool_is_waited_for_at_most_the_acquire_timeout() -> None:
    async def scenario() -> None:
        async with Server(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nha")) as origin:
            pool = ConnectionPool(1)
            first = await pool.request(origin, "GET", "/", CIMultiDict(), b"", QUICK)
            hurried = Timeouts(connect=2.0, read=2.0, acquire=0.2)
            with pytest.raises(ConnectTimeoutError):
                await pool.request(origin, "GET", "/", CIMultiDict(), b"", hurried)
            first.release()
            assert pool.in_use == 0
            await pool.close()

    run(scenario())


def test_at_most_limit_connections_in_use() -> None:
    async def scenario() -> None:
        answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nha", OK]  # one per connection

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(answers.pop(0))
            await reader.read()

        server = Server(handler)
        async with server as origin:
            pool = ConnectionPool(1)
            first = await pool.request(origin, "GET", "/", CIMultiDict(), b"", QUICK)
            second = asyncio.create_task(get(pool, origin))
            await asyncio.sleep(0.1)
            assert not second.done()  # waiting for the one slot
            assert pool.in_use == 1
            first.release()  # half read: closed, its slot passed on
            assert await second == (200, b"ok")
            assert server.connections == 2
            await pool.close()

    run(scenario())


def test_a_header_smuggling_a_line_break_is_refused() -> None:
    smuggled = CIMultiDict({"X-A": "1\r\nX-B: 2"})
    with pytest.raises(ValueError, match="line break"):
        request_head("GET", "/", "h", smuggled, 0)
    plain = request_head("POST", "/a b?q=1", "h:1", CIMultiDict({"X-A": "1"}), 2)
    assert plain == b"POST /a%20b?q=1 HTTP/1.1\r\nHost: h:1\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n"


def test_a_large_answer_read_late_arrives_whole_and_keeps_its_connection() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB: reading pauses past HIGH_WATER and resumes
    large = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body

    async def scenario() -> None:
        server = Server(answering(large, OK))
        async with server as origin:
            pool = ConnectionPool(4)
            answer = await pool.request(origin, "GET", "/", CIMultiDict(), b"", QUICK)
            await asyncio.sleep(0.2)  # a slow reader: the upstream waits meanwhile
            assert await answer.read() == body
            answer.release()
            assert await get(pool, origin) == (200, b"ok")
            assert server.connections == 1
            await pool.close()

    run(scenario())


def test_answers_read_to_the_end_leave_no_reference_cycles() -> None:
    """Each answer's parser holds the answer's callbacks: unless it is let go at the end,
    every request leaves a cycle for the collector (about 15 objects each)."""
    requests = 100

    async def scenario() -> None:
        async with server as origin:
            pool = ConnectionPool(4)
            for _ in range(requests):
                assert await get(pool, origin) == (200, b"ok")
            await pool.close()

    server = Server(answering(*[OK] * requests))
    garbage = cyclic_garbage(lambda: run(scenario()))
    assert server.connections == 1
    assert garbage["Answer"] == garbage["HttpResponseParser"] == 0, garbage
    assert sum(garbage.values()) < requests, garbage.most_common(8)
