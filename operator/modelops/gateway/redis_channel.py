"""One Redis connection whose replies hiredis reads as they arrive, matched to commands in order.

redis-py connects (address or Sentinel, AUTH, TLS, its handshake); then this protocol takes
over the connection's transport. Per command that leaves out what redis-py's stream path does
around a write and a read (a stream reader's waiter, buffer copies, a readiness probe with a
zero timeout before each command, several coroutine frames): for the gateway's one command per
batch that was about 80k instructions a batch in ``bench/gateway_instructions.py``.

Redis answers the commands of a connection in the order sent, so a reply goes to the oldest
command still waiting. Whoever sent it hears of it there and then, inside ``data_received``
(``Asker``): the batcher's answer is decoded and its requests woken in the loop iteration the
reply arrived in, with no future or task in between. Anything that could make a later reply
look like an earlier one's (a command abandoned midway, an unreadable or unasked-for reply)
closes the connection instead.
"""

import asyncio
from collections import deque
from typing import Any, Protocol

import hiredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Failure = RedisConnectionError | RedisTimeoutError


class Asker(Protocol):
    """Who sent a command, told once: its reply, or why none will come."""

    def answered(self, reply: Any) -> None:
        """The reply; an error reply is a ``ResponseError`` here, not raised: the asker
        decides what it means. Must not raise: it runs inside ``data_received``."""

    def failed(self, failure: Failure) -> None:
        """No reply will come: the connection failed or the command ran past its deadline."""


class _FutureAsker:
    """The asker behind ``call``: a future with the reply."""

    def __init__(self, future: "asyncio.Future[Any]") -> None:
        self.future = future

    def answered(self, reply: Any) -> None:
        if not self.future.done():  # a command given up on was answered: closed by its caller
            self.future.set_result(reply)

    def failed(self, failure: Failure) -> None:
        if not self.future.done():
            self.future.set_exception(failure)


class ReplyChannel(asyncio.Protocol):
    """Commands out in order; each reply goes to the oldest waiting command's asker."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._waiting: deque[Asker] = deque()
        # Each waiting command's deadline (loop time) and timeout, in the same order. One
        # timer watches the oldest (``_watch``): a timer per command, made and cancelled,
        # cost about 2,500 instructions a batch, and ``asyncio.timeout`` around each
        # (Python, a context manager and its coroutines) about 20k.
        self._deadlines: deque[tuple[float, float]] = deque()
        self._watch_timer: asyncio.TimerHandle | None = None
        # Set once, when the connection can no longer be trusted: the next batch reconnects.
        self.failure: Failure | None = None

    @classmethod
    def take_over(cls, connection: AbstractConnection) -> "ReplyChannel":
        """The connected redis-py ``connection``'s transport, read by a new channel from now
        on. The connection keeps owning it: ``connection.disconnect(nowait=True)`` closes it
        (without ``nowait`` it would wait for its stream protocol, which hears nothing now)."""
        writer = connection._writer  # redis-py keeps the transport only here (private)
        if writer is None:
            raise RedisConnectionError("connection to Redis is not open")
        transport = writer.transport  # uvloop's transports are not asyncio's classes
        channel = cls(transport)
        transport.set_protocol(channel)
        return channel

    def send(self, packed: bytes, timeout: float, asker: Asker) -> None:
        """Send one packed command; ``asker`` hears its reply. Unanswered after ``timeout``
        seconds (a Redis that neither fails nor answers), it fails with a TimeoutError and
        the connection is closed: a late reply must not be read as a later command's."""
        if self.failure is not None:
            raise RedisConnectionError(str(self.failure))
        deadline = self._loop.time() + timeout
        self._waiting.append(asker)
        self._deadlines.append((deadline, timeout))
        if self._watch_timer is None:
            self._watch_timer = self._loop.call_at(deadline, self._watch)
        self._transport.write(packed)

    def call(self, packed: bytes, timeout: float) -> "asyncio.Future[Any]":
        """``send`` for a caller that awaits the reply."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self.send(packed, timeout, _FutureAsker(future))
        return future

    def close(self, why: str) -> None:
        """Close the connection now; every command still waiting fails."""
        self._fail(RedisConnectionError(why))
        self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            reply = self._reader.gets()
            while reply is not False:
                if not self._waiting:
                    self.close("Redis sent a reply no command asked for")
                    return
                asker = self._waiting.popleft()
                self._deadlines.popleft()
                asker.answered(reply)
                if self.failure is not None:  # the asker closed the connection (READONLY)
                    return
                reply = self._reader.gets()
        except hiredis.ProtocolError as err:
            self.close(f"unreadable reply from Redis: {err}")

    def eof_received(self) -> bool:
        self._fail(RedisConnectionError("Redis closed the connection"))
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        why = f"connection to Redis lost: {exc}" if exc else "connection to Redis closed"
        self._fail(RedisConnectionError(why))

    def _watch(self) -> None:
        """The oldest waiting command's deadline: passed, the connection fails; not yet (the
        command the timer was set for has been answered), watched again at its time. An
        idle channel's timer fires once more and stops."""
        self._watch_timer = None
        if not self._deadlines:
            return
        deadline, timeout = self._deadlines[0]
        # Within a millisecond counts as passed: a timer may fire that early (the loop's
        # clock resolution), and must not be set again for the same instant.
        if self._loop.time() + 0.001 >= deadline:
            self._fail(RedisTimeoutError(f"Redis did not answer within {timeout:g} s"))
            self._transport.abort()
        else:
            self._watch_timer = self._loop.call_at(deadline, self._watch)

    def _fail(self, error: Failure) -> None:
        if self.failure is None:
            self.failure = error
        if self._watch_timer is not None:
            self._watch_timer.cancel()
            self._watch_timer = None
        self._deadlines.clear()
        while self._waiting:
            self._waiting.popleft().failed(error)
