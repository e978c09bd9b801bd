"""Prometheus metrics of one gateway, labelled by ``track`` so canary analysis can compare.

The series of answers (requests, durations, tokens, time to first token, tokens per second)
also say ``traffic``: ``live`` for an answer a client received, ``mirrored`` for a shadow copy
whose answer was discarded. The analysis presets sum over both, so a shadow step judges a
canary no user has seen; a dashboard can tell them apart.

Each gateway owns its registry instead of using the process-wide default one, so tests can run
several gateways in one process and read each one's numbers. Labels are bounded: tiers come
from the policy (at most 32), codes from HTTP, never client ids.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

from modelops.gateway.series import (
    CounterFamily,
    CounterSeries,
    HistogramFamily,
    HistogramSeries,
)

if TYPE_CHECKING:  # the operator side reads this module's names: keep its imports light
    from modelops.gateway.budgets import BudgetDemand

PREFIX = "modelops_gateway_"
# The ``traffic`` label's values: an answer a client received, or a discarded shadow copy's.
LIVE, MIRRORED = "live", "mirrored"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TPS_BUCKETS = (1, 5, 10, 20, 40, 80, 160, 320, 640, 1280)
# Event-loop lag: from keeping up (under a millisecond) to stalled (seconds).
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


@dataclass(frozen=True)
class Generated:
    tokens: CounterSeries
    ttft: HistogramSeries
    tokens_per_second: HistogramSeries


class Metrics:
    def __init__(self, track: str) -> None:
        self.track = track
        self.registry = CollectorRegistry()
        r = self.registry
        # The series every answer updates: lock-free families (modelops.gateway.series).
        self.requests = CounterFamily(
            PREFIX + "requests",
            "Requests answered, by tier, status code and track.",
            ["tier", "code", "track", "traffic"],
        )
        self.latency = HistogramFamily(
            PREFIX + "request_duration_seconds",
            "Time from request to the end of the answer.",
            ["tier", "track", "traffic"],
            LATENCY_BUCKETS,
        )
        self.ttft = HistogramFamily(
            PREFIX + "time_to_first_token_seconds",
            "Streamed answers: time from request to the first chunk from the model.",
            ["tier", "track", "traffic"],
            LATENCY_BUCKETS,
        )
        self.tokens_per_second = HistogramFamily(
            PREFIX + "tokens_per_second",
            "Streamed answers: completion tokens over the time after the first chunk.",
            ["tier", "track", "traffic"],
            TPS_BUCKETS,
        )
        self.tokens = CounterFamily(
            PREFIX + "tokens",
            "LLM tokens charged, from the answers' usage.",
            ["tier", "track", "traffic"],
        )
        self.budget_used = CounterFamily(
            PREFIX + "budget_used",
            "Units charged to calendar budgets, by budget, tier and unit (requests, tokens).",
            ["budget", "tier", "unit", "track"],
        )
        self.event_loop_lag = HistogramFamily(
            PREFIX + "event_loop_lag_seconds",
            "How late the event loop ran a timer due every 10 ms: what each request and "
            "streamed chunk waits for its turn (a saturated or stalled sidecar).",
            ["track"],
            LOOP_LAG_BUCKETS,
        )
        for family in (
            self.requests,
            self.latency,
            self.ttft,
            self.tokens_per_second,
            self.tokens,
            self.budget_used,
            self.event_loop_lag,
        ):
            r.register(family)
        self.limited = Counter(
            PREFIX + "rate_limited",
            "Requests refused with 429, by tier and limit.",
            ["tier", "limit", "track"],
            registry=r,
        )
        self.breaker_state = Gauge(
            PREFIX + "breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["upstream"],
            registry=r,
        )
        self.upstream_failures = Counter(
            PREFIX + "upstream_failures",
            "Failed upstream attempts, by upstream and reason.",
            ["upstream", "reason"],
            registry=r,
        )
        self.redis_errors = Counter(
            PREFIX + "redis_errors",
            "Rate-limit checks that Redis could not answer.",
            ["failure_mode"],
            registry=r,
        )
        self.policy_reloads = Counter(
            PREFIX + "policy_reloads",
            "Policy file loads, by result (keys_*: the API keys file).",
            ["result"],
            registry=r,
        )
        # The per-request series are looked up once and kept (label values are bounded, see
        # above): a look-up builds the label tuple, the status code's text included.
        self._answered: dict[tuple[str, int, str], tuple[CounterSeries, HistogramSeries]] = {}
        self._budgets: dict[tuple[str, str, str], CounterSeries] = {}
        self._generated: dict[tuple[str, str], Generated] = {}
        self._breakers: dict[str, tuple[Gauge, int]] = {}  # the gauge, and the value it shows

    def answered(self, tier: str, status: int, seconds: float, traffic: str = LIVE) -> None:
        """One request done: count it by status and observe its duration."""
        children = self._answered.get((tier, status, traffic))
        if children is None:
            children = (
                self.requests.series(tier, str(status), self.track, traffic),
                self.latency.series(tier, self.track, traffic),
            )
            self._answered[tier, status, traffic] = children
        children[0].inc()
        children[1].observe(seconds)

    def generated(self, tier: str, traffic: str) -> "Generated":
        """The token series of one tier's answers (tokens, time to first token, tokens per
        second), bound once like ``answered``'s."""
        children = self._generated.get((tier, traffic))
        if children is None:
            children = Generated(
                self.tokens.series(tier, self.track, traffic),
                self.ttft.series(tier, self.track, traffic),
                self.tokens_per_second.series(tier, self.track, traffic),
            )
            self._generated[tier, traffic] = children
        return children

    def show_breaker(self, upstream: str, value: int) -> None:
        """Set one upstream's breaker-state gauge; most answers leave the state as it was,
        and then the gauge (a lock per set) is not touched."""
        known = self._breakers.get(upstream)
        if known is None:
            known = self._breakers[upstream] = (self.breaker_state.labels(upstream), -1)
        if known[1] != value:
            known[0].set(value)
            self._breakers[upstream] = (known[0], value)

    def budgets_charged(
        self, budgets: Iterable["BudgetDemand"], tier: str, tokens: int = 0
    ) -> None:
        """Count what ``budgets`` were charged (each its ``charge``, plus ``tokens``: see
        ``Backend.charge``): one call for all of a request's budgets, as it runs per
        request."""
        known = self._budgets
        for budget in budgets:
            amount = budget.charge + tokens
            if not amount:
                continue
            series = known.get((budget.budget, tier, budget.unit))
            if series is None:
                series = self.budget_used.series(budget.budget, tier, budget.unit, self.track)
                known[budget.budget, tier, budget.unit] = series
            series.value += amount  # ``inc`` written out: no call per budget
