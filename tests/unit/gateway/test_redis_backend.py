"""The Redis backend's answers read where they arrive: an error reply or a reply that does not
fit the batch fails the batch as the store being unavailable (the policy's failure mode then
decides), never as a crash of the request. Against a recorded transport; redis-server itself:
tests/gateway/test_redis*.py."""

import asyncio
from typing import Any

import pytest

from modelops.api.spec import RedisBackend as RedisSpec
from modelops.gateway.backend import BackendUnavailableError
from modelops.gateway.limiter import Demand
from modelops.gateway.redis_backend import RedisBackend
from modelops.gateway.redis_channel import ReplyChannel
from tests.unit.gateway.recorded_transport import RecordedTransport

DEMANDS = (Demand("rq:c", 5, 1, 1),)


async def _sent_on_a_recorded_channel() -> tuple[
    RedisBackend, ReplyChannel, RecordedTransport, Any
]:
    backend = RedisBackend(RedisSpec(address="127.0.0.1:1"))  # never connected here
    transport = RecordedTransport()
    channel = backend._channel = ReplyChannel(transport)
    check = backend.acquire(DEMANDS, 60.0)
    await asyncio.sleep(0)  # the flush: the EVALSHA goes out on the channel
    assert len(transport.written) == 1 and transport.written[0].startswith(b"*")
    return backend, channel, transport, check


def test_an_answer_is_decoded_where_it_is_read() -> None:
    async def scenario() -> None:
        _, channel, _, check = await _sent_on_a_recorded_channel()
        channel.data_received(b"*4\r\n:1\r\n:2\r\n:0\r\n:1500000\r\n")
        outcome = await check
        assert outcome.allowed
        assert [(v.used, v.retry_after, v.reset_after) for v in outcome.verdicts] == [(2, 0.0, 1.5)]

    asyncio.run(scenario())


def test_an_error_reply_fails_the_batch_and_closes_the_connection() -> None:
    async def scenario() -> None:
        _, channel, transport, check = await _sent_on_a_recorded_channel()
        channel.data_received(b"-READONLY You can't write against a read only replica.\r\n")
        with pytest.raises(BackendUnavailableError, match="ResponseError: READONLY"):
            await check
        assert transport.aborted  # the next batch reconnects (a failover's new primary)
        assert channel.failure is not None

    asyncio.run(scenario())


def test_a_reply_that_does_not_fit_the_batch_fails_it() -> None:
    async def scenario() -> None:
        _, channel, transport, check = await _sent_on_a_recorded_channel()
        channel.data_received(b"*2\r\n:1\r\n:2\r\n")
        with pytest.raises(BackendUnavailableError, match="unexpected reply"):
            await check
        assert not transport.aborted  # the reply was read whole: the connection is sound

    asyncio.run(scenario())


def test_a_store_that_never_answers_fails_the_batch_at_its_deadline() -> None:
    async def scenario() -> None:
        backend, _, transport, check = await _sent_on_a_recorded_channel()
        assert backend._timeout == 0.5
        with pytest.raises(BackendUnavailableError, match=r"did not answer within 0\.5 s"):
            await asyncio.wait_for(check, 5)
        assert transport.aborted

    asyncio.run(scenario())
