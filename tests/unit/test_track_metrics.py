"""``kubectl modelops status --tracks``: the two tracks' metrics side by side."""

import math

from modelops.api.spec import MetricPreset
from modelops.health.tracks import analysis_address, track_lines

VALUES = {
    (MetricPreset.ERROR_RATE, "stable"): 0.01,
    (MetricPreset.ERROR_RATE, "canary"): 0.5,
    (MetricPreset.P99_LATENCY, "stable"): 0.120,
    (MetricPreset.P99_LATENCY, "canary"): math.nan,
}


def test_side_by_side_with_dashes_where_prometheus_has_nothing() -> None:
    asked: list[tuple[str, str]] = []

    def ask(preset: MetricPreset, namespace: str, name: str, track: str) -> float | None:
        asked.append((namespace, name))
        return VALUES.get((preset, track))

    lines = track_lines(ask, "ml", "ranker")
    assert lines[0].split() == ["per", "track", "stable", "canary"]
    assert lines[1].split() == ["ErrorRate", "0.01", "0.5"]
    assert lines[2].split() == ["P99Latency", "0.12", "-"]
    assert lines[3].split() == ["TimeToFirstToken", "-", "-"]
    assert len(lines) == 5
    assert set(asked) == {("ml", "ranker")}


def test_the_analysis_address_is_the_default() -> None:
    metric = {"name": "e", "preset": "ErrorRate", "prometheus": {"address": "http://p:9090"}}
    spec = {"rollout": {"analysis": {"metrics": [metric]}}}
    assert analysis_address(spec) == "http://p:9090"
    assert analysis_address({"rollout": {}}) is None
    assert analysis_address({}) is None
