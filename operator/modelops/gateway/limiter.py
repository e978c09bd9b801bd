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
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

# Buckets per window: the resolution of the window edge (1 s for a 60 s window).
BUCKETS = 60

# Demand is a NamedTuple, not a frozen dataclass: as immutable, but built in C. A frozen
# dataclass's __init__ sets each field through object.__setattr__ (about 3 us here). Demands
# are made once per client and cached; verdicts and outcomes are made several times a request,
# and are plain classes: compiled, mypyc makes them as native objects and reads their fields
# from a struct (a NamedTuple's constructor and fields went through Python's generic calls:
# about 1,500 instructions to make one, and a lookup per field read).


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


class Verdict:
    """One counter's state after a check, for the X-RateLimit-* headers. Never changed once
    made (``Final``: mypy refuses an assignment)."""

    __slots__ = ("charged", "key", "limit", "reset_after", "retry_after", "used")

    def __init__(  # noqa: PLR0917 - the fields, in the order they were a tuple's
        self,
        key: str,
        limit: int | None,
        used: int,
        retry_after: float,
        reset_after: float,
        charged: int = 0,
    ) -> None:
        self.key: Final = key
        self.limit: Final = limit
        self.used: Final = used
        self.retry_after: Final = retry_after  # seconds until ``need`` fits; 0: it fits now
        self.reset_after: Final = reset_after  # seconds until all counted usage has left
        self.charged: Final = charged  # what this check added (0 when refused)

    @property
    def fits(self) -> bool:
        return self.retry_after <= 0

    @property
    def remaining(self) -> int:
        if self.limit is None:
            return 0
        return max(0, self.limit - self.used - self.charged)

    def uncharged(self) -> "Verdict":
        """The same verdict for a request that was refused: nothing added."""
        if not self.charged:
            return self
        return Verdict(self.key, self.limit, self.used, self.retry_after, self.reset_after)

    def _fields(self) -> tuple[str, int | None, int, float, float, int]:
        return (self.key, self.limit, self.used, self.retry_after, self.reset_after, self.charged)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verdict) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        key, limit, used, retry_after, reset_after, charged = self._fields()
        return (
            f"Verdict(key={key!r}, limit={limit!r}, used={used!r}, retry_after={retry_after!r},"
            f" reset_after={reset_after!r}, charged={charged!r})"
        )


class Outcome:
    """All demands of a request pass together or none is charged.

    ``verdicts``: one per window; of calendar budgets, all when refused, but only the
    tightest when admitted (``budgets.tightest``: the only one ``binding`` could choose).
    """

    __slots__ = ("allowed", "verdicts")

    def __init__(self, allowed: bool, verdicts: tuple[Verdict, ...]) -> None:
        self.allowed: Final = allowed
        self.verdicts: Final = verdicts

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Outcome)
            and self.allowed == other.allowed
            and self.verdicts == other.verdicts
        )

    def __hash__(self) -> int:
        return hash((self.allowed, self.verdicts))

    def __repr__(self) -> str:
        return f"Outcome(allowed={self.allowed!r}, verdicts={self.verdicts!r})"

    def binding(self) -> Verdict | None:
        """The verdict to report: the refusing one that frees last, else the one with least
        room left (the first of equals). One pass: it runs on every request."""
        refusing: Verdict | None = None
        tightest: Verdict | None = None
        least = math.inf
        for v in self.verdicts:
            limit = v.limit
            if limit is None:
                continue
            retry_after = v.retry_after
            if retry_after > 0:
                if refusing is None or retry_after > refusing.retry_after:
                    refusing = v
            elif refusing is None:
                # Requests and tokens have different units: compare the share of the limit left.
                left = limit - v.used - v.charged
                share = left / limit if left > 0 else 0.0
                if share < least:
                    tightest, least = v, share
        return refusing if refusing is not None else tightest


def bucket_width(window: float) -> float:
    return window / BUCKETS


def first_counted_bucket(now: float, window: float) -> int:
    """Index of the oldest bucket that overlaps ``(now - window, now]``."""
    return math.floor((now - window) / bucket_width(window))


class Counter:
    """One counter's buckets, with their sum and their oldest and newest index kept as they
    change: a check costs the same with 1 bucket or ``BUCKETS`` (summing them per request
    was most of the limiter's cost)."""

    __slots__ = ("buckets", "newest", "oldest", "total", "window")

    def __init__(self, window: float) -> None:
        self.buckets: dict[int, int] = {}
        self.total = 0
        self.oldest = math.inf  # no bucket yet
        self.newest = -math.inf
        self.window = window

    def add(self, index: int, amount: int) -> None:
        self.buckets[index] = self.buckets.get(index, 0) + amount
        self.total += amount
        self.oldest = min(self.oldest, index)
        self.newest = max(self.newest, index)

    def drop_below(self, lowest: int) -> None:
        """Forget buckets that no longer overlap the window (at most once per bucket width
        while the counter is in use: only then does the oldest one fall out)."""
        if self.oldest >= lowest:
            return
        buckets = self.buckets
        for index in [i for i in buckets if i < lowest]:
            self.total -= buckets.pop(index)
        self.oldest = min(buckets, default=math.inf)
        if not buckets:
            self.newest = -math.inf

    def copy(self) -> "Counter":
        twin = Counter(self.window)
        twin.buckets, twin.total = dict(self.buckets), self.total
        twin.oldest, twin.newest = self.oldest, self.newest
        return twin


def judge(demand: Demand, counter: Counter, now: float, window: float) -> Verdict:
    """Check one counter. It must hold only counted buckets (see ``Counter.drop_below``).
    A verdict that fits says it charged the demand's charge: the caller takes it back when
    another counter of the same request refuses (the rare case)."""
    key, demand_limit, need = demand.key, demand.limit, demand.need
    width = window / BUCKETS
    used = counter.total
    # Only the newest bucket matters for the reset; the order only when refusing.
    reset_after = max(0.0, (counter.newest + 1) * width + window - now) if counter.buckets else 0.0
    if demand_limit is None:
        return Verdict(key, None, used, 0.0, reset_after, demand.charge)
    excess = used + need - demand_limit
    if excess <= 0:
        return Verdict(key, demand_limit, used, 0.0, reset_after, demand.charge)
    if need > demand_limit:
        # Never fits: say "a whole window" rather than promise a time that will not help.
        return Verdict(key, demand_limit, used, window, reset_after)
    retry_after = window
    buckets = counter.buckets
    for index in sorted(buckets):
        excess -= buckets[index]
        if excess <= 0:
            # Bucket ``index`` stops being counted once now - window >= (index + 1) * width.
            retry_after = max((index + 1) * width + window - now, width / 1000)
            break
    return Verdict(key, demand_limit, used, retry_after, reset_after)


class SlidingWindows:
    """In-memory counters for one process; the caller supplies the time."""

    def __init__(self) -> None:
        self._counters: dict[str, Counter] = {}

    def acquire(self, demands: Sequence[Demand], now: float, window: float) -> Outcome:
        """Check all demands; charge all of them only if every one fits."""
        counters = self._counters
        lowest = first_counted_bucket(now, window)
        verdicts = []
        allowed = True
        for demand in demands:
            counter = counters.get(demand.key)
            if counter is None:
                counter = counters[demand.key] = Counter(window)
            else:
                counter.window = window
                if counter.oldest < lowest:
                    counter.drop_below(lowest)
            verdict = judge(demand, counter, now, window)
            allowed = allowed and verdict.retry_after <= 0
            verdicts.append(verdict)
        if not allowed:
            return Outcome(False, tuple(v.uncharged() for v in verdicts))
        index = math.floor(now / bucket_width(window))
        for demand in demands:
            if demand.charge:
                counters[demand.key].add(index, demand.charge)
        return Outcome(True, tuple(verdicts))

    def charge(self, demands: Sequence[Demand], now: float, window: float, tokens: int = 0) -> None:
        """Add usage that never refuses (an answer's tokens: each demand's charge plus
        ``tokens``): no check, no verdict, as the Redis script's charge-only operation.
        Buckets that left the window stay until the next check of the counter drops them
        (every check does, before it counts)."""
        counters = self._counters
        index = math.floor(now / bucket_width(window))
        for demand in demands:
            amount = demand.charge + tokens
            if amount:
                counter = counters.get(demand.key)
                if counter is None:
                    counter = counters[demand.key] = Counter(window)
                counter.window = window
                counter.add(index, amount)

    def sweep(self, now: float) -> int:
        """Forget counters whose usage has left their window; returns how many remain."""
        for key, counter in list(self._counters.items()):
            counter.drop_below(first_counted_bucket(now, counter.window))
            if not counter.buckets:
                del self._counters[key]
        return len(self._counters)

    def copy(self) -> "SlidingWindows":
        """An independent copy (a test probes "what if" on it)."""
        twin = SlidingWindows()
        twin._counters = {key: counter.copy() for key, counter in self._counters.items()}
        return twin

    def keys(self) -> Iterable[str]:
        return self._counters.keys()
