"""The preset queries, exactly: they are the contract with the gateway's metric names."""

import pytest

from modelops.api.spec import MetricCheck, MetricPreset
from modelops.health.presets import metric_query, preset_query

SEL = 'namespace="ml",instance_name="sentiment",track="canary"'


def test_error_rate_is_the_share_of_5xx() -> None:
    assert preset_query(MetricPreset.ERROR_RATE, "ml", "sentiment") == (
        f'(sum(rate(modelops_gateway_requests_total{{{SEL},code=~"5.."}}[1m])) or vector(0))'
        f" / sum(rate(modelops_gateway_requests_total{{{SEL}}}[1m]))"
    )


def test_p99_latency_is_a_histogram_quantile() -> None:
    assert preset_query(MetricPreset.P99_LATENCY, "ml", "sentiment") == (
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(modelops_gateway_request_duration_seconds_bucket{{{SEL}}}[1m])))"
    )


def test_time_to_first_token_is_its_p99() -> None:
    assert preset_query(MetricPreset.TIME_TO_FIRST_TOKEN, "ml", "sentiment") == (
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(modelops_gateway_time_to_first_token_seconds_bucket{{{SEL}}}[1m])))"
    )


def test_tokens_per_second_is_the_mean_of_the_streams() -> None:
    assert preset_query(MetricPreset.TOKENS_PER_SECOND, "ml", "sentiment") == (
        f"sum(rate(modelops_gateway_tokens_per_second_sum{{{SEL}}}[1m]))"
        f" / sum(rate(modelops_gateway_tokens_per_second_count{{{SEL}}}[1m]))"
    )


def test_track_and_window_are_used() -> None:
    query = preset_query(MetricPreset.P99_LATENCY, "ns", "x", track="stable", window="5m")
    assert query == (
        "histogram_quantile(0.99, sum by (le) (rate(modelops_gateway_request_duration_seconds"
        '_bucket{namespace="ns",instance_name="x",track="stable"}[5m])))'
    )


def test_label_values_are_escaped() -> None:
    query = preset_query(MetricPreset.P99_LATENCY, 'a"b', "c\\d")
    assert 'namespace="a\\"b",instance_name="c\\\\d"' in query


@pytest.mark.parametrize("window", ["", "1", "1 m", "1m]) or vector(1", "m"])
def test_a_bad_window_is_refused(window: str) -> None:
    with pytest.raises(ValueError, match="not a PromQL duration"):
        preset_query(MetricPreset.ERROR_RATE, "ml", "sentiment", window=window)


def test_metric_query_uses_the_preset_or_the_checks_own_query() -> None:
    preset = MetricCheck.model_validate(
        {
            "name": "errors",
            "prometheus": {"address": "http://prometheus:9090"},
            "preset": "ErrorRate",
            "max": 0.05,
        }
    )
    assert metric_query(preset, "ml", "sentiment") == (
        "http://prometheus:9090",
        preset_query(MetricPreset.ERROR_RATE, "ml", "sentiment"),
    )
    own = MetricCheck.model_validate(
        {"name": "own", "prometheus": {"address": "http://p:9090", "query": "up"}, "min": 1}
    )
    assert metric_query(own, "ml", "sentiment") == ("http://p:9090", "up")
