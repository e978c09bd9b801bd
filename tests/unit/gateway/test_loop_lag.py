"""The event-loop lag watcher: a loop blocked for a while is seen late by about that long."""

import asyncio
import bisect
import time

from modelops.gateway.loop_lag import watch_loop_lag
from modelops.gateway.metrics import LOOP_LAG_BUCKETS, PREFIX, Metrics
from modelops.gateway.series import HistogramSeries

BLOCKED = 0.12  # seconds the loop is kept from running


def test_a_blocked_loop_is_observed_late_by_about_the_block() -> None:
    lag = HistogramSeries(LOOP_LAG_BUCKETS)

    async def scenario() -> None:
        watcher = asyncio.create_task(watch_loop_lag(lag, interval=0.005))
        await asyncio.sleep(0.05)  # some ticks on time
        time.sleep(BLOCKED)  # what a long loop iteration does to every timer
        await asyncio.sleep(0.02)
        watcher.cancel()

    asyncio.run(scenario())
    observed = sum(lag.counts)
    late = sum(lag.counts[bisect.bisect_left(lag.bounds, BLOCKED - 0.02) :])
    assert observed >= 5, lag.counts
    assert late >= 1, lag.counts  # the tick due during the block
    assert lag.sum >= BLOCKED - 0.02


def test_the_gateway_exports_its_loop_lag() -> None:
    metrics = Metrics("stable")
    metrics.event_loop_lag.series("stable").observe(0.003)
    names = {m.name for m in metrics.registry.collect()}
    assert PREFIX + "event_loop_lag_seconds" in names
