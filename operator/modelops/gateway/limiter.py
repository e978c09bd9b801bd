"""Sliding-window limits as pure code: no clock, no I/O, so a property test can drive it.

Why buckets and not a plain sliding log: a log keeps one entry per request, which at the
limits the API allows (100M requests, 10G tokens a minute) is unbounded memory per client.
Why not the common two-bucket weighted estimate: it assumes arrivals were uniform in the
previous window and so can admit more than the limit in some window. Here a window of length
``W`` is cut into ``BUCKETS`` buckets of width ``g = W / BUCKETS``, and a check counts every
bucket that overlaps the window ``(now - W, now]`` in full. That count is never smaller than
the exact count, so no window of length ``W`` ever admits more than the limit; the price is
that a client may be refused up to ``g`` early (one second for a one-minute window).

The same arithmetic runs in Redis as a Lua script (``redis_backend.py``); keep the two alike.
"""

import math
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import NamedTuple

# Buckets per window: the resolution of the window edge (1 s for a 60 s window).
BUCKETS = 60

# Demand, Verdict and Outcome are NamedTuples, not frozen dataclasses: as immutable, but built
# in C. A frozen dataclass's __init__ sets each field through object.__setattr__ (about 3 us
# here), and every request makes several of them.


class Demand(NamedTuple):
    """What one request asks of one counter.

    ``need`` must fit under ``limit`` for the request to pass; ``charge`` is added when it
    does. Requests need 1 and charge 1. Token budgets need 1 and charge 0 before the request
    (is any budget left?) and are charged the real count after the response, with
    ``limit=None`` (charge only, never refuse).
    """

    key: str
    limit: int | None
    need: int
    charge: int


class Verdict(NamedTuple):
    """One counter's state after a check, for the X-RateLimit-* headers."""

    key: str
    limit: int | None
    used: int
    retry_after: float  # seconds until ``need`` fits; 0 when it fits now
    reset_after: float  # seconds until all counted usage has left the window
    charged: int = 0  # what this check added (0 when the request was refused)

    @property
    def fits(self) -> bool:
        return self.retry_after <= 0

    @property
    def remaining(self) -> int:
        if self.limit is None:
            return 0
        return max(0, self.limit - self.used - self.charged)


class Outcome(NamedTuple):
    """All demands of a request pass together or none is charged."""

    allowed: bool
    verdicts: tuple[Verdict, ...]

    def binding(self) -> Verdict | None:
        """The verdict to report: the refusing one, else the one with least room left."""
        limited = [v for v in self.verdicts if v.limit is not None]
        if not limited:
            return None
        refusing = [v for v in limited if not v.fits]
        if refusing:
            return max(refusing, key=lambda v: v.retry_after)
        # Requests and tokens have different units: compare the share of the limit left.
        return min(limited, key=lambda v: v.remaining / v.limit if v.limit else 0.0)


def bucket_width(window: float) -> float:
    return window / BUCKETS


def first_counted_bucket(now: float, window: float) -> int:
    """Index of the oldest bucket that overlaps ``(now - window, now]``."""
    return math.floor((now - window) / bucket_width(window))


def judge(demand: Demand, buckets: Mapping[int, int], now: float, window: float) -> Verdict:
    """Check one counter. ``buckets`` must hold only counted buckets (see ``prune``)."""
    key, demand_limit, need = demand.key, demand.limit, demand.need
    width = bucket_width(window)
    used = sum(buckets.values())
    # Only the newest bucket matters for the reset; the order only when refusing.
    reset_after = max(0.0, (max(buckets) + 1) * width + window - now) if buckets else 0.0
    if demand_limit is None:
        return Verdict(key, None, used, 0.0, reset_after)
    excess = used + need - demand_limit
    if excess <= 0:
        return Verdict(key, demand_limit, used, 0.0, reset_after)
    if need > demand_limit:
        # Never fits: say "a whole window" rather than promise a time that will not help.
        return Verdict(key, demand_limit, used, window, reset_after)
    retry_after = window
    for index in sorted(buckets):
        excess -= buckets[index]
        if excess <= 0:
            # Bucket ``index`` stops being counted once now - window >= (index + 1) * width.
            retry_after = max((index + 1) * width + window - now, width / 1000)
            break
    return Verdict(key, demand_limit, used, retry_after, reset_after)


def prune(buckets: MutableMapping[int, int], now: float, window: float) -> None:
    """Drop buckets that no longer overlap the window."""
    _drop_below(buckets, first_counted_bucket(now, window))


def _drop_below(buckets: MutableMapping[int, int], lowest: int) -> None:
    stale = [i for i in buckets if i < lowest]
    for index in stale:
        del buckets[index]


class SlidingWindows:
    """In-memory counters for one process; the caller supplies the time."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[int, int]] = {}
        self._windows: dict[str, float] = {}

    def acquire(self, demands: Sequence[Demand], now: float, window: float) -> Outcome:
        """Check all demands; charge all of them only if every one fits."""
        counters, windows = self._counters, self._windows
        lowest = first_counted_bucket(now, window)
        verdicts = []
        allowed = True
        for demand in demands:
            buckets = counters.get(demand.key)
            if buckets is None:
                buckets = counters[demand.key] = {}
            elif buckets:
                _drop_below(buckets, lowest)
            windows[demand.key] = window
            verdict = judge(demand, buckets, now, window)
            allowed = allowed and verdict.fits
            verdicts.append(verdict)
        if allowed:
            index = math.floor(now / bucket_width(window))
            for position, demand in enumerate(demands):
                if demand.charge:
                    buckets = counters[demand.key]
                    buckets[index] = buckets.get(index, 0) + demand.charge
                    v = verdicts[position]
                    verdicts[position] = Verdict(
                        v.key, v.limit, v.used, v.retry_after, v.reset_after, demand.charge
                    )
        return Outcome(allowed, tuple(verdicts))

    def sweep(self, now: float) -> int:
        """Forget counters whose usage has left their window; returns how many remain."""
        for key in list(self._counters):
            buckets = self._counters[key]
            prune(buckets, now, self._windows[key])
            if not buckets:
                del self._counters[key]
                del self._windows[key]
        return len(self._counters)

    def keys(self) -> Iterable[str]:
        return self._counters.keys()
