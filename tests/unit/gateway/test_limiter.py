"""The sliding window: exact bound in every window, retry times that really free room."""

from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.gateway.limiter import (
    BUCKETS,
    Demand,
    Outcome,
    SlidingWindows,
    Verdict,
)

WINDOW = 60.0


def request(key: str = "c", limit: int | None = 3, cost: int = 1) -> Demand:
    return Demand(key, limit, cost, cost)


def test_admits_up_to_the_limit_then_refuses() -> None:
    windows = SlidingWindows()
    results = [windows.acquire([request()], 10.0, WINDOW).allowed for _ in range(4)]
    assert results == [True, True, True, False]


def test_refusal_says_when_room_comes_back() -> None:
    windows = SlidingWindows()
    for _ in range(3):
        windows.acquire([request()], 10.0, WINDOW)
    refused = windows.acquire([request()], 30.0, WINDOW)
    assert not refused.allowed
    verdict = refused.binding()
    assert verdict is not None
    # The bucket holding t=10 s is [10, 11); it leaves the window at 11 + 60.
    assert verdict.retry_after == 71.0 - 30.0
    assert not windows.acquire([request()], 30.0 + verdict.retry_after - 0.01, WINDOW).allowed
    assert windows.acquire([request()], 30.0 + verdict.retry_after, WINDOW).allowed


def test_no_double_burst_across_the_window_edge() -> None:
    """A fixed window would admit 3 at t=59 and 3 more at t=61; a sliding one must not."""
    windows = SlidingWindows()
    for _ in range(3):
        assert windows.acquire([request()], 59.0, WINDOW).allowed
    assert not windows.acquire([request()], 61.0, WINDOW).allowed


def test_all_or_nothing_across_counters() -> None:
    windows = SlidingWindows()
    both = [request("client", 5), request("global", 1)]
    assert windows.acquire(both, 0.0, WINDOW).allowed
    refused = windows.acquire(both, 0.0, WINDOW)
    assert not refused.allowed
    # The client's counter was not charged by the refused request.
    assert [v.used for v in refused.verdicts] == [1, 1]


def test_token_budget_checks_before_and_charges_after() -> None:
    windows = SlidingWindows()
    budget = Demand("tokens", 100, need=1, charge=0)
    assert windows.acquire([budget], 0.0, WINDOW).allowed
    windows.acquire([Demand("tokens", None, 0, 150)], 1.0, WINDOW)  # the answer's usage
    refused = windows.acquire([budget], 2.0, WINDOW)
    assert not refused.allowed
    assert refused.verdicts[0].used == 150


def test_no_limit_never_refuses_and_zero_limit_always_does() -> None:
    windows = SlidingWindows()
    assert all(windows.acquire([request(limit=None)], 0.0, WINDOW).allowed for _ in range(50))
    assert not windows.acquire([request("z", limit=0)], 0.0, WINDOW).allowed


def test_cost_above_limit_is_refused_for_a_window() -> None:
    refused = SlidingWindows().acquire([request(limit=3, cost=5)], 0.0, WINDOW)
    assert not refused.allowed
    assert refused.verdicts[0].retry_after == WINDOW


def test_headers_report_remaining_after_this_request() -> None:
    windows = SlidingWindows()
    outcome = windows.acquire([request(limit=3)], 0.0, WINDOW)
    verdict = outcome.binding()
    assert verdict is not None
    assert (verdict.limit, verdict.remaining) == (3, 2)


def reference_binding(outcome: Outcome) -> Verdict | None:
    """``binding`` as its docstring says it, plainly: the refusing verdict that frees last,
    else the one with the least share of its limit left; the first of equals; no limit, no
    part."""
    limited = [v for v in outcome.verdicts if v.limit is not None]
    refusing = [v for v in limited if v.retry_after > 0]
    if refusing:
        return next(v for v in refusing if v.retry_after == max(r.retry_after for r in refusing))

    def share(v: Verdict) -> float:
        return v.remaining / v.limit if v.limit else 0.0

    return min(limited, key=share, default=None)


verdicts = st.builds(
    Verdict,
    key=st.sampled_from(["a", "b"]),
    limit=st.one_of(st.none(), st.integers(0, 12)),
    used=st.integers(0, 14),
    retry_after=st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5]),
    reset_after=st.just(1.0),
    charged=st.integers(0, 2),
)


@settings(max_examples=2000)
@given(st.lists(verdicts, max_size=6), st.booleans())
def test_the_binding_verdict_is_the_tightest(checked: list[Verdict], allowed: bool) -> None:
    outcome = Outcome(allowed, tuple(checked))
    assert outcome.binding() is reference_binding(outcome)


def test_sweep_forgets_idle_clients() -> None:
    windows = SlidingWindows()
    windows.acquire([request("a")], 0.0, WINDOW)
    windows.acquire([request("b")], 50.0, WINDOW)
    assert windows.sweep(65.0) == 1
    assert list(windows.keys()) == ["b"]


arrivals = st.lists(
    st.tuples(
        # Integer milliseconds as gaps: float sums of them are exact, so the test's window
        # arithmetic and the limiter's agree bit for bit.
        st.integers(min_value=0, max_value=40_000),
        st.integers(min_value=1, max_value=7),
    ),
    min_size=1,
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(
    gaps=arrivals,
    limit=st.integers(min_value=1, max_value=20),
    window_ms=st.sampled_from([1_000, 7_000, 60_000, 61_000]),
)
def test_no_window_admits_more_than_the_limit(
    gaps: list[tuple[int, int]], limit: int, window_ms: int
) -> None:
    windows = SlidingWindows()
    window = window_ms / 1000
    now_ms = 0
    admitted: list[tuple[int, int]] = []
    for gap, cost in gaps:
        now_ms += gap
        outcome: Outcome = windows.acquire([request(limit=limit, cost=cost)], now_ms / 1000, window)
        if outcome.allowed:
            admitted.append((now_ms, cost))
    # The heaviest window of length W starts at an admitted arrival: check each such window.
    for start, _ in admitted:
        in_window = sum(c for t, c in admitted if start <= t < start + window_ms)
        assert in_window <= limit, (start, in_window)


@settings(max_examples=200, deadline=None)
@given(gaps=arrivals, limit=st.integers(min_value=1, max_value=20))
def test_a_refused_request_fits_at_its_retry_time(gaps: list[tuple[int, int]], limit: int) -> None:
    """Retry-After is not a guess: retrying exactly then is admitted."""
    windows = SlidingWindows()
    now = 0.0
    for gap, cost in gaps:
        now += gap / 1000
        outcome = windows.acquire([request(limit=limit, cost=cost)], now, WINDOW)
        if not outcome.allowed and cost <= limit:
            retry = outcome.verdicts[0].retry_after
            assert 0 < retry <= WINDOW + WINDOW / BUCKETS
            probe = windows.copy()
            assert probe.acquire([request(limit=limit, cost=cost)], now + retry, WINDOW).allowed


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=20_000),  # gap, ms
            st.booleans(),  # True: an answer's tokens are charged; False: a request is checked
            st.integers(min_value=1, max_value=9),
        ),
        min_size=1,
        max_size=200,
    )
)
def test_charging_alone_leaves_every_later_check_as_a_full_acquire_would(
    events: list[tuple[int, bool, int]],
) -> None:
    """``charge`` skips the check and the verdicts a charge-only ``acquire`` would make; the
    counters it leaves must judge every later request the same."""
    quick, full = SlidingWindows(), SlidingWindows()
    now_ms = 0
    for gap, charging, amount in events:
        now_ms += gap
        now = now_ms / 1000
        if charging:
            # As the gateway charges an answer: the counter with a charge of 0, the tokens
            # beside it; the same charge as a full acquire of a demand that charges them.
            quick.charge([Demand("tk", None, 0, 0)], now, WINDOW, amount)
            full.acquire([Demand("tk", None, 0, amount)], now, WINDOW)
        else:
            check = [Demand("tk", 20, 1, 0), Demand("rq", 5, 1, 1)]
            assert quick.acquire(check, now, WINDOW) == full.acquire(check, now, WINDOW)


def test_verdicts_and_outcomes_compare_by_their_fields() -> None:
    made = Verdict("rq:c", 5, 2, 0.0, 30.0, 1)
    assert made == Verdict("rq:c", 5, 2, 0.0, 30.0, 1)
    assert made != Verdict("rq:c", 5, 2, 0.0, 30.0, 0)
    assert hash(made) == hash(Verdict("rq:c", 5, 2, 0.0, 30.0, 1))
    assert made.remaining == 2 and made.fits
    assert made.uncharged() == Verdict("rq:c", 5, 2, 0.0, 30.0, 0)
    refused = Verdict("rq:c", 5, 5, 1.5, 30.0)
    assert refused.uncharged() is refused
    assert repr(made) == (
        "Verdict(key='rq:c', limit=5, used=2, retry_after=0.0, reset_after=30.0, charged=1)"
    )
    outcome = Outcome(True, (made,))
    assert outcome == Outcome(True, (Verdict("rq:c", 5, 2, 0.0, 30.0, 1),))
    assert outcome != Outcome(False, (made,))
    assert outcome.binding() is made
