"""Run a ModelService's metric checks against Prometheus: one result per check.

No answer from Prometheus escapes as an exception: the rollout machine must see every outcome
to put it in status. Prometheus unreachable or without data gives an inconclusive result
(``ok`` unset); a query Prometheus refuses (bad PromQL, HTTP 400 ``bad_data``) is inconclusive
too, but marked ``error`` with the query in the message, so status and a Warning Event say
``AnalysisError`` and which query to fix. The machine decides what an inconclusive result
means (pause, or a failure, per ``analysis.inconclusive``).
"""

from modelops.api.spec import Baseline, MetricCheck, MetricPreset, ModelServiceSpec
from modelops.api.status import MetricResult
from modelops.health.baseline import TrackMeasure, compare_with_stable
from modelops.health.presets import metric_query, preset_query, sample_count_query
from modelops.health.prometheus import NoDataError, PrometheusError, QueryError, query_scalar

# Room in a status message for the query and Prometheus' own words about it.
_MESSAGE_CHARS = 600


def _judge(check: MetricCheck, value: float) -> MetricResult:
    if check.min is not None and value < check.min:
        return MetricResult(
            name=check.name, value=value, ok=False, message=f"below min {check.min}"
        )
    if check.max is not None and value > check.max:
        return MetricResult(
            name=check.name, value=value, ok=False, message=f"above max {check.max}"
        )
    return MetricResult(name=check.name, value=value, ok=True, message="within bounds")


def _measure(
    address: str, preset: MetricPreset, baseline: Baseline, namespace: str, name: str, *, track: str
) -> TrackMeasure:
    """A track's value and observation count over the baseline's window; no data is no value
    (and, for the count, none observed), which the comparison calls inconclusive."""
    window = baseline.window
    try:
        value: float | None = query_scalar(
            address, preset_query(preset, namespace, name, track, window)
        )
    except NoDataError:
        value = None
    try:
        samples = query_scalar(address, sample_count_query(preset, namespace, name, track, window))
    except NoDataError:
        samples = 0.0
    return TrackMeasure(value, samples)


def _against_stable(
    check: MetricCheck, baseline: Baseline, namespace: str, name: str
) -> MetricResult:
    """A check with a baseline: min/max (if any) on the canary's value over the baseline's
    window, then the comparison with stable's value over that same window."""
    preset = check.preset
    if preset is None:
        # The API's rules make this unreachable; say so plainly if they ever do not.
        raise ValueError(f"metric {check.name}: baseline without a preset")
    address = check.prometheus.address
    canary = _measure(address, preset, baseline, namespace, name, track="canary")
    stable = _measure(address, preset, baseline, namespace, name, track="stable")
    compared = compare_with_stable(check.name, baseline, canary, stable)
    if canary.value is not None:
        # Beside a fixed threshold: a canary above max fails even when stable is unmeasured.
        fixed = _judge(check, canary.value)
        if fixed.ok is False:
            return fixed.model_copy(update={"baseline": stable.value})
    return compared


def _run_check(check: MetricCheck, namespace: str, name: str) -> MetricResult:
    if check.baseline is not None:
        return _against_stable(check, check.baseline, namespace, name)
    address, query = metric_query(check, namespace, name)
    return _judge(check, query_scalar(address, query))


def run_analysis(spec: ModelServiceSpec, namespace: str, name: str) -> list[MetricResult]:
    checks = spec.rollout.analysis.metrics if spec.rollout else None
    results = []
    for check in checks or ():
        try:
            results.append(_run_check(check, namespace, name))
        except QueryError as error:
            _, query = metric_query(check, namespace, name)
            message = f"query {query!r} failed: {error}"[:_MESSAGE_CHARS]
            results.append(MetricResult(name=check.name, ok=None, error=True, message=message))
        except PrometheusError as error:
            results.append(MetricResult(name=check.name, ok=None, message=str(error)[:300]))
    return results


def sample_fails(spec: ModelServiceSpec, namespace: str, name: str) -> bool:
    """One sample between analysis runs: does any check fail right now? An inconclusive
    sample is not a failure; the scheduled run decides what that means."""
    return any(result.ok is False for result in run_analysis(spec, namespace, name))
