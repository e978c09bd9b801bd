"""``kubectl modelops status NAME --tracks``: the per-track gateway metrics side by side.

An A/B test (a hold step) is decided by a person comparing the versions: this asks Prometheus
the analysis presets' queries for each track (the same queries the analysis runs) and prints
them in two columns. Where Prometheus has nothing (no traffic on a track yet), a dash.
"""

import math
from collections.abc import Callable

from modelops.api.spec import MetricPreset
from modelops.health.presets import preset_query
from modelops.health.prometheus import PrometheusError, query_scalar

TRACKS = ("stable", "canary")
SHOWN = (
    MetricPreset.ERROR_RATE,
    MetricPreset.P99_LATENCY,
    MetricPreset.TIME_TO_FIRST_TOKEN,
    MetricPreset.TOKENS_PER_SECOND,
)

# (preset, namespace, name, track) -> the value now, or None when Prometheus has none.
Ask = Callable[[MetricPreset, str, str, str], float | None]


def _shown(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4g}"


def track_lines(ask: Ask, namespace: str, name: str) -> list[str]:
    lines = [f"  {'per track':<18} {TRACKS[0]:>12} {TRACKS[1]:>12}"]
    for preset in SHOWN:
        values = [_shown(ask(preset, namespace, name, track)) for track in TRACKS]
        lines.append(f"  {preset.value:<18} {values[0]:>12} {values[1]:>12}")
    return lines


def prometheus_asker(address: str) -> Ask:
    """Ask the Prometheus at ``address`` (errors and missing data become None: a dash)."""

    def ask(preset: MetricPreset, namespace: str, name: str, track: str) -> float | None:
        try:
            return query_scalar(address, preset_query(preset, namespace, name, track))
        except PrometheusError:
            return None

    return ask


def analysis_address(spec: dict[str, object]) -> str | None:
    """The Prometheus the ModelService's analysis asks, if it names one."""
    rollout = spec.get("rollout")
    analysis = rollout.get("analysis") if isinstance(rollout, dict) else None
    metrics = analysis.get("metrics") if isinstance(analysis, dict) else None
    for metric in metrics if isinstance(metrics, list) else []:
        address = (metric.get("prometheus") or {}).get("address")
        if address:
            return str(address)
    return None
