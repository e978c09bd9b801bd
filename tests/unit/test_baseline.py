"""Baseline comparison (MetricCheck.baseline): the canary against stable over the same window."""

import pytest
from pydantic import ValidationError

from modelops.api.spec import Baseline, MetricCheck, MetricPreset
from modelops.commands import describe
from modelops.health import analysis
from modelops.health.baseline import TrackMeasure, compare_with_stable
from modelops.health.presets import preset_query, sample_count_query
from modelops.health.prometheus import NoDataError
from modelops.manifests import parse_model_service
from tests.support.samples import model_service

PROMETHEUS = {"address": "http://prometheus:9090"}
ERRORS = Baseline(max_ratio=1.2, margin=0.005, min_samples=100)


def compare(canary: float | None, stable: float | None, samples: float = 500) -> tuple:
    result = compare_with_stable(
        "errors", ERRORS, TrackMeasure(canary, samples), TrackMeasure(stable, samples)
    )
    return result.ok, result.value, result.baseline, result.message


def test_a_canary_within_the_ratio_and_margin_passes() -> None:
    # 1.2 x 1% + 0.5 points = 1.7%
    ok, value, baseline, message = compare(0.017, 0.01)
    assert (ok, value, baseline) == (True, 0.017, 0.01)
    assert "within stable's bounds" in message


def test_a_canary_above_the_bound_fails_and_says_the_bound() -> None:
    ok, _, _, message = compare(0.2, 0.01)
    assert ok is False
    assert message == "above stable 0.01 x 1.2 + 0.005 = 0.017"


def test_the_margin_keeps_a_clean_stable_from_failing_a_canary_for_one_error() -> None:
    assert compare(0.004, 0.0)[0] is True
    assert compare(0.006, 0.0)[0] is False


@pytest.mark.parametrize(
    ("canary", "stable", "short"),
    [(99, 500, "canary has 99"), (500, 0, "stable has 0"), (3, 4, "canary has 3, stable has 4")],
)
def test_too_few_samples_on_either_track_is_inconclusive(
    canary: float, stable: float, short: str
) -> None:
    # Values that would fail: too few samples is never a verdict, either way.
    result = compare_with_stable(
        "errors", ERRORS, TrackMeasure(0.5, canary), TrackMeasure(0.0, stable)
    )
    assert result.ok is None
    assert result.message == f"too few samples in 1m ({short}; minSamples 100)"


def test_no_value_on_a_track_is_inconclusive() -> None:
    ok, _, _, message = compare(0.01, None)
    assert ok is None
    assert message == "no value for stable in 1m"


def test_min_ratio_fails_a_slower_stream() -> None:
    tokens = Baseline(min_ratio=0.9, margin=1)
    slow = compare_with_stable("tps", tokens, TrackMeasure(80, 500), TrackMeasure(100, 500))
    fine = compare_with_stable("tps", tokens, TrackMeasure(90, 500), TrackMeasure(100, 500))
    assert (slow.ok, slow.message) == (False, "below stable 100 x 0.9 - 1 = 89")
    assert fine.ok is True


def check(**fields: object) -> MetricCheck:
    return MetricCheck.model_validate({"name": "m", "prometheus": PROMETHEUS, **fields})


def test_a_baseline_alone_is_a_bound() -> None:
    assert check(preset="ErrorRate", baseline={"maxRatio": 1.2}).baseline == Baseline(max_ratio=1.2)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"prometheus": {**PROMETHEUS, "query": "up"}, "baseline": {"maxRatio": 1.2}},
            "baseline compares the gateway's per-track series: it needs a preset",
        ),
        ({"preset": "ErrorRate", "baseline": {}}, "a baseline needs maxRatio or minRatio"),
        ({"preset": "ErrorRate"}, "a metric needs min, max or baseline"),
    ],
)
def test_bad_baselines_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        check(**fields)


@pytest.mark.parametrize("window", ["1m30s", "5d", "1 m", ""])
def test_the_window_is_a_simple_promql_range(window: str) -> None:
    with pytest.raises(ValidationError):
        Baseline(max_ratio=1, window=window)


def test_samples_are_counted_per_preset_and_track() -> None:
    query = sample_count_query(MetricPreset.P99_LATENCY, "ml", "m", "stable", "30s")
    assert query == (
        "sum(increase(modelops_gateway_request_duration_seconds_count"
        '{namespace="ml",instance_name="m",track="stable"}[30s]))'
    )


def spec_with(metric: dict[str, object]) -> object:
    body = model_service(
        "m", rollout={"steps": [{"weight": 10}], "analysis": {"metrics": [metric]}}
    )
    return parse_model_service(body).spec


def answers(monkeypatch: pytest.MonkeyPatch, known: dict[str, float]) -> list[str]:
    """Prometheus as a table of query -> value (anything else has no data); returns the
    queries asked."""
    asked: list[str] = []

    def query_scalar(address: str, query: str) -> float:
        asked.append(query)
        if query not in known:
            raise NoDataError("no series")
        return known[query]

    monkeypatch.setattr(analysis, "query_scalar", query_scalar)
    return asked


def measured(track: str, value: float, samples: float) -> dict[str, float]:
    preset = MetricPreset.ERROR_RATE
    return {
        preset_query(preset, "ml", "m", track, "30s"): value,
        sample_count_query(preset, "ml", "m", track, "30s"): samples,
    }


BASELINE_CHECK = {
    "name": "errors",
    "preset": "ErrorRate",
    "prometheus": PROMETHEUS,
    "baseline": {"maxRatio": 1.2, "margin": 0.005, "minSamples": 50, "window": "30s"},
}


def test_run_analysis_asks_both_tracks_over_the_same_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = answers(monkeypatch, measured("canary", 0.2, 300) | measured("stable", 0.01, 300))
    [result] = analysis.run_analysis(spec_with(BASELINE_CHECK), "ml", "m")
    assert (result.ok, result.value, result.baseline) == (False, 0.2, 0.01)
    assert len(asked) == 4 and all("[30s]" in query for query in asked)


def test_a_track_without_series_is_inconclusive_not_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    answers(monkeypatch, measured("canary", 0.0, 300))
    [result] = analysis.run_analysis(spec_with(BASELINE_CHECK), "ml", "m")
    assert result.ok is None
    assert "stable has 0" in result.message


def test_a_fixed_max_beside_the_baseline_still_fails_the_canary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stable is as bad as the canary, so the comparison alone would pass it.
    answers(monkeypatch, measured("canary", 0.3, 300) | measured("stable", 0.3, 300))
    [result] = analysis.run_analysis(spec_with({**BASELINE_CHECK, "max": 0.1}), "ml", "m")
    assert (result.ok, result.message, result.baseline) == (False, "above max 0.1", 0.3)
    answers(monkeypatch, measured("canary", 0.05, 300) | measured("stable", 0.01, 300))
    [result] = analysis.run_analysis(spec_with({**BASELINE_CHECK, "max": 0.1}), "ml", "m")
    assert (result.ok, result.message) == (False, "above stable 0.01 x 1.2 + 0.005 = 0.017")


def test_status_shows_stables_value_beside_the_canarys() -> None:
    result = {"name": "errors", "value": 0.2, "baseline": 0.01, "ok": False}
    body = {
        "metadata": {"namespace": "ml", "name": "m"},
        "status": {"phase": "Progressing", "analysis": {"results": [result]}},
    }
    assert "  metric   errors=0.2 (stable 0.01) FAILED" in describe(body).splitlines()
