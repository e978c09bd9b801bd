"""The rollout state machine: from the last status and what the shell observed, the next
status, the Events to post and when to look again.

Pure: everything a rollout needs to resume after an operator restart is in the status.

A new revision under strategy Canary:
  Canary step i (canary at steps[i].weight) --ready, pause over, analysis ok--> step i+1 ...
  last step passed --> Promoting (stable takes the new template) --stable rolled--> Stable
  any step: pod failure (CrashLoopBackOff, ImagePullBackOff, OOMKilled, Unschedulable),
  progress deadline, restarts, or failureLimit failed analyses --> RolledBack (at once)
  rollout.steps edited --> step 1 of the new steps (StepsChanged)
A rolled-back revision is not retried until the spec asks for another one. What each spec
edit mid-rollout leads to is in docs/rollouts.md.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelops.api.base import parse_duration_seconds
from modelops.api.spec import ModelServiceSpec
from modelops.api.status import MetricResult, ModelServiceStatus, Phase, Stage
from modelops.render.pod import revision, shaping
from modelops.rollout.events import Event, transition_events
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.plan import (
    is_canary,
    rolling_out,
    rollout_of,
    step_hash,
    steps_changed,
    steps_of,
)
from modelops.rollout.report import (
    ROLLOUT_CLEARED,
    Moment,
    Report,
    reported,
    since,
    stamp,
    with_history,
)
from modelops.rollout.steady import steady_status
from modelops.rollout.verdict import (
    CanaryHealth,
    analysis_after,
    analysis_interval,
    judge,
)

# While waiting on time itself (a pause, the next analysis, a deadline) the shell is woken at
# most this late; pod and Deployment events wake it sooner.
MAX_WAKE_SECONDS = 30.0


@dataclass(frozen=True)
class Commands:
    """What a person asked for through ``kubectl modelops promote|abort|pause``."""

    promote: bool = False
    abort: bool = False
    pause: bool = False
    # False when --max-concurrent-rollouts are already progressing: a new rollout waits.
    may_start: bool = True


@dataclass
class Transition:
    """What ``advance`` decided: the status to write, the Events to post (Warning ones name
    what went wrong: RolledBack, AnalysisFailed, AnalysisError), and when to look again."""

    status: ModelServiceStatus
    events: list[Event] = field(default_factory=list)
    wake_after: float | None = None


@dataclass(frozen=True)
class Tick:
    """One evaluation: the spec, its generation, what stable looks like, and the time."""

    spec: ModelServiceSpec
    generation: int
    stable: WorkloadObservation
    now: datetime

    @property
    def stamp(self) -> str:
        return stamp(self.now)

    @property
    def moment(self) -> Moment:
        rollout = self.spec.rollout
        routing = rollout.traffic_routing.provider if rollout else "replicas"
        return Moment(self.generation, self.stable, self.spec.model.version, self.stamp, routing)

    def report(
        self, previous: ModelServiceStatus, report: Report, **updates: Any
    ) -> ModelServiceStatus:
        return reported(previous, report, self.moment, **updates)

    def history(
        self, previous: ModelServiceStatus, result: str, reason: str, version: str | None = None
    ) -> dict[str, Any]:
        entries = with_history(
            previous, version or self.spec.model.version, result, reason, self.stamp
        )
        return {"history": entries}


def _steady(tick: Tick, previous: ModelServiceStatus, conflicts: list[str]) -> Transition:
    """No canary: first deployment, Immediate rolls, or a stable service."""
    rev = revision(tick.spec)
    status = steady_status(previous, tick.moment, revision=rev, conflicts=conflicts)
    if status.phase is Phase.STABLE and status.stable_revision == rev:
        status = status.model_copy(update={"stable_template": shaping(tick.spec)})
    return Transition(status, transition_events(previous, status))


def _rolled_back(tick: Tick, previous: ModelServiceStatus, reason: str) -> Transition:
    message = f"version {tick.spec.model.version} rolled back: {reason}"
    status = tick.report(
        previous,
        _stalled_report(tick, message),
        **ROLLOUT_CLEARED,
        failed_revision=revision(tick.spec),
        **tick.history(previous, "RolledBack", reason),
    )
    return Transition(status, [Event("Warning", "RolledBack", message)])


def _stalled_report(tick: Tick, message: str) -> Report:
    """A rolled-back version still in the spec: stable serves, kstatus says Failed."""
    return Report(
        Phase.ROLLED_BACK, "RolledBack", message, tick.stable.ready > 0, False, stalled=True
    )


def _promoted(tick: Tick, previous: ModelServiceStatus) -> Transition:
    message = f"version {tick.spec.model.version} promoted"
    skipped = (previous.current_step or 0) < len(steps_of(tick.spec)) - 1
    reason = "promoted on request, remaining steps skipped" if skipped else "all steps passed"
    status = tick.report(
        previous,
        Report(Phase.STABLE, "Promoted", message, tick.stable.ready > 0, False),
        **ROLLOUT_CLEARED,
        stable_version=tick.spec.model.version,
        stable_revision=revision(tick.spec),
        stable_template=shaping(tick.spec),
        analysis=None,
        **tick.history(previous, "Promoted", reason),
    )
    return Transition(status, [Event("Normal", "Promoted", message)])


def _progress(
    tick: Tick,
    previous: ModelServiceStatus,
    message: str,
    events: list[Event],
    wake: float,
    *,
    reason: str = "CanaryProgressing",
) -> Transition:
    """A rollout under way. Only the promotion converges stable (kstatus Reconciling): a
    canary's steps leave the service Current for GitOps, as Flagger's canaries do."""
    promoting = previous.stage is Stage.PROMOTING
    report = Report(
        Phase.PROGRESSING, reason, message, tick.stable.ready > 0, True, reconciling=promoting
    )
    status = tick.report(previous, report)
    if previous.phase is not Phase.PROGRESSING and not events:
        events = [Event("Normal", "Progressing", message)]
    return Transition(status, events, wake_after=min(max(wake, 0.5), MAX_WAKE_SECONDS))


def _started(tick: Tick, previous: ModelServiceStatus) -> tuple[ModelServiceStatus, list[Event]]:
    """A new revision: its canary starts at the first step."""
    first = steps_of(tick.spec)[0].weight
    version = tick.spec.model.version
    events = [
        Event(
            "Normal",
            "RolloutStarted",
            f"canary {version} at {first}% (stable {previous.stable_version})",
        )
    ]
    history: dict[str, Any] = {}
    replaced = previous.canary_version
    if previous.canary_revision and previous.stage is not Stage.QUEUED and replaced:
        # A new version arrived mid-rollout: the running canary is replaced, on the record.
        reason = f"replaced by {version} before promotion"
        events.insert(0, Event("Normal", "Superseded", f"canary {replaced} {reason}"))
        history = tick.history(previous, "Superseded", reason, version=replaced)
    started = previous.model_copy(
        update={
            **ROLLOUT_CLEARED,
            **history,
            "canary_revision": revision(tick.spec),
            "canary_version": version,
            "current_step": 0,
            "step_hash": step_hash(tick.spec),
            "stage": Stage.CANARY,
            "step_started_at": tick.stamp,
            "analysis": None,
            "canary_weight": first,
        }
    )
    return started, events


def _restarted(tick: Tick, previous: ModelServiceStatus) -> Transition:
    """rollout.steps changed mid-rollout: the canary (same revision) goes back to the first of
    the new steps, as in Argo Rollouts. Never more traffic than the new steps' first weight
    before it has passed them; failures already counted still count. The restart is the whole
    of this tick, like a step advance: the next one observes the canary at the new weight."""
    steps = steps_of(tick.spec)
    message = (
        f"rollout.steps changed at step {(previous.current_step or 0) + 1}: canary "
        f"{tick.spec.model.version} restarts at step 1/{len(steps)} ({steps[0].weight}%)"
    )
    restarted = previous.model_copy(
        update={
            "current_step": 0,
            "step_hash": step_hash(tick.spec),
            "canary_weight": steps[0].weight,
            "step_started_at": tick.stamp,
            "step_ready_at": None,
        }
    )
    return _progress(tick, restarted, message, [Event("Normal", "StepsChanged", message)], 1.0)


def _next_step(
    tick: Tick,
    previous: ModelServiceStatus,
    health: CanaryHealth,
    events: list[Event],
    commands: Commands,
) -> Transition:
    """The canary is ready at this step: hold for the pause and analysis, then move on."""
    rollout = rollout_of(tick.spec)
    steps = steps_of(tick.spec)
    index = previous.current_step or 0  # within steps: steps_changed restarts otherwise
    where = f"step {index + 1}/{len(steps)}"
    interval = analysis_interval(tick.spec)
    if previous.step_ready_at is None:
        previous = previous.model_copy(update={"step_ready_at": tick.stamp})
    if tick.spec.paused or commands.pause or health.paused:
        message = health.paused or f"{where}: paused (spec.paused or modelops pause)"
        reason = health.reason or "Paused"
        return _progress(tick, previous, message, events, interval, reason=reason)
    pause_text = steps[index].pause
    pause = parse_duration_seconds(pause_text) if pause_text else 0.0
    waited = since(previous.step_ready_at, tick.now)
    analysis = previous.analysis
    has_metrics = bool(rollout.analysis.metrics)
    analysed = not has_metrics or (
        analysis is not None
        and analysis.last_run_at is not None
        and since(analysis.last_run_at, tick.now) <= waited
        and analysis.consecutive_failures == 0
    )
    if waited < pause or not analysed:
        left = max(pause - waited, 0.0)
        message = f"{where}: {steps[index].weight}% to canary, {int(left)}s of pause left"
        return _progress(
            tick, previous, message, events, min(left, interval) if has_metrics else left
        )
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


def _queued(tick: Tick, previous: ModelServiceStatus) -> Transition:
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


def _promoting(tick: Tick, previous: ModelServiceStatus, events: list[Event]) -> Transition:
    """Stable takes the new template; promoted once it has rolled."""
    if tick.stable.rolled_out and tick.stable.revision == revision(tick.spec):
        done = _promoted(tick, previous)
        return Transition(done.status, events + done.events)
    stable = tick.stable
    message = (
        f"promoting {tick.spec.model.version}: stable {stable.updated}/{stable.desired} updated"
    )
    return _progress(tick, previous, message, events, 5.0)


def _canary(
    tick: Tick,
    previous: ModelServiceStatus,
    canary: WorkloadObservation,
    metrics: list[MetricResult] | None,
    commands: Commands,
) -> Transition:
    """A canary rollout of the spec's revision, from wherever the status says it is."""
    events: list[Event] = []
    fresh = previous.canary_revision != revision(tick.spec) or previous.stage is Stage.QUEUED
    if fresh and not commands.may_start:
        return _queued(tick, previous)
    if fresh:
        previous, events = _started(tick, previous)
    elif steps_changed(tick.spec, previous) and not (commands.abort or commands.promote):
        return _restarted(tick, previous)
    elif previous.step_hash is None and previous.stage is Stage.CANARY:
        # Written by an operator without step hashes: these steps are the ones under way.
        previous = previous.model_copy(update={"step_hash": step_hash(tick.spec)})
    if commands.abort:
        return _rolled_back(tick, previous, "aborted by request (modelops abort)")
    if commands.promote and previous.stage is not Stage.PROMOTING:
        message = f"promotion of {tick.spec.model.version} requested: skipping the remaining steps"
        events.append(Event("Normal", "Promoting", message))
        previous = previous.model_copy(update={"stage": Stage.PROMOTING})
    if previous.stage is Stage.PROMOTING:
        return _promoting(tick, previous, events)
    started_for = since(previous.step_started_at, tick.now)
    health = judge(tick.spec, previous, canary, metrics, started_for)
    analysis = analysis_after(previous, health, metrics, tick.stamp)
    rollout = rollout_of(tick.spec)
    if health.fatal or analysis.consecutive_failures >= rollout.analysis.failure_limit:
        reason = health.fatal or (
            f"analysis failed {analysis.consecutive_failures} times: {health.message}"
        )
        back = _rolled_back(tick, previous.model_copy(update={"analysis": analysis}), reason)
        return Transition(back.status, events + back.events)
    if metrics is not None and health.reason:
        events.append(Event("Warning", health.reason, health.paused or health.message))
    elif health.failed_run:
        events.append(Event("Warning", "AnalysisFailed", health.message))
    previous = previous.model_copy(
        update={"analysis": analysis, "canary_restarts": canary.restarts}
    )
    if not canary.rolled_out:
        index = previous.current_step or 0
        message = (
            f"step {index + 1}/{len(steps_of(tick.spec))}: "
            f"canary {canary.ready}/{canary.desired} ready"
        )
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
) -> Transition:
    """The next status after observing the cluster (and, when due, the metrics)."""
    tick = Tick(spec, generation, stable, now)
    rev = revision(spec)
    if not conflicts and rolling_out(spec, previous):
        return _canary(tick, previous, canary, metrics, commands or Commands())
    if is_canary(spec) and rev == previous.failed_revision and rev != previous.stable_revision:
        # A rolled-back revision still in the spec: stable keeps serving, nothing is retried,
        # and status says so (Stalled) until the spec asks for another version.
        report = _stalled_report(
            tick, previous.message or f"version {spec.model.version} rolled back"
        )
        return Transition(tick.report(previous, report))
    step = _steady(tick, previous, conflicts)
    if previous.canary_revision and not conflicts:
        # The spec went back to the stable revision (or became Immediate) mid-rollout.
        step.events.append(
            Event("Normal", "RolloutAborted", "the spec no longer asks for the canary")
        )
    return step
