"""Calendar budgets as pure code: requests and tokens per day or month, beside the windows.

A budget's counter is named by its period ("2026-12-01", "2026-12", as the calendar reads in
the policy's time zone), so a new period starts from zero with no reset job, and the counters
of past periods simply expire. The caller passes the time (seconds since the epoch: periods
are calendar dates, which a monotonic clock knows nothing of), so a test can step a fake clock
across midnights and month ends.

A budget is checked with the sliding windows of the same request and charged only when all of
them fit (``MemoryBackend`` here, the Lua script in ``redis_script`` for Redis).
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from modelops.api.spec import BudgetPeriod, Budgets, BudgetScope, RateLimitBudget
from modelops.gateway.caches import remember
from modelops.gateway.limiter import Verdict

# Counters outlive their period by this much in Redis: replicas whose clocks disagree by a
# little near midnight still find the counter they are writing to.
EXPIRY_GRACE = 86_400.0
REQUESTS = "requests"
TOKENS = "tokens"
_KIND = {REQUESTS: "rq", TOKENS: "tk"}


@dataclass(frozen=True)
class Period:
    """One calendar period: the counter's name part, and when the next one starts."""

    label: str
    ends: float  # seconds since the epoch


def period_of(kind: BudgetPeriod, now: float, zone: ZoneInfo) -> Period:
    """The day or month that ``now`` falls in, as the calendar reads in ``zone``."""
    local = datetime.fromtimestamp(now, zone)
    if kind == BudgetPeriod.DAY:
        label = local.strftime("%Y-%m-%d")
        following = local.date() + timedelta(days=1)
    else:
        label = local.strftime("%Y-%m")
        following = (local.date().replace(day=28) + timedelta(days=4)).replace(day=1)
    # Midnight of the next day in the zone (its offset, not today's: DST may change overnight).
    start = datetime(following.year, following.month, following.day, tzinfo=zone)
    return Period(label, start.timestamp())


class BudgetDemand(NamedTuple):
    """What one request asks of one budget counter (as ``limiter.Demand`` does of a window;
    a NamedTuple for the same reason)."""

    key: str
    limit: int | None  # None: charge only, never refuse (an answer's tokens)
    need: int
    charge: int
    ends: float  # when the counter's period ends
    budget: str
    unit: str  # REQUESTS or TOKENS


def judge(demand: BudgetDemand, used: int, now: float, charged: bool = False) -> Verdict:
    """One budget counter's verdict, in the windows' terms: a refusal's retry and the reset
    are both the end of the period. ``charged``: the request passed and was charged."""
    left = max(0.0, demand.ends - now)
    limit = demand.limit
    refused = limit is not None and used + demand.need > limit
    charge = demand.charge if charged else 0
    return Verdict(demand.key, limit, used, left if refused else 0.0, left, charge)


def tightest(demands: Sequence[BudgetDemand], used: Sequence[int]) -> int | None:
    """Which budget of an admitted request has the least share of its limit left once charged
    (the first of equals; None: none has a limit). ``Outcome.binding`` can choose no other
    budget for the headers, so an admitted request carries only that one's verdict: one to
    build and for ``binding`` to scan rather than one per budget, on every budgeted request."""
    chosen, least = None, math.inf
    for i in range(len(demands)):  # by index: mypyc compiles this loop, not a zip
        d, value = demands[i], used[i]
        limit = d.limit
        if limit is not None:
            left = limit - value - d.charge
            share = left / limit if left > 0 else 0.0  # as Outcome.binding measures it
            if share < least:
                chosen, least = i, share
    return chosen


@dataclass
class _Compiled:
    spec: RateLimitBudget
    period: Period = field(default_factory=lambda: Period("", 0.0))


class BudgetPlan:
    """The budgets of a policy, compiled once; per request only the period may move on."""

    def __init__(self, budgets: Budgets, prefix: str) -> None:
        self.zone = ZoneInfo(budgets.time_zone)
        self._prefix = prefix
        self._budgets = [_Compiled(spec) for spec in budgets.limits]
        # A client's admission demands stay the same until the first of their periods ends:
        # per request a dict look-up (bounded like the policy's caches).
        self._admissions: dict[tuple[str, str], tuple[float, tuple[BudgetDemand, ...]]] = {}
        self._known_token_counters: dict[
            tuple[str, str], tuple[float, tuple[BudgetDemand, ...]]
        ] = {}

    def _current(self, compiled: _Compiled, now: float) -> Period:
        if now >= compiled.period.ends:
            compiled.period = period_of(compiled.spec.period, now, self.zone)
        return compiled.period

    def _applying(self, tier: str) -> Iterable[_Compiled]:
        return (b for b in self._budgets if b.spec.tier is None or b.spec.tier == tier)

    def _key(self, spec: RateLimitBudget, unit: str, label: str, client: str, tier: str) -> str:
        scope = {BudgetScope.CLIENT: client, BudgetScope.TIER: tier, BudgetScope.GLOBAL: "*"}
        return f"{self._prefix}:bg:{spec.name}:{_KIND[unit]}:{label}:{scope[spec.scope]}"

    def admission(self, client: str, tier: str, now: float) -> tuple[BudgetDemand, ...]:
        """Checked before a request: one request each, and tokens left (need 1, charge 0)."""
        known = self._admissions.get((client, tier))
        if known is not None and now < known[0]:
            return known[1]
        demands = self._admission(client, tier, now)
        until = min((d.ends for d in demands), default=math.inf)
        return remember(self._admissions, (client, tier), (until, demands))[1]

    def _admission(self, client: str, tier: str, now: float) -> tuple[BudgetDemand, ...]:
        demands = []
        for compiled in self._applying(tier):
            spec, period = compiled.spec, self._current(compiled, now)
            for unit, limit, charge in ((REQUESTS, spec.requests, 1), (TOKENS, spec.tokens, 0)):
                if limit is not None:
                    key = self._key(spec, unit, period.label, client, tier)
                    demand = BudgetDemand(key, limit, 1, charge, period.ends, spec.name, unit)
                    demands.append(demand)
        return tuple(demands)

    def token_counters(self, client: str, tier: str, now: float) -> tuple[BudgetDemand, ...]:
        """The token counters an answer's tokens are charged to (each with a charge of 0:
        the caller passes the amount, so no demand is made per answer), in the period it
        ended in. They never refuse. Worked out once per client and period, as the
        admission's are."""
        known = self._known_token_counters.get((client, tier))
        if known is None or now >= known[0]:
            zero = self._token_counters(client, tier, now)
            until = min((d.ends for d in zero), default=math.inf)
            known = remember(self._known_token_counters, (client, tier), (until, zero))
        return known[1]

    def _token_counters(self, client: str, tier: str, now: float) -> tuple[BudgetDemand, ...]:
        """The token counters an answer is charged to, each with a charge of 0."""
        charges = []
        for compiled in self._applying(tier):
            spec, period = compiled.spec, self._current(compiled, now)
            if spec.tokens is not None:
                key = self._key(spec, TOKENS, period.label, client, tier)
                charges.append(BudgetDemand(key, None, 0, 0, period.ends, spec.name, TOKENS))
        return tuple(charges)

    def resets_at(self, demand: BudgetDemand) -> str:
        return datetime.fromtimestamp(demand.ends, self.zone).isoformat()


class BudgetCounters:
    """In-memory budget counters of one process (the Redis script keeps the same in Redis)."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}
        self._ends: dict[str, float] = {}

    def room(self, demands: Sequence[BudgetDemand]) -> tuple[list[int], int] | None:
        """What each counter holds now, and which one ``tightest`` would choose once they
        are charged (-1: none has a limit); None when one of them has no room left. One
        pass, unpacked: this runs on every budgeted request."""
        used = self._used
        held: list[int] = []
        chosen, least = -1, math.inf
        for d in demands:
            key, limit, need, charge, _, _, _ = d
            value = used.get(key, 0)
            if limit is not None:
                if value + need > limit:
                    return None
                left = limit - value - charge
                share = left / limit if left > 0 else 0.0  # as ``tightest``
                if share < least:
                    chosen, least = len(held), share
            held.append(value)
        return held, chosen

    def charge_fitting(
        self, demands: Sequence[BudgetDemand], held: list[int], chosen: int, now: float
    ) -> Verdict | None:
        """Charge demands that all fit (``held`` and ``chosen``: ``room``'s answer); the
        verdict of the tightest (the only one the headers can report), or None."""
        used, ends = self._used, self._ends
        for i in range(len(demands)):  # by index: mypyc compiles this loop, not a zip
            d = demands[i]
            if d.charge:
                used[d.key] = held[i] + d.charge
                ends[d.key] = d.ends
        if chosen < 0:
            return None
        d, value = demands[chosen], held[chosen]
        # ``judge``'s verdict for a demand that fits, written out (a call less per request).
        left = d.ends - now
        return Verdict(d.key, d.limit, value, 0.0, left if left > 0 else 0.0, d.charge)

    def verdicts(self, demands: Sequence[BudgetDemand], now: float) -> list[Verdict]:
        """Each counter's verdict when the request is refused (nothing charged)."""
        used = self._used
        return [judge(d, used.get(d.key, 0), now) for d in demands]

    def charge(self, demands: Sequence[BudgetDemand], tokens: int = 0) -> None:
        """Add each demand's charge plus ``tokens`` (an answer's, charged to its token
        counters)."""
        used, ends = self._used, self._ends
        for d in demands:
            amount = d.charge + tokens
            if amount:
                used[d.key] = used.get(d.key, 0) + amount
                ends[d.key] = d.ends

    def sweep(self, now: float) -> int:
        """Forget counters of periods that have ended; returns how many remain."""
        for key in [key for key, ends in self._ends.items() if ends <= now]:
            del self._used[key], self._ends[key]
        return len(self._used)
