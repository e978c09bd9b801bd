"""Run a ModelService's metric checks against Prometheus: one result per check.

No answer from Prometheus escapes as an exception: the rollout machine must see every outcome
to put it in status. Prometheus unreachable or without data gives an inconclusive result
(``ok`` unset); a query Prometheus refuses (bad PromQL, HTTP 400 ``bad_data``) is inconclusive
too, but marked ``error`` with the query in the message, so status and a Warning Event say
``AnalysisError`` and which query to fix. The machine decides what an inconclusive result
means (pause, or a failure, per ``analysis.inconclusive``).
"""

from modelops.api.spec import MetricCheck, ModelServiceSpec
from modelops.api.status import MetricResult
from modelops.health.presets import metric_query
from modelops.health.prometheus import PrometheusError, QueryError, query_scalar

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


def run_analysis(spec: ModelServiceSpec, namespace: str, name: str) -> list[MetricResult]:
    checks = spec.rollout.analysis.metrics if spec.rollout else None
    results = []
    for check in checks or ():
        address, query = metric_query(check, namespace, name)
        try:
            value = query_scalar(address, query)
        except QueryError as error:
            message = f"query {query!r} failed: {error}"[:_MESSAGE_CHARS]
            results.append(MetricResult(name=check.name, ok=None, error=True, message=message))
            continue
        except PrometheusError as error:
            results.append(MetricResult(name=check.name, ok=None, message=str(error)[:300]))
            continue
        results.append(_judge(check, value))
    return results


def sample_fails(spec: ModelServiceSpec, namespace: str, name: str) -> bool:
    """One sample between analysis runs: does any check fail right now? An inconclusive
    sample is not a failure; the scheduled run decides what that means."""
    return any(result.ok is False for result in run_analysis(spec, namespace, name))
