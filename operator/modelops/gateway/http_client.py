"""The gateway's HTTP/1.1 client to its upstreams: a keep-alive connection pool on asyncio
Protocols, answers parsed by httptools (modelops.gateway.http_answer).

Why not aiohttp's client: it was a quarter of the gateway's CPU per proxied request (issue 19's
profile); the gateway needs only its plain core: one request per connection at a time, bytes
passed through undecoded, no cookies, redirects or proxies.

What it keeps of aiohttp's behaviour: at most ``limit`` connections in use at once (the others
wait for one, in order); idle connections reused last-in first-out and dropped after
``KEEPALIVE`` seconds; a connection goes back to the pool only after a complete answer; an
idempotent request whose reused connection turns out closed before any byte of the answer is
sent once more on a new connection. Timeouts are those of ``Timeouts``.
"""

import asyncio
import contextlib
import functools
import re
import ssl
from collections import deque
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from multidict import CIMultiDict
from mypy_extensions import mypyc_attr
from yarl import URL

from modelops.gateway.http_answer import (
    Answer,
    AnswerBrokenError,
    HttpClientError,
    StaleConnectionError,
    expire,
)
from modelops.gateway.http_text import header_bytes
from modelops.gateway.kept_loop import KeptLoop

__all__ = [
    "Answer",
    "AnswerBrokenError",
    "ConnectError",
    "ConnectTimeoutError",
    "ConnectionPool",
    "HttpClientError",
    "Origin",
    "Timeouts",
    "split_url",
]

KEEPALIVE = 15.0  # seconds an idle connection is kept (aiohttp's default)
# Sent again on a fresh connection when a reused one was found closed (RFC 9112 section 9.3.1).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# A request target sent as it is; any other is quoted as aiohttp's URL handling did.
PLAIN_TARGET = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*")


class ConnectError(HttpClientError):
    """No connection (refused, unreachable, TLS failed): the request was never sent."""


# An ordinary class under mypyc (which compiles this module for the image): its native classes
# cannot extend TimeoutError.
@mypyc_attr(native_class=False)
class ConnectTimeoutError(TimeoutError):
    """No connection, or no free slot for one, within the connect timeouts: never sent."""


@dataclass(frozen=True)
class Timeouts:
    connect: float | None = None  # the TCP (and TLS) handshake
    read: float | None = None  # silence: until the answer's headers, and between its chunks
    total: float | None = None  # the whole exchange, the answer's body included
    acquire: float | None = None  # waiting for a free connection slot plus the handshake


@dataclass(frozen=True)
class Origin:
    host: str
    port: int
    host_header: str
    tls: bool


@functools.lru_cache(maxsize=256)
def split_url(url: str) -> tuple[Origin, str]:
    """``http(s)://host:port/prefix`` as where to connect and the path requests go under."""
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if tls else 80)
    host_header = parts.netloc.rpartition("@")[2]
    return Origin(parts.hostname, port, host_header, tls), parts.path.rstrip("/")


def _target(path_qs: str) -> str:
    if PLAIN_TARGET.fullmatch(path_qs):
        return path_qs
    return URL(path_qs).raw_path_qs  # spaces, non-ASCII: percent-encoded as aiohttp did


def request_head(
    method: str, target: str, host: str, headers: CIMultiDict[str], size: int
) -> bytes:
    parts = [method, " ", _target(target), " HTTP/1.1\r\nHost: ", host, "\r\n"]
    for name, value in headers.items():
        parts += (name, ": ", value, "\r\n")
    lines = 3 + len(headers)  # the request line, Host, the headers, the empty line
    if size or method not in BODILESS_METHODS:
        parts += ("Content-Length: ", str(size), "\r\n")
        lines += 1
    parts.append("\r\n")
    head = "".join(parts)
    # One CR LF per line and no other: a header smuggling a line break is refused.
    if head.count("\n") != lines or head.count("\r") != lines:
        raise ValueError("a request header holds a line break")
    return header_bytes(head)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _earliest(first: float | None, second: float | None) -> float | None:
    if first is None:
        return second
    return first if second is None or first <= second else second


class _Connection(asyncio.Protocol):
    transport: asyncio.Transport

    def __init__(
        self, pool: "ConnectionPool", origin: Origin, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.pool = pool
        self.origin = origin
        # Kept: asking asyncio for the running loop costs a getpid system call on Python 3.11.
        self._loop = loop
        self.answer: Answer | None = None
        self.busy = False  # holds one of the pool's slots
        self.lost = False
        self.idle_since = 0.0
        # The alarm (``Link.alarm``): one timer for the answers the connection carries, set
        # again only when it must ring earlier, or has rung.
        self._alarm: asyncio.TimerHandle | None = None
        self._alarm_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.pool.connections.add(self)

    def data_received(self, data: bytes) -> None:
        answer = self.answer
        if answer is None:
            self.transport.close()  # bytes nobody asked for: the connection is not clean
            return
        answer.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.pool.connections.discard(self)
        if self._alarm is not None:
            self._alarm.cancel()  # nothing left to time: let the connection go now
            self._alarm = None
        if self.answer is not None:
            self.answer.lost()

    def alarm(self, at: float) -> None:
        if self._alarm is not None:
            if self._alarm_at <= at:
                return  # it rings first; the answer asks again then
            self._alarm.cancel()
        self._alarm_at = at
        self._alarm = self._loop.call_at(at, self._alarm_rang)

    def _alarm_rang(self) -> None:
        self._alarm = None
        if self.answer is not None:
            self.answer.alarm_rang()

    def usable(self, now: float) -> bool:
        return (
            not self.lost and not self.transport.is_closing() and now - self.idle_since < KEEPALIVE
        )

    def finish(self, keep: bool) -> None:
        if not self.busy:
            return
        self.busy = False
        self.answer = None
        if keep and not self.lost:
            self.idle_since = self._loop.time()
            self.pool.idle.setdefault(self.origin, []).append(self)
        else:
            self.transport.close()
        self.pool.free_slot()


class ConnectionPool:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self.idle: dict[Origin, list[_Connection]] = {}
        self.connections: set[_Connection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop = KeptLoop()  # a pool serves one loop

    async def request(  # noqa: PLR0917 - one request, as the chain holds it
        self,
        origin: Origin,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: bytes,
        timeouts: Timeouts,
    ) -> Answer:
        """The answer once its status line and headers arrived; ``release`` it when done."""
        loop = self._loop.get()
        deadline = None if timeouts.total is None else loop.time() + timeouts.total
        data = request_head(method, target, origin.host_header, headers, len(body)) + body
        retry = method in IDEMPOTENT_METHODS
        while True:
            connection, reused = await self._acquire(loop, origin, timeouts, deadline)
            answer = Answer(connection, loop, method == "HEAD", reused, timeouts.read, deadline)
            connection.answer = answer
            connection.transport.write(data)
            try:
                await answer.wait_head()
            except StaleConnectionError:
                answer.release()
                if not retry:
                    raise
                retry = False
                continue
            except BaseException:
                answer.release()
                raise
            return answer

    def free_slot(self) -> None:
        """A connection was handed back: the slot passes to the longest waiting request."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_use -= 1

    async def close(self) -> None:
        for connection in list(self.connections):
            connection.transport.close()
        self.idle.clear()
        await asyncio.sleep(0)  # let the transports call connection_lost

    async def _acquire(
        self,
        loop: asyncio.AbstractEventLoop,
        origin: Origin,
        timeouts: Timeouts,
        deadline: float | None,
    ) -> tuple[_Connection, bool]:
        """A connection to ``origin`` holding a slot: an idle one (True), else a new one."""
        start_by = None if timeouts.acquire is None else loop.time() + timeouts.acquire
        if self.in_use >= self.limit:
            await self._wait_slot(loop, start_by, deadline)
        else:
            self.in_use += 1
        try:
            idle = self.idle.get(origin)
            now = loop.time()
            while idle:
                connection = idle.pop()
                if connection.usable(now):
                    connection.busy = True
                    return connection, True
                connection.transport.close()
            connection = await self._connect(loop, origin, timeouts, start_by, deadline)
        except BaseException:
            self.free_slot()
            raise
        connection.busy = True
        return connection, False

    async def _wait_slot(
        self, loop: asyncio.AbstractEventLoop, start_by: float | None, deadline: float | None
    ) -> None:
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        at = _earliest(start_by, deadline)
        handle = None
        if at is not None:
            error = TimeoutError() if at == deadline else ConnectTimeoutError()
            handle = loop.call_at(at, expire, waiter, error)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.free_slot()  # handed a slot just as the wait was given up: pass it on
            else:
                with contextlib.suppress(ValueError):  # free_slot may have dropped it already
                    self._waiters.remove(waiter)
            raise
        finally:
            if handle is not None:
                handle.cancel()

    async def _connect(
        self,
        loop: asyncio.AbstractEventLoop,
        origin: Origin,
        timeouts: Timeouts,
        start_by: float | None,
        deadline: float | None,
    ) -> _Connection:
        handshake_by = None if timeouts.connect is None else loop.time() + timeouts.connect
        connect_by = _earliest(handshake_by, start_by)
        at = _earliest(connect_by, deadline)
        tls = _tls_context() if origin.tls else None
        try:
            async with asyncio.timeout_at(at):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, origin, loop), origin.host, origin.port, ssl=tls
                )
        except TimeoutError as err:
            if at is not None and at == connect_by:
                raise ConnectTimeoutError(f"connecting to {origin.host_header} timed out") from err
            raise
        except OSError as err:
            raise ConnectError(f"cannot connect to {origin.host_header}: {err}") from err
        return connection
