"""One upstream answer as it is read off its connection: status, headers, then body chunks.

httptools (llhttp, the parser uvicorn uses) parses the bytes in C and calls back here; the
chunks wait in a queue for the reader (the relay to the client), so a streamed answer is passed
on as it arrives. While more than ``HIGH_WATER`` bytes wait unread (a client reading slowly),
the socket is no longer read: a stream holds a bounded amount of memory.

The connection goes back to the pool (``Link.finish``) as soon as the parser saw the answer
end cleanly and the upstream keeps the connection alive; an answer that broke off, timed out
or was given up half read closes its connection, so a connection with stray bytes on it is
never reused.
"""

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

import httptools
from multidict import CIMultiDict, istr

from modelops.gateway.http_text import header_text

# Unread bytes of one answer past which its socket is no longer read, until the reader caught up.
HIGH_WATER = 64 * 1024
# Answers without a body whatever their headers say (RFC 9110 sections 15.3.5 and 15.4.5).
BODILESS_STATUSES = frozenset({204, 304})
DEFAULT_CONTENT_TYPE = "application/octet-stream"  # RFC 9110 section 8.3, as aiohttp says
# Names looked up in every answer's headers, as the multidict's own folded keys (``istr``):
# a plain ``str`` is folded again at each look-up.
_CONTENT_LENGTH = istr("Content-Length")
_CONTENT_TYPE = istr("Content-Type")
_TRANSFER_ENCODING = istr("Transfer-Encoding")


class HttpClientError(Exception):
    """The upstream gave no usable answer, or one that broke off (aiohttp.ClientError's role)."""


class AnswerBrokenError(HttpClientError):
    """The connection closed, or carried what is not HTTP, before the answer ended."""


class StaleConnectionError(AnswerBrokenError):
    """A reused keep-alive connection closed before a byte of the answer came: the upstream
    closed it while idle, so the request may be sent again on a new connection."""


class Link(Protocol):
    """What an answer needs of its connection."""

    transport: asyncio.Transport

    def finish(self, keep: bool) -> None:
        """The answer is over: keep the connection for the next request, or close it."""

    def alarm(self, at: float) -> None:
        """Call the answer in hand's ``alarm_rang`` at ``at`` or earlier (the
        connection's one timer, so that answer after answer on a kept connection sets
        none: a timer per answer was about 2% of a request's instructions, issue 19)."""


def expire(waiter: "asyncio.Future[None]", error: BaseException) -> None:
    """A timer's end: the wait fails with ``error``, unless it is over already."""
    if not waiter.done():
        waiter.set_exception(error)


def _media_type(content_type: str | None) -> str:
    if content_type is None:
        return DEFAULT_CONTENT_TYPE
    return content_type.partition(";")[0].strip().lower()


def _chunked(headers: CIMultiDict[str]) -> bool:
    coding = headers.get(_TRANSFER_ENCODING)
    return coding is not None and coding.rstrip().lower().endswith("chunked")


class Answer:
    """An answer whose status line and headers arrived; iterate it for the body's chunks, and
    ``release`` it once done (also when not read to the end)."""

    def __init__(  # noqa: PLR0917 - one answer's whole context, passed by the pool once
        self,
        link: Link,
        loop: asyncio.AbstractEventLoop,
        head_only: bool,
        reused: bool,
        read_timeout: float | None,
        deadline: float | None,
    ) -> None:
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.content_type = DEFAULT_CONTENT_TYPE
        self._link = link
        self._loop = loop
        self._head_only = head_only  # HEAD: headers announce a body that never comes
        self._reused = reused
        self._read_timeout = read_timeout
        self._deadline = deadline
        # Let go once the answer ended (``_end``): the parser holds this answer's bound
        # callbacks and this answer holds it, a cycle that only the garbage collector would
        # otherwise free, one per request (and the collections it brings are pauses).
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self._raw: list[tuple[str, str]] = []
        self._chunks: deque[bytes] = deque()
        # While set, a body chunk with none queued before it is offered here first, as it is
        # parsed (modelops.gateway.relay: written on to the client at once); True: taken.
        self.sink: Callable[[bytes], bool] | None = None
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        # The connection's timer serves every wait of this answer (``Link.alarm``), checked
        # when it rings rather than set and cancelled on each wait (two timer operations
        # per streamed chunk, issue 19).
        self._waiting_since = 0.0
        self._head = False  # the final status line and headers are in
        self._interim = False  # reading a 1xx answer: the final one follows it
        self._until_close = False  # no length, not chunked: the body ends with the connection
        self._complete = False  # the body arrived in full
        self._keep = False
        self._ended = False  # the connection was handed back (kept or closed)
        self._received = False
        self._error: BaseException | None = None

    # -- fed by the connection --------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            return  # the answer ended and its connection was handed back
        self._received = True
        try:
            parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as err:
            self._fail(AnswerBrokenError(f"the upstream's answer is not valid HTTP: {err}"))
            return
        if self._complete and not self._ended:
            self._end(self._keep)

    def lost(self) -> None:
        """The connection closed: the end of an answer delimited by it, else a broken one."""
        if self._complete:
            return
        if self._head and self._until_close:
            self._complete = True
            self._end(keep=False)
            self._wake()
        elif self._reused and not self._received:
            self._fail(StaleConnectionError("a kept-alive upstream connection had closed"))
        else:
            self._fail(AnswerBrokenError("the upstream closed the connection mid-answer"))

    # -- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            self._keep = False  # bytes after the answer: the connection is not clean

    # Past the end of the answer (``_complete``), what the parser still finds is stray bytes:
    # it changes nothing of the answer, and the connection is closed (``_keep``).

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._complete:
            return
        self._raw.append((header_text(name), header_text(value)))  # as aiohttp decodes them

    def on_headers_complete(self) -> None:
        if self._complete:
            return
        parser = self._parser
        if parser is None:
            return  # the answer ended (callbacks run inside ``feed``, so only in theory)
        status = parser.get_status_code()
        if status < 200:
            self._interim = True  # 100 Continue, 103 Early Hints: not passed on
            self._raw.clear()
            return
        headers = CIMultiDict(self._raw)
        self.status, self.headers = status, headers
        self.content_type = _media_type(headers.get(_CONTENT_TYPE))
        self._until_close = (
            _CONTENT_LENGTH not in headers
            and not _chunked(headers)
            and status not in BODILESS_STATUSES
        )
        self._head = True
        if self._head_only:
            # llhttp cannot be told that this answer has no body: end it here, and close
            # the connection rather than parse the next answer with a confused parser.
            self._complete, self._keep = True, False
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._complete:
            return
        sink = self.sink
        if sink is not None and not self._chunks and sink(body):
            self._waiting_since = self._loop.time()  # bytes came: the silence starts again
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and not self._ended:
            self._paused = True
            self._link.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._complete:
            return
        if self._interim:
            self._interim = False
            return
        parser = self._parser
        if parser is None:
            return  # the answer ended (callbacks run inside ``feed``, so only in theory)
        self._complete = True
        self._keep = parser.should_keep_alive()
        self._wake()

    # -- read by the relay ------------------------------------------------------------------

    async def wait_head(self) -> None:
        while not self._head:
            if self._error is not None:
                raise self._error
            await self._wait()

    def __aiter__(self) -> "Answer":
        return self

    async def __anext__(self) -> bytes:
        """All that arrived since the last call, waiting for more when nothing did."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._complete:
                raise StopAsyncIteration
            await self._wait()
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            if not self._ended:
                self._link.transport.resume_reading()
        return data

    def whole(self) -> bytes | None:
        """The whole body, taken, when all of it has arrived (a small answer, usually in the
        packet that brought its head); else None, and nothing is taken."""
        if not self._complete or self._error is not None:
            return None
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        return data

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self])

    def release(self) -> None:
        """Done with the answer: a connection with an answer still coming is closed."""
        if not self._ended:
            self._end(keep=False)

    # -- internals --------------------------------------------------------------------------

    def _end(self, keep: bool) -> None:
        # Never called from inside the parser's callbacks (``feed`` ends the answer after
        # ``feed_data`` returned; the others are the reader's calls), so it can go now.
        self._parser = None
        self._ended = True
        if self._paused:
            self._paused = False
            if keep:
                self._link.transport.resume_reading()
        self._link.finish(keep and self._complete)

    def _fail(self, error: BaseException) -> None:
        self._error = error
        if not self._ended:
            self._end(keep=False)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        """Until the parser has more, the upstream stayed silent for the read timeout
        (TimeoutError), or the whole exchange ran out of time."""
        loop = self._loop
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        self._waiting_since = loop.time()
        at = self._times_out_at()
        if at is not None:
            self._link.alarm(at)
        try:
            await waiter
        finally:
            self._waiter = None

    def _times_out_at(self) -> float | None:
        """When the wait under way times out: silent too long, or past the deadline."""
        at = self._deadline
        if self._read_timeout is not None:
            silent = self._waiting_since + self._read_timeout
            at = silent if at is None else min(at, silent)
        return at

    def alarm_rang(self) -> None:
        """The connection's timer: fail the wait under way if it ran out of time, else ask
        again for when it will."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # no wait under way: the next one asks for the alarm again
        at = self._times_out_at()
        if at is None:
            return
        if self._loop.time() >= at:
            waiter.set_exception(TimeoutError("the upstream went silent"))
        else:
            self._link.alarm(at)
