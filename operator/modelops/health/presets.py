"""PromQL for the metric presets: the modelops gateway's per-track metrics of one ModelService.

Every model pod runs the gateway as a sidecar, and it labels its metrics only with ``track``
(stable|canary; see ``modelops.gateway.metrics``): it does not know which ModelService it
serves. Which one comes from the scrape. We assume Prometheus scrapes the pods with Kubernetes
service discovery and this relabelling (the Prometheus Operator's PodMonitor does the same with
``podTargetLabels``), so every series carries ``namespace`` and ``instance_name``:

    relabel_configs:
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance]
        target_label: instance_name

``app.kubernetes.io/instance`` is the ModelService's name on every pod it owns. Each query sums
over pods and tiers into one number, which is what ``query_scalar`` wants. Ratios over a window
without traffic are 0/0 = NaN, which the client reports as "no data" rather than as healthy.
"""

import re

from modelops.api.spec import MetricCheck, MetricPreset
from modelops.gateway.metrics import PREFIX

# PromQL durations: a number and a unit (Prometheus also accepts compound ones like 1m30s).
_WINDOW = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def _quote(value: str) -> str:
    """A PromQL string literal (names are DNS labels; escaping costs nothing and is safe)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _selector(namespace: str, name: str, track: str, extra: str = "") -> str:
    labels = f"namespace={_quote(namespace)},instance_name={_quote(name)},track={_quote(track)}"
    return "{" + labels + extra + "}"


def preset_query(
    preset: MetricPreset, namespace: str, name: str, track: str = "canary", window: str = "1m"
) -> str:
    if not _WINDOW.match(window):
        raise ValueError(f"not a PromQL duration: {window!r}")
    sel = _selector(namespace, name, track)

    def rate(metric: str, selector: str = sel) -> str:
        return f"sum(rate({PREFIX}{metric}{selector}[{window}]))"

    def p99(histogram: str) -> str:
        buckets = f"rate({PREFIX}{histogram}_bucket{sel}[{window}])"
        return f"histogram_quantile(0.99, sum by (le) ({buckets}))"

    match preset:
        case MetricPreset.ERROR_RATE:
            # No 5xx series exists until a 5xx happens: "or vector(0)" keeps a healthy
            # canary at 0 instead of "no data".
            errors = rate("requests_total", _selector(namespace, name, track, ',code=~"5.."'))
            return f"({errors} or vector(0)) / {rate('requests_total')}"
        case MetricPreset.P99_LATENCY:
            return p99("request_duration_seconds")
        case MetricPreset.TIME_TO_FIRST_TOKEN:
            return p99("time_to_first_token_seconds")
        case MetricPreset.TOKENS_PER_SECOND:
            # The mean of the streams' rates: sum of observations over their count.
            return f"{rate('tokens_per_second_sum')} / {rate('tokens_per_second_count')}"


# What each preset counts as one observation: requests, or streams for the token presets.
_OBSERVATIONS = {
    MetricPreset.ERROR_RATE: "requests_total",
    MetricPreset.P99_LATENCY: "request_duration_seconds_count",
    MetricPreset.TIME_TO_FIRST_TOKEN: "time_to_first_token_seconds_count",
    MetricPreset.TOKENS_PER_SECOND: "tokens_per_second_count",
}


def sample_count_query(
    preset: MetricPreset, namespace: str, name: str, track: str, window: str
) -> str:
    """PromQL for how many observations the preset's value rests on in ``window``: a baseline
    comparison is inconclusive below ``minSamples`` on either track."""
    if not _WINDOW.match(window):
        raise ValueError(f"not a PromQL duration: {window!r}")
    selector = _selector(namespace, name, track)
    return f"sum(increase({PREFIX}{_OBSERVATIONS[preset]}{selector}[{window}]))"


def metric_query(check: MetricCheck, namespace: str, name: str) -> tuple[str, str]:
    """(Prometheus address, PromQL) for one analysis check of the ModelService's canary."""
    if check.preset is not None:
        return check.prometheus.address, preset_query(check.preset, namespace, name)
    if check.prometheus.query is None:
        # The API's rules make this unreachable; say so plainly if they ever do not.
        raise ValueError(f"metric {check.name}: neither preset nor prometheus.query is set")
    return check.prometheus.address, check.prometheus.query
