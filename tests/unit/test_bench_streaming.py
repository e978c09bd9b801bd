"""The streaming bench's reading of the gateway's event-loop lag: ticks counted between two
reads of the histogram, the bound 99% of them fired within, the share late by more than 5 ms."""

import math

from bench.gateway_streaming import lag_over

INF = math.inf


def test_only_the_ticks_between_the_two_reads_count() -> None:
    before = {0.001: 90.0, 0.005: 100.0, 0.01: 100.0, INF: 100.0}
    # 1,000 more ticks: 900 within 1 ms, 80 within 5 ms, 15 within 10 ms, 5 later.
    after = {0.001: 990.0, 0.005: 1080.0, 0.01: 1095.0, INF: 1100.0}
    lag = lag_over(before, after)
    assert lag.ticks == 1000
    assert lag.p99_ms == 10.0  # 995 of 1,000 within 10 ms, 980 within 5 ms
    assert math.isclose(lag.late_share, 20 / 1000)


def test_a_tail_past_the_last_bound_reads_as_unbounded() -> None:
    lag = lag_over({}, {0.001: 50.0, 2.5: 90.0, INF: 100.0})
    assert lag.p99_ms == INF
    assert math.isclose(lag.late_share, 0.5)


def test_no_ticks_read_as_unknown() -> None:
    lag = lag_over({0.001: 5.0, INF: 5.0}, {0.001: 5.0, INF: 5.0})
    assert lag.ticks == 0 and math.isnan(lag.p99_ms)
