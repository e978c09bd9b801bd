"""The gateway's HTTP/1.1 server: asyncio Protocols, requests parsed by httptools.

Why not aiohttp's server: after the client (modelops.gateway.http_client) it was the largest
cost of a proxied request, 35-40 % of the gateway's CPU (issue 19's profile), for machinery
the gateway never uses (routing tables, middlewares, signals, a payload stream per request).
httptools is the C parser (llhttp, as in Node.js) the client already uses.

What it keeps of aiohttp's behaviour: requests on a connection answered one at a time in
order (keep-alive, pipelining), HTTP/1.0 and ``Connection: close``; a connection that has not
sent complete request headers within ``idle_timeout`` of opening or of its previous answer is
closed (slow-header clients); a body the handler did not read is read and dropped for up to
``LINGER`` seconds so the connection can be kept; a handler's exception costs a 500; handlers
are not cancelled when the client goes away (their writes fail with ConnectionResetError); on
shutdown it stops accepting, closes idle connections and gives requests in flight up to a
timeout before they are cancelled.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httptools
from multidict import CIMultiDict

from modelops.gateway.http_exchange import Request, Response, StreamResponse
from modelops.gateway.http_text import header_text

Handler = Callable[[Request], Awaitable[Response | StreamResponse]]

LINGER = 10.0  # seconds an unread body is read and dropped after the answer (aiohttp's)
BODY_HIGH_WATER = 256 * 1024  # unread body bytes that stop reading from the socket
MAX_PIPELINED = 32  # requests waiting behind the one being answered before reading stops

log = logging.getLogger("modelops.gateway.http")

_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 11\r\nConnection: close\r\n\r\nBad Request"
)


def _after(response: Response | StreamResponse) -> None:
    """The answer's ``after`` work, once. It runs in the step that wrote the answer, before
    this connection reads its next request: whatever a client does once it has its answer
    finds the work done. A failure there cannot change the answer any more: logged."""
    after = response.after
    if after is None:
        return
    response.after = None
    try:
        after()
    except Exception:
        log.exception("error after an answer was sent")


class _Connection(asyncio.Protocol):
    def __init__(self, server: "HttpServer", loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        # The server's loop, kept: asking asyncio for it costs a getpid system call on
        # Python 3.11 (its check for a fork), and the connection needed it a few times a request.
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        # Let go when the connection is lost: it holds this protocol's bound callbacks, a
        # cycle only the garbage collector would otherwise free, one per connection.
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._remote: str | None = None
        self._url: list[bytes] = []
        self._headers: list[tuple[str, str]] = []
        self._parsing: Request | None = None  # the request whose body is arriving
        self._queue: deque[Request] = deque()
        # One task serves the connection's requests for as long as it lives: between them it
        # waits on ``_next`` (set while it waits). A task per request cost about 3% of one
        # (its creation, and asyncio's registry of tasks, a WeakSet written in Python).
        self._task: asyncio.Task[None] | None = None
        self._next: asyncio.Future[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        # When the connection began to wait for a request's headers; None while it has one.
        self._waiting_since: float | None = None
        self._paused = False
        self._drained: asyncio.Future[None] | None = None  # set while writing is paused
        self._upgraded = False

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # a TCP server's
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self._remote = peer[0] if isinstance(peer, tuple) else None
        self._server.connections.add(self)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            return  # lost: asyncio sends no more bytes, but say what happens if it did
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrade or CONNECT: answered as a plain request, then the connection closes.
            self._upgraded = True
        except httptools.HttpParserError:
            if not self.busy and self.transport is not None:
                self.transport.write(_BAD_REQUEST)
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._parser = None
        self._server.connections.discard(self)
        self.transport = None
        self._cancel_idle()
        # Woken, not failed: a future failed that nobody awaits is logged as an error.
        self.resume_writing()
        self._wake_task()  # it sees the transport gone and ends
        for request in (self._parsing, *self._queue):
            if request is not None:
                request.lost()

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._drained is not None:
            if not self._drained.done():
                self._drained.set_result(None)
            self._drained = None

    # -- httptools callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url.clear()
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((header_text(name), header_text(value)))  # as aiohttp decodes them

    def on_headers_complete(self) -> None:
        self._waiting_since = None
        parser = self._parser
        if parser is None:
            return  # lost (callbacks run inside ``data_received``, so only in theory)
        request = Request(
            self,
            parser.get_method().decode("ascii"),
            header_text(b"".join(self._url)),
            CIMultiDict(self._headers),
            parser.get_http_version(),
            parser.should_keep_alive(),
            self._remote,
        )
        self._parsing = request
        self._queue.append(request)
        if self._task is None:
            self._task = self._loop.create_task(self._serve_queue())
        elif self._next is not None:
            self._wake_task()
        elif len(self._queue) > MAX_PIPELINED:
            self._pause()

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing.feed(body)
            if self._parsing.buffered > BODY_HIGH_WATER:
                self._pause()

    def on_message_complete(self) -> None:
        if self._parsing is not None:
            self._parsing.finish()
            self._parsing = None

    # -- what requests and answers ask of the connection ----------------------------------

    def resume_body(self) -> None:
        if self._paused and len(self._queue) <= MAX_PIPELINED and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    async def drain(self, timeout: float | None = None) -> None:
        """Until the client made room for more (TimeoutError after ``timeout`` seconds).
        The timer is set only when writing is paused: most writes never wait, and a timer
        on each of them was the largest single cost of a streamed chunk (issue 19)."""
        if self._drained is not None:
            async with asyncio.timeout(timeout):
                await self._drained
        if self.transport is None:
            raise ConnectionResetError("the client went away")

    @property
    def busy(self) -> bool:
        """A request is in hand (its task is not waiting for the next one)."""
        return self._task is not None and self._next is None

    def _wake_task(self) -> None:
        waiter = self._next
        if waiter is not None:
            self._next = None
            if not waiter.done():
                waiter.set_result(None)

    # -- serving --------------------------------------------------------------------------

    async def _serve_queue(self) -> None:
        loop = self._loop
        try:
            while self.transport is not None:
                if not self._queue:
                    if self._server.closing:
                        self._close()
                        return
                    self._arm_idle()
                    self._next = waiter = loop.create_future()
                    await waiter  # woken by the next request, or by the connection's end
                    continue
                request = self._queue[0]
                response = await self._server.answer(request)
                try:
                    keep = await self._send(request, response)
                finally:
                    _after(response)
                if keep and not request.complete:
                    keep = await self._linger(request)
                self._queue.popleft()
                self.resume_body()
                if not keep:
                    self._close()
                    return
        except ConnectionError:
            self._close()  # the client went away while its answer was written
        finally:
            self._task = None
            self._next = None

    async def _send(self, request: Request, response: Response | StreamResponse) -> bool:
        """Write the answer (or end a streamed one); True when the connection may serve
        the next request, once the rest of its body is read."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        keep = (
            request.keep_alive
            and not response.closing
            and not self._server.closing
            and not self._upgraded
        )
        if isinstance(response, Response):
            transport.write(response.encode(request, keep))
        elif not response.prepared:
            await response.prepare(request)
            await response.write_eof()
        elif not response.finished:
            # Cut (the client too slow, the upstream broken): no end of body, no reuse.
            return False
        return keep and not response.closing

    async def _linger(self, request: Request) -> bool:
        """Read and drop the rest of a body the handler did not read; False when it does
        not arrive within LINGER seconds."""
        request.drop_rest()
        self.resume_body()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER):
                while not request.complete and self.transport is not None:
                    await request.wait()
        return request.complete

    def _pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _arm_idle(self) -> None:
        """Start the wait for the next request's headers. One timer serves many requests:
        it is checked when it fires rather than replaced on every request (a timer per
        request was 2 % of the CPU of one)."""
        loop = self._loop
        self._waiting_since = loop.time()
        if self._idle is None:
            self._idle = loop.call_later(self._server.idle_timeout, self._idle_expired)

    def _cancel_idle(self) -> None:
        self._waiting_since = None
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_expired(self) -> None:
        self._idle = None
        if self._waiting_since is None:
            return  # a request is in hand; the wait starts again after its answer
        loop = self._loop
        left = self._waiting_since + self._server.idle_timeout - loop.time()
        if left > 0:
            self._idle = loop.call_later(left, self._idle_expired)
        elif not self.busy:
            self._close()

    def _close(self) -> None:
        self._cancel_idle()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.transport is not None:
            self.transport.abort()

    def close_if_idle(self) -> None:
        if not self.busy:
            self._close()


class HttpServer:
    """Serves ``handler`` on a listening socket until ``shutdown``."""

    def __init__(self, handler: Handler, idle_timeout: float) -> None:
        self._handler = handler
        self.idle_timeout = idle_timeout
        self.connections: set[_Connection] = set()
        self.closing = False
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, backlog: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self, loop), host, port, backlog=backlog, reuse_address=True
        )

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server was not started")
        # Read untyped: uvloop's server lists its sockets where asyncio's (and the stubs, which
        # the compiled code checks) have a tuple.
        server: Any = self._server
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def answer(self, request: Request) -> Response | StreamResponse:
        try:
            return await self._handler(request)
        except Exception:
            log.exception("error handling request")
            response = Response(500, b"500 Internal Server Error", content_type="text/plain")
            response.force_close()
            return response

    async def shutdown(self, timeout: float) -> None:
        """Stop accepting, close idle connections, give the others ``timeout`` seconds to
        finish the request in hand, then cut them."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close_if_idle()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(c.busy for c in self.connections) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.abort()
        if self._server is not None:
            await self._server.wait_closed()
