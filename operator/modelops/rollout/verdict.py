"""When the canary's metrics are asked (analysis scheduling) and what one look at the canary
concludes (its health verdict).

The shell asks ``analysis_due`` before it queries Prometheus, and ``sampling_interval`` how
often to sample between runs; the machine asks ``judge`` what the observations mean. Keeping
both here keeps one meaning of "a run passed" for the schedule and for the verdict.
"""

from dataclasses import dataclass
from datetime import datetime

from modelops.api.base import parse_duration_seconds
from modelops.api.spec import Inconclusive, ModelServiceSpec, Rollout
from modelops.api.status import AnalysisStatus, MetricResult, ModelServiceStatus, Stage
from modelops.render.pod import revision
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.plan import rolling_out, rollout_of
from modelops.rollout.report import since

# The shortest default sampling period between analysis runs (analysis.sampleInterval).
MIN_SAMPLE_SECONDS = 0.5
ANALYSIS_ERROR = "AnalysisError"


@dataclass(frozen=True)
class CanaryHealth:
    """The verdict of one look at the canary."""

    fatal: str | None = None  # roll back at once
    failed_run: bool = False  # one failed check (counts toward failureLimit)
    paused: str | None = None  # inconclusive analysis under Inconclusive=Pause
    message: str = ""
    # AnalysisError when Prometheus refused a query: the condition's reason and a Warning.
    reason: str | None = None


def analysis_interval(spec: ModelServiceSpec) -> float:
    return parse_duration_seconds(rollout_of(spec).analysis.interval)


def _analysing(spec: ModelServiceSpec, status: ModelServiceStatus, canary_ready: bool) -> bool:
    """A ready canary of this rollout is under metric analysis (not queued, not promoting)."""
    if not rolling_out(spec, status) or not canary_ready or status.stage is Stage.PROMOTING:
        return False
    return bool(rollout_of(spec).analysis.metrics)


def _run_passed(status: ModelServiceStatus) -> bool:
    """A run of this rollout's analysis happened, and no failure is counted (the last one
    passed or was inconclusive)."""
    analysis = status.analysis
    return (
        analysis is not None
        and analysis.last_run_at is not None
        and analysis.consecutive_failures == 0
    )


def analysis_due(
    spec: ModelServiceSpec,
    status: ModelServiceStatus,
    canary_ready: bool,
    now: datetime,
    *,
    sampled_failure: bool = False,
) -> bool:
    """Should the shell query the metrics now? Only for a ready canary, once per interval, or
    at once when a sample between runs failed and no failure is counted yet. Later runs keep
    the interval, so ``failureLimit`` still spans failureLimit - 1 intervals and one noisy
    sample cannot roll back a rollout that allows more than one failure."""
    if not _analysing(spec, status, canary_ready):
        return False
    if status.canary_revision != revision(spec) or status.analysis is None:
        return True
    if sampled_failure and _run_passed(status):
        return True
    last = status.analysis.last_run_at
    return last is None or since(last, now) >= analysis_interval(spec)


def sampling_interval(
    spec: ModelServiceSpec, status: ModelServiceStatus, canary_ready: bool
) -> float | None:
    """Seconds between samples of the metrics, while a sample could bring the next analysis
    run forward (after a first run that counted no failure); None when nothing is sampled."""
    if status.stage is not Stage.CANARY or not _analysing(spec, status, canary_ready):
        return None
    if status.canary_revision != revision(spec) or not _run_passed(status):
        return None
    asked = rollout_of(spec).analysis.sample_interval
    interval = analysis_interval(spec)
    # By default a tenth of the interval: the user's interval says how fast their metrics
    # move, so the sampling (and its load on Prometheus) scales with it.
    every = parse_duration_seconds(asked) if asked else max(MIN_SAMPLE_SECONDS, interval / 10)
    return every if 0 < every < interval else None


def judge(
    spec: ModelServiceSpec,
    previous: ModelServiceStatus,
    canary: WorkloadObservation,
    metrics: list[MetricResult] | None,
    started_for: float,
) -> CanaryHealth:
    """The canary's health from its pods, its readiness time and (when a run happened now)
    its metrics; ``metrics`` None between runs, when the last run's verdict stands."""
    rollout = rollout_of(spec)
    if canary.pod_problems:
        return CanaryHealth(fatal="; ".join(canary.pod_problems))
    if canary.progress_deadline_exceeded:
        return CanaryHealth(fatal="the canary Deployment exceeded its progress deadline")
    deadline = rollout.progress_deadline_seconds
    if not canary.rolled_out and started_for > deadline:
        return CanaryHealth(fatal=f"the canary was not ready within {deadline}s")
    restarted = previous.canary_restarts is not None and canary.restarts > previous.canary_restarts
    restart_note = "canary containers restarted" if restarted else ""
    if metrics is None:
        # Between analysis runs the last verdict stands: a wake in between (a pod event)
        # must not take an inconclusive run for a pass and move the rollout on.
        last = (previous.analysis.results if previous.analysis else None) or []
        unknown = [m for m in last if m.ok is None]
        pausing = rollout.analysis.inconclusive is Inconclusive.PAUSE
        if unknown and pausing and not restarted:
            return _inconclusive(rollout, unknown)
        refused = [m for m in unknown if m.error]
        if refused and not restarted:
            # Under Fail the run counted its failure; until the next one, status still says
            # which query Prometheus refused.
            text = "; ".join(f"{m.name}: {m.message}" for m in refused)
            return CanaryHealth(message=f"analysis error: {text}", reason=ANALYSIS_ERROR)
        return CanaryHealth(failed_run=restarted, message=restart_note)
    failed = [m for m in metrics if m.ok is False]
    unknown = [m for m in metrics if m.ok is None]
    if failed or restarted:
        parts = [f"{m.name}={m.value} ({m.message})" for m in failed]
        return CanaryHealth(failed_run=True, message="; ".join(parts) or restart_note)
    if unknown:
        return _inconclusive(rollout, unknown)
    return CanaryHealth()


def _inconclusive(rollout: Rollout, unknown: list[MetricResult]) -> CanaryHealth:
    text = "; ".join(f"{m.name}: {m.message}" for m in unknown)
    refused = any(m.error for m in unknown)
    reason = ANALYSIS_ERROR if refused else None
    what = "analysis error" if refused else "analysis inconclusive"
    if rollout.analysis.inconclusive is Inconclusive.FAIL:
        return CanaryHealth(failed_run=True, message=f"{what}: {text}", reason=reason)
    return CanaryHealth(paused=f"{what}, rollout paused: {text}", message=text, reason=reason)


def analysis_after(
    previous: ModelServiceStatus,
    health: CanaryHealth,
    metrics: list[MetricResult] | None,
    now: str,
) -> AnalysisStatus:
    """status.analysis after this look: a run's results, and the failures counted in a row."""
    analysis = previous.analysis or AnalysisStatus()
    if metrics is not None:
        failures = analysis.consecutive_failures + 1 if health.failed_run else 0
        return AnalysisStatus(consecutive_failures=failures, last_run_at=now, results=metrics)
    if health.failed_run:
        return analysis.model_copy(
            update={"consecutive_failures": analysis.consecutive_failures + 1}
        )
    return analysis
