"""The Lua script and the in-memory limiter make the same decisions on the same arrivals."""

import asyncio
import random

import pytest

from modelops.gateway.limiter import Demand, SlidingWindows
from modelops.gateway.redis_backend import RedisBackend
from tests.gateway.conftest import RedisServer


def _arrivals(seed: int) -> list[tuple[float, list[Demand]]]:
    rng = random.Random(seed)
    now = 1_700_000_000.0 + rng.random()
    steps = []
    for _ in range(120):
        now += rng.choice([0.0, 0.001, 0.3, 1.7, 9.0, 31.0])
        client = f"c{rng.randint(0, 2)}"
        if rng.random() < 0.25:
            # An answer's usage: charged, never refused.
            steps.append((now, [Demand(f"tk:{client}", None, 0, rng.randint(1, 40))]))
        else:
            steps.append(
                (
                    now,
                    [
                        Demand(f"rq:{client}", 4, 1, rng.randint(1, 2)),
                        Demand("rq:*", 9, 1, 1),
                        Demand(f"tk:{client}", 50, 1, 0),
                    ],
                )
            )
    return steps


@pytest.mark.parametrize("window", [10.0, 60.0])
def test_lua_matches_python(redis_server: RedisServer, window: float) -> None:
    async def scenario() -> None:
        backend = RedisBackend(redis_server.address)
        try:
            for seed in range(6):
                memory = SlidingWindows()
                for now, demands in _arrivals(seed):
                    keyed = [
                        Demand(f"p{seed}:{window}:{d.key}", d.limit, d.need, d.charge)
                        for d in demands
                    ]
                    want = memory.acquire(keyed, now, window)
                    got = await backend.acquire(keyed, window, now=now)
                    assert got.allowed == want.allowed, (seed, now)
                    for g, w in zip(got.verdicts, want.verdicts, strict=True):
                        assert (g.used, g.charged) == (w.used, w.charged)
                        assert g.retry_after == pytest.approx(w.retry_after, abs=1e-6)
                        assert g.reset_after == pytest.approx(w.reset_after, abs=1e-6)
        finally:
            await backend.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_many_checks_in_flight_are_all_answered(redis_server: RedisServer) -> None:
    """More concurrent checks than redis-py's default pool (100) must not fail over to the
    failure mode: every one gets a connection and an answer, and each is charged once."""

    async def scenario() -> None:
        backend = RedisBackend(redis_server.address)
        try:
            demand = [Demand("inflight:rq:*", 1000, 1, 1)]
            outcomes = await asyncio.gather(*(backend.acquire(demand, 60.0) for _ in range(300)))
            assert all(o.allowed for o in outcomes)
            assert max(o.verdicts[0].used for o in outcomes) == 299
        finally:
            await backend.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
