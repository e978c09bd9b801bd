"""The rollout state machine: what runs now (``plan``) and what happens next (``advance``).

Pure: the shell passes the spec, the last status and its observations (Deployments, pods,
metric results) and gets back the next status, the Events to post and when to wake up again.
Everything a rollout needs to resume after an operator restart is in the status.

A new revision under strategy Canary:
  Canary step i (canary at steps[i].weight) --ready, pause over, analysis ok--> step i+1 ...
  last step passed --> Promoting (stable takes the new template) --stable rolled--> Stable
  any step: pod failure (CrashLoopBackOff, ImagePullBackOff, OOMKilled, Unschedulable),
  progress deadline, restarts, or failureLimit failed analyses --> RolledBack (at once)
A rolled-back revision is not retried until the spec changes again.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelops.api.base import K8S_TIME_FORMAT, k8s_time, parse_duration_seconds
from modelops.api.spec import (
    CanaryStep,
    Inconclusive,
    ModelServiceSpec,
    ModelSpec,
    PodTemplate,
    Probes,
    Rollout,
    Strategy,
)
from modelops.api.status import (
    HISTORY_LIMIT,
    AnalysisStatus,
    HistoryEntry,
    MetricResult,
    ModelServiceStatus,
    Phase,
    Stage,
)
from modelops.render.pod import revision
from modelops.rollout.conditions import Wanted, set_conditions
from modelops.rollout.events import Event, transition_events
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.steady import steady_status

# While waiting on time itself (a pause, the next analysis, a deadline) the shell is woken at
# most this late; pod and Deployment events wake it sooner.
MAX_WAKE_SECONDS = 30.0
# The shortest default sampling period between analysis runs (analysis.sampleInterval).
MIN_SAMPLE_SECONDS = 0.5


@dataclass(frozen=True)
class Commands:
    """What a person asked for through ``kubectl modelops promote|abort``."""

    promote: bool = False
    abort: bool = False
    pause: bool = False
    # False when --max-concurrent-rollouts are already progressing: a new rollout waits.
    may_start: bool = True


@dataclass(frozen=True)
class Plan:
    """What should run now: the spec each track runs, and the canary's traffic weight."""

    stable_spec: ModelServiceSpec
    canary_spec: ModelServiceSpec | None = None
    weight: int = 0


@dataclass
class Step:
    """The outcome of ``advance``."""

    status: ModelServiceStatus
    events: list[Event] = field(default_factory=list)
    wake_after: float | None = None


def shaping(spec: ModelServiceSpec) -> dict[str, Any]:
    """The part of a spec that shapes the pods (what ``revision`` hashes)."""
    out: dict[str, Any] = {"model": spec.model.to_api()}
    if spec.pod_template:
        out["podTemplate"] = spec.pod_template.to_api()
    if spec.probes:
        out["probes"] = spec.probes.to_api()
    return out


def with_shaping(spec: ModelServiceSpec, template: dict[str, Any]) -> ModelServiceSpec:
    """``spec`` running the pods described by ``template`` (from status.stableTemplate)."""
    pod = template.get("podTemplate")
    probes = template.get("probes")
    return spec.model_copy(
        update={
            "model": ModelSpec.model_validate(template["model"]),
            "pod_template": PodTemplate.model_validate(pod) if pod else None,
            "probes": Probes.model_validate(probes) if probes else None,
        }
    )


def is_canary(spec: ModelServiceSpec) -> bool:
    return spec.rollout is not None and spec.rollout.strategy is Strategy.CANARY


def rolling_out(spec: ModelServiceSpec, status: ModelServiceStatus) -> bool:
    """A canary rollout of the spec's revision is (or should be) under way."""
    rev = revision(spec)
    return (
        is_canary(spec)
        and status.stable_template is not None
        and rev not in {status.stable_revision, status.failed_revision}
    )


def steps_of(spec: ModelServiceSpec) -> list[CanaryStep]:
    return list(spec.rollout.steps or []) if spec.rollout else []


def step_hash(spec: ModelServiceSpec) -> str:
    """A short hash of the canary steps (Argo Rollouts' ``currentStepHash``)."""
    steps = [step.to_api() for step in steps_of(spec)]
    return hashlib.sha256(json.dumps(steps, sort_keys=True).encode()).hexdigest()[:10]


def steps_changed(spec: ModelServiceSpec, status: ModelServiceStatus) -> bool:
    """The steps of a canary under way were edited, or no longer reach the step status
    records: the step under way means nothing any more. A status written before step hashes
    existed (none recorded) keeps its step while that step exists."""
    if status.canary_revision != revision(spec) or status.stage is not Stage.CANARY:
        return False
    if (status.current_step or 0) >= len(steps_of(spec)):
        return True
    return status.step_hash is not None and status.step_hash != step_hash(spec)


def plan(spec: ModelServiceSpec, status: ModelServiceStatus) -> Plan:
    if status.stable_template is None or not is_canary(spec):
        # First deployment, or Immediate: stable runs the spec (a rolling update).
        return Plan(stable_spec=spec)
    stable = with_shaping(spec, status.stable_template)
    if not rolling_out(spec, status):
        # Steady, or a rolled-back revision: stable keeps what it ran.
        return Plan(stable_spec=spec if revision(spec) == status.stable_revision else stable)
    same_rollout = status.canary_revision == revision(spec)
    if same_rollout and status.stage is Stage.QUEUED:
        return Plan(stable_spec=stable)
    if same_rollout and status.stage is Stage.PROMOTING:
        # Stable takes the new template; the canary keeps serving until stable is ready.
        return Plan(stable_spec=spec, canary_spec=spec, weight=status.canary_weight or 0)
    # The weight has one source: the status of a rollout under way (the machine moves it, and
    # restarts it when the steps change); a rollout yet to start begins at the first step.
    weight = status.canary_weight or 0 if same_rollout else steps_of(spec)[0].weight
    return Plan(stable_spec=stable, canary_spec=spec, weight=weight)


def _iso(moment: datetime) -> str:
    return k8s_time(moment)


def _since(stamp: str | None, now: datetime) -> float:
    if stamp is None:
        return 0.0
    then = datetime.strptime(stamp, K8S_TIME_FORMAT).replace(tzinfo=now.tzinfo)
    return (now - then).total_seconds()


def _steady(
    spec: ModelServiceSpec,
    previous: ModelServiceStatus,
    *,
    generation: int,
    stable: WorkloadObservation,
    conflicts: list[str],
    now: datetime,
) -> Step:
    """No canary: first deployment, Immediate rolls, or a stable service."""
    status = steady_status(
        previous,
        generation=generation,
        version=spec.model.version,
        revision=revision(spec),
        stable=stable,
        conflicts=conflicts,
        now=_iso(now),
    )
    updates: dict[str, Any] = {
        "stable_template": previous.stable_template,
        "failed_revision": previous.failed_revision,
    }
    if status.phase is Phase.STABLE and status.stable_revision == revision(spec):
        updates["stable_template"] = shaping(spec)
    status = status.model_copy(update=updates)
    return Step(status, transition_events(previous, status))


@dataclass(frozen=True)
class Tick:
    """One evaluation: the spec, its generation, what stable looks like, and the time."""

    spec: ModelServiceSpec
    generation: int
    stable: WorkloadObservation
    now: datetime

    @property
    def stamp(self) -> str:
        return _iso(self.now)

    def replica_fields(self) -> dict[str, Any]:
        return {
            "observed_generation": self.generation,
            "replicas": self.stable.desired,
            "ready_replicas": self.stable.ready,
            "ready": f"{self.stable.ready}/{self.stable.desired}",
        }

    def conditions(
        self,
        previous: ModelServiceStatus,
        *,
        progressing: bool,
        degraded: bool,
        up_to_date: bool,
        reason: str,
        message: str,
    ) -> list[Any]:
        """Ready says stable serves (GitOps health); UpToDate says whether the spec's version
        is what runs, so a rollback is visible without the service looking down."""
        pairs = (
            ("Ready", self.stable.ready > 0),
            ("Progressing", progressing),
            ("Degraded", degraded),
            ("UpToDate", up_to_date),
        )
        return set_conditions(
            previous.conditions,
            [Wanted(type_, value, reason, message) for type_, value in pairs],
            now=self.stamp,
            generation=self.generation,
        )

    def history(
        self,
        previous: ModelServiceStatus,
        result: str,
        reason: str,
        version: str | None = None,
    ) -> list[HistoryEntry]:
        entry = HistoryEntry(
            version=version or self.spec.model.version,
            result=result,
            reason=reason,
            time=self.stamp,
        )
        return [*(previous.history or []), entry][-HISTORY_LIMIT:]


# Status fields of a rollout in flight, cleared when it ends either way.
ROLLOUT_CLEARED: dict[str, Any] = {
    "canary_version": None,
    "canary_revision": None,
    "canary_weight": 0,
    "current_step": None,
    "step_hash": None,
    "stage": None,
    "step_started_at": None,
    "step_ready_at": None,
    "canary_restarts": None,
}


@dataclass(frozen=True)
class Health:
    """The verdict of one health check of the canary."""

    fatal: str | None = None  # roll back at once
    failed_run: bool = False  # one failed check (counts toward failureLimit)
    paused: str | None = None  # inconclusive analysis under Inconclusive=Pause
    message: str = ""
    # AnalysisError when Prometheus refused a query: the condition's reason and a Warning.
    reason: str | None = None


def _rollout(spec: ModelServiceSpec) -> Rollout:
    """The rollout section of a spec that is rolling out by canary (callers check first): an
    exception rather than an assert, which ``python -O`` would strip."""
    if spec.rollout is None:
        raise ValueError("a canary step needs spec.rollout")
    return spec.rollout


def _check(
    spec: ModelServiceSpec,
    previous: ModelServiceStatus,
    canary: WorkloadObservation,
    metrics: list[MetricResult] | None,
    started_for: float,
) -> Health:
    rollout = _rollout(spec)
    if canary.pod_problems:
        return Health(fatal="; ".join(canary.pod_problems))
    if canary.progress_deadline_exceeded:
        return Health(fatal="the canary Deployment exceeded its progress deadline")
    deadline = rollout.progress_deadline_seconds
    if not canary.rolled_out and started_for > deadline:
        return Health(fatal=f"the canary was not ready within {deadline}s")
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
        return Health(failed_run=restarted, message=restart_note)
    failed = [m for m in metrics if m.ok is False]
    unknown = [m for m in metrics if m.ok is None]
    if failed or restarted:
        parts = [f"{m.name}={m.value} ({m.message})" for m in failed]
        return Health(failed_run=True, message="; ".join(parts) or restart_note)
    if unknown:
        return _inconclusive(rollout, unknown)
    return Health()


def _inconclusive(rollout: Rollout, unknown: list[MetricResult]) -> Health:
    text = "; ".join(f"{m.name}: {m.message}" for m in unknown)
    refused = any(m.error for m in unknown)
    reason = "AnalysisError" if refused else None
    what = "analysis error" if refused else "analysis inconclusive"
    if rollout.analysis.inconclusive is Inconclusive.FAIL:
        return Health(failed_run=True, message=f"{what}: {text}", reason=reason)
    return Health(paused=f"{what}, rollout paused: {text}", message=text, reason=reason)


def _rolled_back(tick: Tick, previous: ModelServiceStatus, reason: str) -> Step:
    message = f"version {tick.spec.model.version} rolled back: {reason}"
    status = previous.model_copy(
        update={
            **tick.replica_fields(),
            **ROLLOUT_CLEARED,
            "phase": Phase.ROLLED_BACK,
            "message": message,
            "failed_revision": revision(tick.spec),
            "history": tick.history(previous, "RolledBack", reason),
            "conditions": tick.conditions(
                previous,
                progressing=False,
                degraded=True,
                up_to_date=False,
                reason="RolledBack",
                message=message,
            ),
        }
    )
    return Step(status, [Event("Warning", "RolledBack", message)])


def _promoted(tick: Tick, previous: ModelServiceStatus) -> Step:
    message = f"version {tick.spec.model.version} promoted"
    steps = tick.spec.rollout.steps if tick.spec.rollout and tick.spec.rollout.steps else []
    skipped = (previous.current_step or 0) < len(steps) - 1
    reason = (
        "promoted on request, remaining steps skipped" if skipped else ("all steps passed analysis")
    )
    status = previous.model_copy(
        update={
            **tick.replica_fields(),
            **ROLLOUT_CLEARED,
            "phase": Phase.STABLE,
            "message": message,
            "stable_version": tick.spec.model.version,
            "stable_revision": revision(tick.spec),
            "stable_template": shaping(tick.spec),
            "analysis": None,
            "history": tick.history(previous, "Promoted", reason),
            "conditions": tick.conditions(
                previous,
                progressing=False,
                degraded=False,
                up_to_date=True,
                reason="Promoted",
                message=message,
            ),
        }
    )
    return Step(status, [Event("Normal", "Promoted", message)])


def _progress(
    tick: Tick,
    previous: ModelServiceStatus,
    message: str,
    events: list[Event],
    wake: float,
    *,
    reason: str = "CanaryProgressing",
) -> Step:
    status = previous.model_copy(
        update={
            **tick.replica_fields(),
            "phase": Phase.PROGRESSING,
            "message": message,
            "conditions": tick.conditions(
                previous,
                progressing=True,
                degraded=False,
                up_to_date=False,
                reason=reason,
                message=message,
            ),
        }
    )
    if previous.phase is not Phase.PROGRESSING and not events:
        events = [Event("Normal", "Progressing", message)]
    return Step(status, events, wake_after=min(max(wake, 0.5), MAX_WAKE_SECONDS))


def _interval(spec: ModelServiceSpec) -> float:
    return parse_duration_seconds(_rollout(spec).analysis.interval)


def _analysing(spec: ModelServiceSpec, status: ModelServiceStatus, canary_ready: bool) -> bool:
    """A ready canary of this rollout is under metric analysis (not queued, not promoting)."""
    if not rolling_out(spec, status) or not canary_ready or status.stage is Stage.PROMOTING:
        return False
    return bool(_rollout(spec).analysis.metrics)


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
    return last is None or _since(last, now) >= _interval(spec)


def sampling_interval(
    spec: ModelServiceSpec, status: ModelServiceStatus, canary_ready: bool
) -> float | None:
    """Seconds between samples of the metrics, while a sample could bring the next analysis
    run forward (after a first run that counted no failure); None when nothing is sampled."""
    if status.stage is not Stage.CANARY or not _analysing(spec, status, canary_ready):
        return None
    if status.canary_revision != revision(spec) or not _run_passed(status):
        return None
    asked = _rollout(spec).analysis.sample_interval
    interval = _interval(spec)
    # By default a tenth of the interval: the user's interval says how fast their metrics
    # move, so the sampling (and its load on Prometheus) scales with it.
    every = parse_duration_seconds(asked) if asked else max(MIN_SAMPLE_SECONDS, interval / 10)
    return every if 0 < every < interval else None


def _started(tick: Tick, previous: ModelServiceStatus) -> tuple[ModelServiceStatus, list[Event]]:
    """A new revision: its canary starts at the first step."""
    steps = tick.spec.rollout.steps if tick.spec.rollout and tick.spec.rollout.steps else []
    first = steps[0].weight
    event = Event(
        "Normal",
        "RolloutStarted",
        f"canary {tick.spec.model.version} at {first}% (stable {previous.stable_version})",
    )
    events = [event]
    history = previous.history
    replaced = previous.canary_version
    if previous.canary_revision and previous.stage is not Stage.QUEUED and replaced:
        # A new version arrived mid-rollout: the running canary is replaced, on the record.
        reason = f"replaced by {tick.spec.model.version} before promotion"
        events.insert(0, Event("Normal", "Superseded", f"canary {replaced} {reason}"))
        history = tick.history(previous, "Superseded", reason, version=replaced)
    started = previous.model_copy(
        update={
            **ROLLOUT_CLEARED,
            "history": history,
            "canary_revision": revision(tick.spec),
            "canary_version": tick.spec.model.version,
            "current_step": 0,
            "step_hash": step_hash(tick.spec),
            "stage": Stage.CANARY,
            "step_started_at": tick.stamp,
            "analysis": None,
            "canary_weight": first,
        }
    )
    return started, events


def _restarted(tick: Tick, previous: ModelServiceStatus) -> tuple[ModelServiceStatus, list[Event]]:
    """rollout.steps changed mid-rollout: the canary (same revision) goes back to the first of
    the new steps, as in Argo Rollouts. Never more traffic than the new steps' first weight
    before it has passed them; failures already counted still count."""
    first = steps_of(tick.spec)[0].weight
    message = (
        f"rollout.steps changed at step {(previous.current_step or 0) + 1}: canary "
        f"{tick.spec.model.version} restarts at step 1/{len(steps_of(tick.spec))} ({first}%)"
    )
    restarted = previous.model_copy(
        update={
            "current_step": 0,
            "step_hash": step_hash(tick.spec),
            "canary_weight": first,
            "step_started_at": tick.stamp,
            "step_ready_at": None,
        }
    )
    return restarted, [Event("Normal", "StepsChanged", message)]


def _analysis_after(
    previous: ModelServiceStatus, health: Health, metrics: list[MetricResult] | None, now: str
) -> AnalysisStatus:
    analysis = previous.analysis or AnalysisStatus()
    if metrics is not None:
        failures = analysis.consecutive_failures + 1 if health.failed_run else 0
        return AnalysisStatus(consecutive_failures=failures, last_run_at=now, results=metrics)
    if health.failed_run:
        return analysis.model_copy(
            update={"consecutive_failures": analysis.consecutive_failures + 1}
        )
    return analysis


def _next_step(
    tick: Tick,
    previous: ModelServiceStatus,
    health: Health,
    events: list[Event],
    commands: Commands,
) -> Step:
    """The canary is ready at this step: hold for the pause and analysis, then move on."""
    rollout = _rollout(tick.spec)
    steps = rollout.steps or []
    index = previous.current_step or 0
    where = f"step {index + 1}/{len(steps)}"
    if previous.step_ready_at is None:
        previous = previous.model_copy(update={"step_ready_at": tick.stamp})
    if tick.spec.paused or commands.pause or health.paused:
        message = health.paused or f"{where}: paused (spec.paused or modelops pause)"
        reason = health.reason or "Paused"
        return _progress(tick, previous, message, events, _interval(tick.spec), reason=reason)
    pause_text = steps[index].pause
    pause = parse_duration_seconds(pause_text) if pause_text else 0.0
    waited = _since(previous.step_ready_at, tick.now)
    analysis = previous.analysis or AnalysisStatus()
    has_metrics = bool(rollout.analysis.metrics)
    analysed = not has_metrics or (
        analysis.last_run_at is not None
        and _since(analysis.last_run_at, tick.now) <= waited
        and analysis.consecutive_failures == 0
    )
    if waited < pause or not analysed:
        left = max(pause - waited, 0.0)
        message = f"{where}: {steps[index].weight}% to canary, {int(left)}s of pause left"
        wake = min(left, _interval(tick.spec)) if has_metrics else left
        return _progress(tick, previous, message, events, wake)
    if index + 1 < len(steps):
        weight = steps[index + 1].weight
        message = f"step {index + 2}/{len(steps)}: {weight}% to canary"
        events.append(Event("Normal", "StepAdvanced", message))
        previous = previous.model_copy(
            update={
                "current_step": index + 1,
                "step_hash": step_hash(tick.spec),
                "canary_weight": weight,
                "step_started_at": tick.stamp,
                "step_ready_at": None,
            }
        )
        return _progress(tick, previous, message, events, 1.0)
    message = f"all steps passed: promoting {tick.spec.model.version} to stable"
    events.append(Event("Normal", "Promoting", message))
    previous = previous.model_copy(update={"stage": Stage.PROMOTING})
    return _progress(tick, previous, message, events, 1.0)


def _canary_step(
    tick: Tick,
    previous: ModelServiceStatus,
    canary: WorkloadObservation,
    metrics: list[MetricResult] | None,
    commands: Commands,
) -> Step:
    """A canary rollout of the spec's revision, from wherever the status says it is."""
    rollout = _rollout(tick.spec)
    events: list[Event] = []
    fresh = previous.canary_revision != revision(tick.spec) or previous.stage is Stage.QUEUED
    if fresh and not commands.may_start:
        queued = previous.model_copy(
            update={
                **ROLLOUT_CLEARED,
                "canary_revision": revision(tick.spec),
                "canary_version": tick.spec.model.version,
                "stage": Stage.QUEUED,
            }
        )
        message = f"{tick.spec.model.version} waits: the cap on concurrent rollouts is reached"
        # A freed slot wakes the head of the line at once; this timer is only a fallback.
        return _progress(tick, queued, message, [], MAX_WAKE_SECONDS, reason="Queued")
    if fresh:
        previous, events = _started(tick, previous)
    elif steps_changed(tick.spec, previous) and not (commands.abort or commands.promote):
        # Like a step advance, the restart is the whole of this tick: the next one observes
        # the canary at the new weight.
        previous, events = _restarted(tick, previous)
        return _progress(tick, previous, events[0].message, events, 1.0)
    if commands.abort:
        return _rolled_back(tick, previous, "aborted by request (modelops abort)")
    if commands.promote and previous.stage is not Stage.PROMOTING:
        message = f"promotion of {tick.spec.model.version} requested: skipping the remaining steps"
        events.append(Event("Normal", "Promoting", message))
        previous = previous.model_copy(update={"stage": Stage.PROMOTING})
    if previous.stage is Stage.PROMOTING:
        if tick.stable.rolled_out and tick.stable.revision == revision(tick.spec):
            step = _promoted(tick, previous)
            return Step(step.status, events + step.events)
        stable = tick.stable
        message = (
            f"promoting {tick.spec.model.version}: stable {stable.updated}/{stable.desired} updated"
        )
        return _progress(tick, previous, message, events, 5.0)
    started_for = _since(previous.step_started_at, tick.now)
    health = _check(tick.spec, previous, canary, metrics, started_for)
    analysis = _analysis_after(previous, health, metrics, tick.stamp)
    limit = rollout.analysis.failure_limit
    if health.fatal or analysis.consecutive_failures >= limit:
        reason = health.fatal or (
            f"analysis failed {analysis.consecutive_failures} times: {health.message}"
        )
        step = _rolled_back(tick, previous.model_copy(update={"analysis": analysis}), reason)
        return Step(step.status, events + step.events)
    if metrics is not None and health.reason:
        events.append(Event("Warning", health.reason, health.paused or health.message))
    elif health.failed_run:
        events.append(Event("Warning", "AnalysisFailed", health.message))
    previous = previous.model_copy(
        update={"analysis": analysis, "canary_restarts": canary.restarts}
    )
    if not canary.rolled_out:
        steps = rollout.steps or []
        index = previous.current_step or 0
        message = f"step {index + 1}/{len(steps)}: canary {canary.ready}/{canary.desired} ready"
        deadline_left = rollout.progress_deadline_seconds - started_for
        return _progress(tick, previous, message, events, deadline_left)
    return _next_step(tick, previous, health, events, commands)


def advance(
    spec: ModelServiceSpec,
    previous: ModelServiceStatus,
    *,
    generation: int,
    stable: WorkloadObservation,
    canary: WorkloadObservation,
    metrics: list[MetricResult] | None,
    conflicts: list[str],
    now: datetime,
    commands: Commands | None = None,
) -> Step:
    """The next status after observing the cluster (and, when due, the metrics)."""
    tick = Tick(spec, generation, stable, now)
    rev = revision(spec)
    if not conflicts and rolling_out(spec, previous):
        return _canary_step(tick, previous, canary, metrics, commands or Commands())
    if is_canary(spec) and rev == previous.failed_revision and rev != previous.stable_revision:
        # A rolled-back revision: stable keeps serving, nothing is retried.
        return Step(previous.model_copy(update=tick.replica_fields()))
    step = _steady(
        spec, previous, generation=generation, stable=stable, conflicts=conflicts, now=now
    )
    if previous.canary_revision and not conflicts:
        # The spec went back to the stable revision (or became Immediate) mid-rollout.
        step.status = step.status.model_copy(update={**ROLLOUT_CLEARED, "analysis": None})
        step.events.append(
            Event("Normal", "RolloutAborted", "the spec no longer asks for the canary")
        )
    return step
