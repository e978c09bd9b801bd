"""Where counters live: one interface, an in-memory backend here, Redis in ``redis_backend``.

The server only sees ``Backend``; which one it gets follows the policy (``redis`` set or not),
so a reload can move a pod between them.
"""

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from mypy_extensions import mypyc_attr

from modelops.gateway.budgets import BudgetCounters, BudgetDemand
from modelops.gateway.limiter import Demand, Outcome, SlidingWindows


# An ordinary class under mypyc (which compiles this module for the image): its native classes
# cannot extend RuntimeError.
@mypyc_attr(native_class=False)
class BackendUnavailableError(RuntimeError):
    """The shared store could not answer; the policy's failureMode decides what happens."""


# Told, later, why a charge not waited for could not be stored.
ChargeFailed = Callable[[Exception], None]


class Backend(Protocol):
    def acquire(
        self, demands: Sequence[Demand], window: float, budgets: Sequence[BudgetDemand] = ()
    ) -> Awaitable[Outcome]:
        """Check all demands and budgets; charge them all if every one fits (atomically).
        ``BackendUnavailableError`` when the store cannot answer."""
        ...

    def charge(
        self,
        demands: Sequence[Demand],
        window: float,
        failed: ChargeFailed,
        budgets: Sequence[BudgetDemand] = (),
        tokens: int = 0,
    ) -> None:
        """Add usage that never refuses (an answer's tokens) without waiting for the store.

        Each of ``demands`` and ``budgets`` is charged its own charge plus ``tokens``: an
        answer's token counters come with a charge of 0 (``Policy.token_counters``,
        ``BudgetPlan.token_counters``), so none is made per answer.

        Checks issued later by this process see it; ``failed`` is called, later, if the store
        could not take it (nothing else can be done then: the answer has gone out).
        """
        ...

    async def close(self) -> None: ...


class MemoryBackend:
    """Counters of one process: exact for one replica, per-replica with many."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._windows = SlidingWindows()
        self._budgets = BudgetCounters()
        self._clock = clock
        self._wall_clock = wall_clock  # budgets follow the calendar, not the monotonic clock
        self._next_sweep = 0.0

    async def acquire(
        self, demands: Sequence[Demand], window: float, budgets: Sequence[BudgetDemand] = ()
    ) -> Outcome:
        # No await between check and charge: on one event loop that is atomic.
        now = self._clock()
        if now >= self._next_sweep:
            # Idle clients would otherwise keep their (empty) counters forever.
            self._windows.sweep(now)
            self._budgets.sweep(self._wall_clock())
            self._next_sweep = now + window
        if not budgets:
            return self._windows.acquire(demands, now, window)
        # Budgets written out here rather than in a method of their own: a call is about 1%
        # of a budgeted request's instructions (bench/gateway_instructions.py).
        counters, wall = self._budgets, self._wall_clock()
        room = counters.room(budgets)
        if room is not None:
            outcome = self._windows.acquire(demands, now, window)
            if outcome.allowed:
                held, chosen = room  # unpacked here: a starred call is a generic one
                charged = counters.charge_fitting(budgets, held, chosen, wall)
                if charged is None:
                    return outcome
                return Outcome(True, (*outcome.verdicts, charged))
            return Outcome(False, (*outcome.verdicts, *counters.verdicts(budgets, wall)))
        # A spent budget: the windows are looked at (for the headers) but not charged.
        looked = [Demand(d.key, d.limit, d.need, 0) for d in demands]
        windows = self._windows.acquire(looked, now, window)
        return Outcome(False, (*windows.verdicts, *counters.verdicts(budgets, wall)))

    def charge(
        self,
        demands: Sequence[Demand],
        window: float,
        failed: ChargeFailed,
        budgets: Sequence[BudgetDemand] = (),
        tokens: int = 0,
    ) -> None:
        self._windows.charge(demands, self._clock(), window, tokens)
        if budgets:
            self._budgets.charge(budgets, tokens)

    async def close(self) -> None:
        return None
