"""The paired bench's verdict: the median of per-round differences, each round's baseline and
target compared with each other only (issues 15 and 16's p99 goals)."""

import pytest
from bench.gateway import Settings
from bench.gateway_paired import CONTROL, Pair, Phase, report


def _round(baseline_p99: float, target_p99: float, steal: float = 0.0) -> tuple[Phase, Phase]:
    return (
        Phase("gateway-memory", 1.0, baseline_p99, steal, 0),
        Phase("gateway-keys", 1.0, target_p99, steal, 0),
    )


def test_the_median_difference_decides_and_one_stolen_round_does_not() -> None:
    pair = Pair("gateway-keys", "gateway-memory", 0.5)
    # Rounds on a quiet and on a stolen machine: each compares its own two phases.
    pair.rounds = [_round(2.0, 2.3), _round(9.0, 9.2), _round(2.1, 2.5), _round(2.0, 30.0, 0.4)]
    assert pair.added_ms == pytest.approx([0.3, 0.2, 0.4, 28.0])
    assert pair.median_ms == pytest.approx(0.35)
    assert pair.met


def test_a_cost_in_most_rounds_is_not_met_and_the_report_says_how_many_met() -> None:
    pair = Pair("gateway-keys", "gateway-memory", 0.5)
    pair.rounds = [_round(2.0, 3.0), _round(2.0, 2.2), _round(2.0, 3.5)]
    assert not pair.met
    settings = Settings(4.0, 4.0, 1.0, 32, 1000.0, pin=True, stub="nginx")
    line = next(line for line in report([pair], settings) if line.startswith("gateway-keys "))
    assert "+1.00ms" in line
    assert "1/3" in line
    assert "not met" in line


def test_the_control_pair_has_no_verdict() -> None:
    pair = Pair(CONTROL, "gateway-memory", float("inf"))
    pair.rounds = [_round(2.0, 3.0), _round(2.0, 1.0)]
    settings = Settings(4.0, 4.0, 1.0, 32, 1000.0, pin=True, stub="nginx")
    line = next(line for line in report([pair], settings) if line.startswith(CONTROL))
    assert "  - (control" in line
