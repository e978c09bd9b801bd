"""The Lua script and the in-memory limiter make the same decisions on the same arrivals."""

import asyncio

import pytest
from redis.exceptions import RedisError

from modelops.api.spec import RedisBackend as RedisSpec
from modelops.gateway.backend import BackendUnavailableError
from modelops.gateway.limiter import Demand, Outcome, SlidingWindows
from modelops.gateway.redis_backend import RedisBackend
from tests.gateway.conftest import RedisServer
from tests.gateway.limiter_steps import arrivals, assert_same


@pytest.mark.parametrize("window", [10.0, 60.0])
def test_lua_matches_python(redis_server: RedisServer, window: float) -> None:
    async def scenario() -> None:
        backend = RedisBackend(RedisSpec(address=redis_server.address))
        try:
            for seed in range(6):
                memory = SlidingWindows()
                for now, demands in arrivals(seed, f"p{seed}:{window}:"):
                    want = memory.acquire(demands, now, window)
                    assert_same(await backend.acquire(demands, window, now=now), want)
        finally:
            await backend.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


@pytest.mark.parametrize("window", [10.0, 60.0])
def test_one_batch_matches_python_in_order(redis_server: RedisServer, window: float) -> None:
    """Checks and charges issued in one tick travel as one script call; the script must run
    them in the order issued, each as it would run alone. Charges go the way the gateway
    sends them (``charge``, not waited for, not answered)."""

    async def scenario() -> None:
        backend = RedisBackend(RedisSpec(address=redis_server.address))

        async def step(now: float, demands: list[Demand]) -> Outcome | None:
            if demands[0].limit is None:
                backend.charge(demands, window, pytest.fail, now=now)
                return None
            return await backend.acquire(demands, window, now=now)

        try:
            for seed in range(6, 12):
                memory = SlidingWindows()
                steps = arrivals(seed, f"b{seed}:{window}:")
                # All issued in one tick, in order, without waiting for any answer.
                got = await asyncio.gather(*(step(now, demands) for now, demands in steps))
                want = [memory.acquire(demands, now, window) for now, demands in steps]
                assert any(not o.allowed for o in want), "the scenario must refuse some"
                for g, w in zip(got, want, strict=True):
                    if g is not None:
                        assert_same(g, w)
        finally:
            await backend.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_charge_not_waited_for_is_seen_by_the_next_check(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        backend = RedisBackend(RedisSpec(address=redis_server.address))
        failures: list[Exception] = []
        try:
            budget = [Demand("fire:tk:c", 100, 1, 0)]
            assert (await backend.acquire(budget, 60.0)).allowed
            backend.charge([Demand("fire:tk:c", None, 0, 150)], 60.0, failures.append)
            refused = await backend.acquire(budget, 60.0)
            assert not refused.allowed
            assert refused.verdicts[0].used == 150
            assert failures == []
        finally:
            await backend.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_charge_posted_as_the_gateway_stops_reaches_redis(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        spec = RedisSpec(address=redis_server.address)
        stopping, other = RedisBackend(spec), RedisBackend(spec)
        try:
            stopping.charge([Demand("stop:tk:c", None, 0, 150)], 60.0, pytest.fail)
            await stopping.close()
            seen = await other.acquire([Demand("stop:tk:c", 100, 1, 0)], 60.0)
            assert not seen.allowed
            assert seen.verdicts[0].used == 150
        finally:
            await other.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_charge_the_store_cannot_take_is_reported(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        backend = RedisBackend(RedisSpec(address=redis_server.address), timeout=0.3)
        failures: list[Exception] = []
        reported = asyncio.Event()

        def failed(err: Exception) -> None:
            failures.append(err)
            reported.set()

        try:
            redis_server.kill()
            backend.charge([Demand("dead:tk:c", None, 0, 5)], 60.0, failed)
            await asyncio.wait_for(reported.wait(), 10)
            assert len(failures) == 1
            # The store's error, told as the check's would be: for the failure mode.
            assert isinstance(failures[0], BackendUnavailableError)
            assert isinstance(failures[0].__cause__, RedisError | OSError)
            assert str(failures[0]).startswith("ConnectionError: ")
        finally:
            await backend.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_many_checks_in_flight_are_all_answered(redis_server: RedisServer) -> None:
    """More concurrent checks than one batch holds (and than redis-py's default pool of 100
    connections) must not fail over to the failure mode: every one is answered, each charged
    once."""

    async def scenario() -> None:
        backend = RedisBackend(RedisSpec(address=redis_server.address))
        try:
            demand = [Demand("inflight:rq:*", 1000, 1, 1)]
            outcomes = await asyncio.gather(*(backend.acquire(demand, 60.0) for _ in range(300)))
            assert all(o.allowed for o in outcomes)
            assert max(o.verdicts[0].used for o in outcomes) == 299
        finally:
            await backend.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_flushed_script_is_loaded_again_and_the_batch_answered(
    redis_server: RedisServer,
) -> None:
    """SCRIPT FLUSH (or a restarted server) between batches: the next EVALSHA is answered
    NOSCRIPT on the kept connection; the script is loaded and the batch sent again, charged
    once, and the batches after it go the fast way again."""

    async def scenario() -> None:
        backend = RedisBackend(RedisSpec(address=redis_server.address))
        try:
            demand = [Demand("flushed:rq:*", 10, 1, 1)]
            # ``used``: what the window held before this check.
            assert (await backend.acquire(demand, 60.0)).verdicts[0].used == 0
            with redis_server.client() as client:
                client.script_flush()
            again = await backend.acquire(demand, 60.0)
            assert again.allowed
            assert again.verdicts[0].used == 1
            assert (await backend.acquire(demand, 60.0)).verdicts[0].used == 2
            with redis_server.client() as client:
                stats = client.info("commandstats")
            assert stats["cmdstat_script|load"]["calls"] == 2, stats
        finally:
            await backend.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
