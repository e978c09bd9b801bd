"""How late the gateway's event loop runs: the wait every request and every streamed chunk
has before its turn, which no request's own timing shows.

A timer due every ``INTERVAL`` is observed for how late it fired. A loop that keeps up
fires it within a fraction of a millisecond; a busy one runs long iterations (hundreds of
connections' reads, writes and task steps each), and its lag is what a new request waits
per step of its way through (read, task start, connect, answer, write). Measured so that
"the gateway adds latency" can be told apart from "the gateway's core is saturated"; the
bench of 1,000 SSE streams reads it to say where the time to first token goes.
"""

import asyncio

from modelops.gateway.series import HistogramSeries

INTERVAL = 0.01  # seconds: about 100 wake-ups a second, a few microseconds of CPU each


async def watch_loop_lag(lag: HistogramSeries, interval: float = INTERVAL) -> None:
    """Observe, until cancelled, how late each ``interval`` timer fired (in seconds)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        lag.observe(max(0.0, loop.time() - due))
