"""Calendar budgets on a fake clock: spent, refused until the period ends, then reset."""

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from modelops.api.spec import BudgetPeriod, RateLimit
from modelops.gateway.backend import MemoryBackend
from modelops.gateway.budgets import BudgetCounters, BudgetDemand, judge, period_of, tightest
from modelops.gateway.limiter import Demand, Outcome, Verdict
from modelops.gateway.policy import Policy

PARIS = ZoneInfo("Europe/Paris")


def at(text: str, zone: ZoneInfo = PARIS) -> float:
    """Seconds since the epoch of a local wall-clock time in ``zone``."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


@pytest.mark.parametrize(
    ("kind", "local", "label", "next_start"),
    [
        (BudgetPeriod.DAY, "2026-12-01T23:59:59", "2026-12-01", "2026-12-02T00:00:00"),
        (BudgetPeriod.DAY, "2026-12-02T00:00:00", "2026-12-02", "2026-12-03T00:00:00"),
        (BudgetPeriod.DAY, "2026-12-31T12:00:00", "2026-12-31", "2027-01-01T00:00:00"),
        (BudgetPeriod.MONTH, "2026-12-31T23:59:59", "2026-12", "2027-01-01T00:00:00"),
        (BudgetPeriod.MONTH, "2026-01-31T23:00:00", "2026-01", "2026-02-01T00:00:00"),
        (BudgetPeriod.MONTH, "2028-02-29T10:00:00", "2028-02", "2028-03-01T00:00:00"),
        (BudgetPeriod.MONTH, "2026-04-30T23:59:59", "2026-04", "2026-05-01T00:00:00"),
        (BudgetPeriod.MONTH, "2026-05-01T00:00:00", "2026-05", "2026-06-01T00:00:00"),
    ],
)
def test_periods_follow_the_calendar_of_the_zone(
    kind: BudgetPeriod, local: str, label: str, next_start: str
) -> None:
    period = period_of(kind, at(local), PARIS)
    assert period.label == label
    assert period.ends == at(next_start)


def test_a_day_is_the_zone_s_day_not_utc_s() -> None:
    # 23:30 UTC on 1 December is already 2 December in Paris.
    moment = datetime(2026, 12, 1, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert period_of(BudgetPeriod.DAY, moment, PARIS).label == "2026-12-02"
    assert period_of(BudgetPeriod.DAY, moment, ZoneInfo("UTC")).label == "2026-12-01"


def test_the_day_clocks_go_forward_is_23_hours_long() -> None:
    period = period_of(BudgetPeriod.DAY, at("2026-03-29T01:00:00"), PARIS)
    assert period.ends - at("2026-03-29T00:00:00") == 23 * 3600


def _policy(budgets: list[dict[str, object]], **extra: object) -> Policy:
    spec = {"budgets": {"timeZone": "Europe/Paris", "limits": budgets}, **extra}
    return Policy.compile(RateLimit.model_validate(spec))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _ask(
    backend: MemoryBackend, policy: Policy, client: str, now: float, tier: str = "none"
) -> Outcome:
    who = policy.identify({"X-API-Key": client})
    assert who is not None
    assert policy.budgets is not None
    budgets = policy.budgets.admission(who.client_digest, tier, now)
    return asyncio.run(backend.acquire(policy.admission(who), policy.window, budgets))


def test_a_daily_budget_is_spent_then_reset_at_midnight() -> None:
    policy = _policy([{"name": "daily", "period": "Day", "requests": 3}])
    clock = Clock(at("2026-12-01T22:00:00"))
    backend = MemoryBackend(clock=clock, wall_clock=clock)
    assert [_ask(backend, policy, "a", clock.now).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    refused = _ask(backend, policy, "a", clock.now)
    verdict = refused.binding()
    assert verdict is not None
    assert verdict.retry_after == 2 * 3600  # until midnight in Paris
    assert _ask(backend, policy, "b", clock.now).allowed  # per client
    clock.now = at("2026-12-01T23:59:59")
    assert not _ask(backend, policy, "a", clock.now).allowed
    clock.now = at("2026-12-02T00:00:00")
    assert _ask(backend, policy, "a", clock.now).allowed


def test_a_monthly_budget_outlives_the_day_and_resets_on_the_first() -> None:
    policy = _policy([{"name": "monthly", "period": "Month", "requests": 1}])
    clock = Clock(at("2026-01-31T12:00:00"))
    backend = MemoryBackend(clock=clock, wall_clock=clock)
    assert _ask(backend, policy, "a", clock.now).allowed
    clock.now = at("2026-01-31T23:59:00")
    assert not _ask(backend, policy, "a", clock.now).allowed
    clock.now = at("2026-02-01T00:00:00")
    assert _ask(backend, policy, "a", clock.now).allowed


def test_tier_and_global_budgets_are_shared() -> None:
    policy = _policy(
        [
            {"name": "free-day", "period": "Day", "scope": "Tier", "tier": "free", "requests": 2},
            {"name": "all-day", "period": "Day", "scope": "Global", "requests": 3},
        ],
        tiers=[{"name": "free"}, {"name": "pro"}],
    )
    clock = Clock(at("2026-12-01T10:00:00"))
    backend = MemoryBackend(clock=clock, wall_clock=clock)
    free = [_ask(backend, policy, c, clock.now, "free").allowed for c in ("a", "b", "c")]
    assert free == [True, True, False]  # the tier's two, whoever spent them
    assert _ask(backend, policy, "d", clock.now, "pro").allowed  # third of the global three
    assert not _ask(backend, policy, "e", clock.now, "pro").allowed


def test_a_spent_budget_charges_no_window_and_a_full_window_no_budget() -> None:
    clock = Clock(at("2026-12-01T10:00:00"))
    backend = MemoryBackend(clock=clock, wall_clock=clock)
    window = [Demand("rl:a", 2, 1, 1)]
    budget = BudgetDemand("bg:a", 1, 1, 1, clock.now + 100, "daily", "requests")

    def ask(demands: list[Demand], budgets: list[BudgetDemand]) -> bool:
        return asyncio.run(backend.acquire(demands, 60.0, budgets)).allowed

    assert ask(window, [budget])
    assert not ask(window, [budget])  # budget spent: the window is not charged
    assert ask(window, [])  # so the window still has its second unit
    big = BudgetDemand("bg:b", 10, 1, 1, clock.now + 100, "big", "requests")
    assert not ask(window, [big])  # the window is full: the budget is not charged
    outcome = asyncio.run(backend.acquire([], 60.0, [big]))
    assert outcome.verdicts[0].used == 0


def test_tokens_are_charged_after_the_answer_and_refuse_the_next_request() -> None:
    policy = _policy([{"name": "tokens", "period": "Day", "tokens": 10}])
    clock = Clock(at("2026-12-01T10:00:00"))
    backend = MemoryBackend(clock=clock, wall_clock=clock)
    assert policy.budgets is not None
    assert _ask(backend, policy, "a", clock.now).allowed
    who = policy.identify({"X-API-Key": "a"})
    assert who is not None
    counters = policy.budgets.token_counters(who.client_digest, who.tier, clock.now)
    assert [c.charge for c in counters] == [0]  # the amount travels beside them
    backend.charge([], policy.window, pytest.fail, counters, tokens=12)
    assert not _ask(backend, policy, "a", clock.now).allowed


@pytest.mark.parametrize(
    ("budgets", "message"),
    [
        ({"limits": [{"name": "d", "period": "Day"}]}, "needs requests or tokens"),
        (
            {"limits": [{"name": "d", "period": "Day", "requests": 1}] * 2},
            "budget names must be unique",
        ),
        (
            {"timeZone": "Mars/Olympus", "limits": [{"name": "d", "period": "Day", "requests": 1}]},
            "unknown time zone",
        ),
    ],
)
def test_bad_budgets_are_refused(budgets: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RateLimit.model_validate({"budgets": budgets})


def test_a_budget_s_tier_must_exist() -> None:
    spec = {"budgets": {"limits": [{"name": "d", "period": "Day", "tier": "x", "requests": 1}]}}
    with pytest.raises(ValidationError, match="a budget's tier must name one of tiers"):
        RateLimit.model_validate(spec)


window_verdicts = st.lists(
    st.builds(
        Verdict,
        key=st.just("window"),
        limit=st.one_of(st.none(), st.integers(1, 20)),
        used=st.integers(0, 10),
        retry_after=st.just(0.0),
        reset_after=st.just(1.0),
        charged=st.integers(0, 1),
    ),
    max_size=2,
)
# A budget that fits: its limit, what it holds, its charge (1: requests; 0: tokens, checked).
budget_states = st.lists(
    st.tuples(st.integers(1, 30), st.integers(0, 29), st.integers(0, 1)).filter(
        lambda b: b[1] + 1 <= b[0]
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=1000)
@given(window_verdicts, budget_states)
def test_an_admitted_request_reports_as_if_every_budget_were_judged(
    windows: list[Verdict], states: list[tuple[int, int, int]]
) -> None:
    """An admitted request carries only its tightest budget's verdict: the headers
    (``binding``) must read the same as with a verdict for every budget."""
    now = at("2026-12-01T10:00:00")
    demands = [
        BudgetDemand(f"bg:{i}", limit, 1, charge, now + 3600 * (i + 1), f"b{i}", "requests")
        for i, (limit, _, charge) in enumerate(states)
    ]
    held = [used for _, used, _ in states]
    every = tuple(judge(d, used, now, charged=True) for d, used in zip(demands, held, strict=True))
    counters = BudgetCounters()
    counters.charge(  # what each budget holds before the request
        [d._replace(charge=used) for d, used in zip(demands, held, strict=True)]
    )
    room = counters.room(demands)
    assert room is not None and room[0] == held
    assert room[1] == tightest(demands, held)  # the Redis backend's choice (redis_script)
    lean = counters.charge_fitting(demands, room[0], room[1], now)
    assert lean is not None
    assert Outcome(True, (*windows, lean)).binding() == Outcome(True, (*windows, *every)).binding()
