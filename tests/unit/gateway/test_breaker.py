"""Circuit breaker transitions, with the time passed in."""

from modelops.gateway.breaker import Breaker, State


def opened(now: float = 0.0) -> Breaker:
    breaker = Breaker(threshold=3, cooldown=10.0)
    for _ in range(3):
        breaker.failure(now)
    return breaker


def test_opens_after_threshold_consecutive_failures() -> None:
    breaker = Breaker(threshold=3, cooldown=10.0)
    breaker.failure(0.0)
    breaker.failure(0.0)
    assert breaker.state == State.CLOSED
    assert breaker.allow(0.0)
    breaker.failure(0.0)
    assert breaker.state == State.OPEN
    assert not breaker.allow(5.0)


def test_success_resets_the_count() -> None:
    breaker = Breaker(threshold=3, cooldown=10.0)
    breaker.failure(0.0)
    breaker.failure(0.0)
    breaker.success()
    breaker.failure(0.0)
    breaker.failure(0.0)
    assert breaker.state == State.CLOSED


def test_half_open_lets_one_probe_through() -> None:
    breaker = opened()
    assert not breaker.allow(9.9)
    assert breaker.allow(10.0)
    assert breaker.state == State.HALF_OPEN
    assert not breaker.allow(10.0)  # a second request waits for the probe's verdict


def test_probe_success_closes() -> None:
    breaker = opened()
    assert breaker.allow(10.0)
    breaker.success()
    assert breaker.state == State.CLOSED
    assert breaker.allow(10.0)
    assert breaker.allow(10.0)


def test_probe_failure_reopens_for_another_cooldown() -> None:
    breaker = opened()
    assert breaker.allow(10.0)
    breaker.failure(10.0)
    assert breaker.state == State.OPEN
    assert not breaker.allow(19.9)
    assert breaker.allow(20.0)


def test_abandoned_probe_frees_the_slot() -> None:
    breaker = opened()
    assert breaker.allow(10.0)
    breaker.abandon()
    assert breaker.allow(10.5)
