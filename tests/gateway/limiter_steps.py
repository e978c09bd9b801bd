"""Arrivals for comparing the Redis script with the in-memory limiter, and the comparison."""

import random

import pytest

from modelops.gateway.limiter import Demand, Outcome


def arrivals(seed: int, prefix: str) -> list[tuple[float, list[Demand]]]:
    """120 steps of three clients; every key starts with ``prefix`` (fresh counters)."""
    rng = random.Random(seed)
    now = 1_700_000_000.0 + rng.random()
    steps = []
    for _ in range(120):
        now += rng.choice([0.0, 0.001, 0.3, 1.7, 9.0, 31.0])
        client = f"c{rng.randint(0, 2)}"
        if rng.random() < 0.25:
            # An answer's usage: charged, never refused.
            steps.append((now, [Demand(f"{prefix}tk:{client}", None, 0, rng.randint(1, 40))]))
        else:
            steps.append(
                (
                    now,
                    [
                        Demand(f"{prefix}rq:{client}", 4, 1, rng.randint(1, 2)),
                        Demand(f"{prefix}rq:*", 9, 1, 1),
                        Demand(f"{prefix}tk:{client}", 50, 1, 0),
                    ],
                )
            )
    return steps


def assert_same(got: Outcome, want: Outcome) -> None:
    assert got.allowed == want.allowed
    for g, w in zip(got.verdicts, want.verdicts, strict=True):
        assert (g.used, g.charged) == (w.used, w.charged)
        assert g.retry_after == pytest.approx(w.retry_after, abs=1e-6)
        assert g.reset_after == pytest.approx(w.reset_after, abs=1e-6)
