"""Where counters live: one interface, an in-memory backend here, Redis in ``redis_backend``.

The server only sees ``Backend``; which one it gets follows the policy (``redis`` set or not),
so a reload can move a pod between them.
"""

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from modelops.gateway.limiter import Demand, Outcome, SlidingWindows


class BackendUnavailableError(RuntimeError):
    """The shared store could not answer; the policy's failureMode decides what happens."""


# Told, later, why a charge not waited for could not be stored.
ChargeFailed = Callable[[Exception], None]


class Backend(Protocol):
    async def acquire(self, demands: Sequence[Demand], window: float) -> Outcome:
        """Check all demands and charge them all if every one fits (atomically)."""
        ...

    def charge(self, demands: Sequence[Demand], window: float, failed: ChargeFailed) -> None:
        """Add usage that never refuses (an answer's tokens) without waiting for the store.

        Checks issued later by this process see it; ``failed`` is called, later, if the store
        could not take it (nothing else can be done then: the answer has gone out).
        """
        ...

    async def close(self) -> None: ...


class MemoryBackend:
    """Counters of one process: exact for one replica, per-replica with many."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._windows = SlidingWindows()
        self._clock = clock
        self._next_sweep = 0.0

    async def acquire(self, demands: Sequence[Demand], window: float) -> Outcome:
        # No await between check and charge: on one event loop that is atomic.
        now = self._clock()
        if now >= self._next_sweep:
            # Idle clients would otherwise keep their (empty) counters forever.
            self._windows.sweep(now)
            self._next_sweep = now + window
        return self._windows.acquire(demands, now, window)

    def charge(self, demands: Sequence[Demand], window: float, failed: ChargeFailed) -> None:
        self._windows.acquire(demands, self._clock(), window)

    async def close(self) -> None:
        return None
