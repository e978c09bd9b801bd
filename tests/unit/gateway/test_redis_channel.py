"""Replies matched to commands in order, and a connection that cannot be trusted closed.

The channel's transport here records what it is asked to do: the real connection is covered
by tests/gateway/test_redis*.py against redis-server."""

import asyncio
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modelops.gateway.redis_channel import ReplyChannel
from tests.unit.gateway.recorded_transport import RecordedTransport


def _run(scenario: Any) -> None:
    asyncio.run(scenario())


def test_replies_resolve_the_commands_in_the_order_sent_even_split_across_reads() -> None:
    async def scenario() -> None:
        transport = RecordedTransport()
        channel = ReplyChannel(transport)
        first, second = channel.call(b"ONE", 5.0), channel.call(b"TWO", 5.0)
        assert transport.written == [b"ONE", b"TWO"]
        channel.data_received(b"*2\r\n:1\r\n$1")
        assert not first.done()
        channel.data_received(b"\r\na\r\n-NOSCRIPT no such script\r\n")
        assert await first == [1, b"a"]
        error = await second  # an error reply is a result: the caller decides what it means
        assert isinstance(error, ResponseError)
        assert str(error).startswith("NOSCRIPT")
        assert channel.failure is None
        assert not transport.aborted

    _run(scenario)


def test_a_reply_no_command_asked_for_closes_the_connection() -> None:
    async def scenario() -> None:
        transport = RecordedTransport()
        channel = ReplyChannel(transport)
        channel.data_received(b":1\r\n")
        assert transport.aborted
        with pytest.raises(RedisConnectionError, match="no command asked for"):
            channel.call(b"PING", 5.0)

    _run(scenario)


def test_an_unreadable_reply_fails_the_waiting_command_and_closes() -> None:
    async def scenario() -> None:
        transport = RecordedTransport()
        channel = ReplyChannel(transport)
        waiting = channel.call(b"PING", 5.0)
        channel.data_received(b"?what\r\n")
        assert transport.aborted
        with pytest.raises(RedisConnectionError, match="unreadable reply"):
            await waiting

    _run(scenario)


@pytest.mark.parametrize("end", ["eof", "lost"])
def test_a_closed_connection_fails_every_waiting_command(end: str) -> None:
    async def scenario() -> None:
        channel = ReplyChannel(RecordedTransport())
        waiting = [channel.call(b"PING", 5.0), channel.call(b"PING", 5.0)]
        if end == "eof":
            assert channel.eof_received() is False  # the transport closes itself
        else:
            channel.connection_lost(OSError("reset by peer"))
        for future in waiting:
            with pytest.raises(RedisConnectionError):
                await future
        assert channel.failure is not None

    _run(scenario)


def test_a_command_unanswered_past_its_deadline_fails_and_closes_the_connection() -> None:
    async def scenario() -> None:
        transport = RecordedTransport()
        channel = ReplyChannel(transport)
        answered, late = channel.call(b"PING", 0.05), channel.call(b"PING", 0.05)
        channel.data_received(b"+PONG\r\n")
        assert await answered == b"PONG"
        with pytest.raises(RedisTimeoutError, match=r"did not answer within 0\.05 s"):
            await late
        assert transport.aborted
        with pytest.raises(RedisConnectionError):  # the next batch reconnects
            channel.call(b"PING", 0.05)

    _run(scenario)


def test_a_later_command_is_given_its_own_full_deadline() -> None:
    """One timer watches the oldest command: when the command it was set for has been
    answered, the next one still gets the whole of its own timeout, not what was left."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        transport = RecordedTransport()
        channel = ReplyChannel(transport)
        answered = channel.call(b"PING", 0.3)
        channel.data_received(b"+PONG\r\n")
        assert await answered == b"PONG"
        await asyncio.sleep(0.2)
        sent = loop.time()
        late = channel.call(b"PING", 0.3)
        with pytest.raises(RedisTimeoutError, match=r"did not answer within 0\.3 s"):
            await late
        assert loop.time() - sent >= 0.3 - 0.002
        assert transport.aborted

    _run(scenario)
