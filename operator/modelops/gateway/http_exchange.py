"""One request and its answer as the gateway's handlers see them (modelops.gateway.http_server
parses and writes them): the small part of aiohttp's web.Request / web.Response /
web.StreamResponse that the gateway used, with the same names, so the handlers read as before.
"""

import asyncio
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Protocol
from urllib.parse import unquote

from multidict import CIMultiDict, istr

from modelops.gateway.http_text import header_bytes

DEFAULT_CONTENT_TYPE = "application/octet-stream"  # RFC 9110 section 8.3, as aiohttp sends
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_REASONS = {s.value: s.phrase for s in HTTPStatus}
# An answer's status line, made once a status (the head of every answer begins with one).
_STATUS_LINES: dict[int, str] = {}
# Looked up by ``istr``, the multidict's own folded key, rather than folding "Date" each time.
_DATE = istr("Date")
_CONTENT_LENGTH = istr("Content-Length")
_CONTENT_TYPE = istr("Content-Type")
_EXPECT = istr("Expect")
_TRANSFER_ENCODING = istr("Transfer-Encoding")


class Connection(Protocol):
    """What a request and its answer need of the connection they travel on."""

    transport: asyncio.Transport | None

    def resume_body(self) -> None: ...

    async def drain(self, timeout: float | None = None) -> None: ...


class _DateHeader:
    """The Date header, formatted once a second rather than once an answer."""

    def __init__(self) -> None:
        self._second = 0
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, formatdate(second, usegmt=True)
        return self._value


_date = _DateHeader()


class Request:
    """A request whose headers arrived; its body arrives while the handler runs."""

    def __init__(  # noqa: PLR0917 - what the parser hands over, once
        self,
        connection: Connection,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        version: str,
        keep_alive: bool,
        remote: str | None,
    ) -> None:
        self.connection = connection
        self.method = method
        # As aiohttp: path_qs is the target as sent (no fragment), path is percent-decoded.
        self.path_qs = target.partition("#")[0]
        raw_path = self.path_qs.partition("?")[0]
        self.path = unquote(raw_path) if "%" in raw_path else raw_path
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self.remote = remote
        length = headers.get(_CONTENT_LENGTH)
        # httptools refused a malformed Content-Length already.
        self.content_length = int(length) if length is not None else None
        self._expect_continue = version == "1.1" and (
            headers.get(_EXPECT, "").lower() == "100-continue"
        )
        self._chunks: list[bytes] = []
        self.buffered = 0  # body bytes received and not yet read by the handler
        self.complete = False  # the whole body arrived
        self.discard = False  # the handler is done: body bytes still arriving are dropped
        self._waiter: asyncio.Future[None] | None = None

    @property
    def transport(self) -> asyncio.Transport | None:
        return self.connection.transport

    # -- fed by the connection ------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        if self.discard:
            return
        self._chunks.append(chunk)
        self.buffered += len(chunk)
        self._wake()

    def finish(self) -> None:
        self.complete = True
        self._wake()

    def lost(self) -> None:
        self._wake()

    def drop_rest(self) -> None:
        """The handler is done with the body: what is held and what still arrives is dropped."""
        self.discard = True
        self._chunks, self.buffered = [], 0

    async def wait(self) -> None:
        """Until more of the body arrives, it ends, or the connection is lost."""
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- read by the handler --------------------------------------------------------------

    async def read_body(self, cap: int) -> bytes | None:
        """The whole body, or None once it passes ``cap`` bytes (the rest is never held)."""
        if self._expect_continue and not self.complete and self.transport is not None:
            self._expect_continue = False
            self.transport.write(CONTINUE)
        parts: list[bytes] = []
        size = 0
        while True:
            if self._chunks:
                chunks, self._chunks, self.buffered = self._chunks, [], 0
                self.connection.resume_body()
                for chunk in chunks:
                    size += len(chunk)
                    if size > cap:
                        return None
                    parts.append(chunk)
            if self.complete:
                return parts[0] if len(parts) == 1 else b"".join(parts)
            transport = self.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("the client closed the connection mid-body")
            await self.wait()


def _status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
        if 100 <= status <= 999:
            _STATUS_LINES[status] = line
    return line


def _head(request: Request, status: int, headers: CIMultiDict[str], keep_alive: bool) -> str:
    parts = [_status_line(status)]
    for name, value in headers.items():
        parts.append(f"{name}: {value}\r\n")  # compiled: one string built, no tuple
    if _DATE not in headers:
        parts.append(f"Date: {_date.now()}\r\n")
    if not keep_alive:
        parts.append("Connection: close\r\n")
    elif request.version == "1.0":
        parts.append("Connection: keep-alive\r\n")
    parts.append("\r\n")
    return "".join(parts)


def _bodiless(request: Request, status: int) -> bool:
    """An answer that never has a body (RFC 9110 section 6.4.1): its length is known."""
    return request.method == "HEAD" or status < 200 or status in {204, 304}


class _Answer:
    def __init__(self, status: int, headers: Mapping[str, str] | None) -> None:
        self.status = status
        # Headers built for this answer are taken as they are, not copied.
        self.headers = headers if isinstance(headers, CIMultiDict) else CIMultiDict(headers or ())
        self.closing = False
        # Run by the server once the answer has been handed to the connection, or could not
        # be: work the client need not wait for (counting it, charging its tokens).
        self.after: Callable[[], None] | None = None

    def force_close(self) -> None:
        """Close the connection after this answer (never kept alive)."""
        self.closing = True


class Response(_Answer):
    """An answer whose body is known whole before it is sent."""

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(status, headers)
        self.body = body
        if content_type is not None:
            self.headers[_CONTENT_TYPE] = content_type
        elif body and _CONTENT_TYPE not in self.headers:
            self.headers[_CONTENT_TYPE] = DEFAULT_CONTENT_TYPE

    def encode(self, request: Request, keep_alive: bool) -> bytes:
        bodiless = _bodiless(request, self.status)
        if request.method == "HEAD" or not bodiless:
            self.headers[_CONTENT_LENGTH] = str(len(self.body))
        head = header_bytes(_head(request, self.status, self.headers, keep_alive))
        return head if bodiless else head + self.body


class StreamResponse(_Answer):
    """An answer sent as it is made: chunked on HTTP/1.1, closed at its end on HTTP/1.0."""

    def __init__(self, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, headers)
        self.prepared = False
        self.finished = False
        self.connection: Connection | None = None
        self._chunked = True
        self._bodiless = False

    async def prepare(self, request: Request) -> None:
        self.prepared = True
        self.connection = request.connection  # the answer goes where the request came from
        self._bodiless = _bodiless(request, self.status)
        self._chunked = request.version != "1.0" and not self._bodiless
        if self._chunked:
            self.headers.setdefault(_CONTENT_TYPE, DEFAULT_CONTENT_TYPE)
            self.headers[_TRANSFER_ENCODING] = "chunked"
        elif not self._bodiless:
            self.closing = True  # the end of the body is the end of the connection
        keep_alive = request.keep_alive and not self.closing
        await self._send(header_bytes(_head(request, self.status, self.headers, keep_alive)))

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        """Send a piece of the body; ``timeout``: seconds the client may take to make room
        for it (TimeoutError), counted only while the connection's writes are paused."""
        if not data or self._bodiless:
            return
        if self._chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        await self._send(data, timeout)

    def write_now(self, data: bytes) -> bool:
        """Send a piece of the body only if it goes without waiting: everything sent before
        was taken by the client's socket and this piece alone cannot fill the connection's
        buffer (so it never pauses writing, the case ``write`` waits in). False: nothing was
        sent. No timer, no await: what a streamed chunk costs most of the time."""
        connection = self.connection
        transport = connection.transport if connection is not None else None
        if transport is None or transport.is_closing() or transport.get_write_buffer_size():
            return False
        if self._bodiless or not data:
            return True  # as ``write``: nothing to send
        if self._chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        if len(data) > transport.get_write_buffer_limits()[1]:
            return False
        transport.write(data)
        return True

    async def write_eof(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self._chunked:
            await self._send(b"0\r\n\r\n")

    async def _send(self, data: bytes, timeout: float | None = None) -> None:
        connection = self.connection
        transport = connection.transport if connection is not None else None
        if connection is None or transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(data)
        await connection.drain(timeout)
