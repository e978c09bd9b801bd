"""The rollout state machine: from the last status and what the shell observed, the next
status, the Events to post and when to look again.

Pure: everything a rollout needs to resume after an operator restart is in the status.

A new revision under strategy Canary:
  Canary step i (canary at steps[i].weight) --ready, pause over, analysis ok--> step i+1 ...
  last step passed --> Promoting (stable takes the new template) --stable rolled--> Stable
  any step: pod failure (CrashLoopBackOff, ImagePullBackOff, OOMKilled, Unschedulable),
  progress deadline, restarts, or failureLimit failed analyses --> RolledBack (at once)
  rollout.steps edited --> step 1 of the new steps (StepsChanged)
  gates (rollout.gates, modelops.rollout.gates) before step i or promotion: held until they
  pass; a failed check --> RolledBack; a confirm-* "no" holds and asks again
A rolled-back revision is not retried until the spec asks for another one. What each spec
edit mid-rollout leads to is in docs/rollouts.md. Strategy BlueGreen walks the same machine
with a walk of its own (modelops.rollout.bluegreen): preview, switch, scale-down delay.
"""

import dataclasses
from collections.abc import Mapping
from datetime import datetime

from modelops.api.spec import ModelServiceSpec
from modelops.api.status import MetricResult, ModelServiceStatus, Phase, Stage
from modelops.render.pod import revision, shaping
from modelops.rollout import bluegreen
from modelops.rollout.ends import promoting, rolled_back, stalled_report
from modelops.rollout.events import Event, transition_events
from modelops.rollout.gate_io import GateOutcome
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.plan import (
    progressive,
    rolling_out,
    rollout_of,
    step_hash,
    steps_changed,
    steps_of,
)
from modelops.rollout.report import ROLLOUT_CLEARED, since
from modelops.rollout.steady import steady_status
from modelops.rollout.steps import next_step, restarted, started
from modelops.rollout.tick import MAX_WAKE_SECONDS, Commands, Tick, Transition, progress
from modelops.rollout.verdict import analysis_after, judge

__all__ = ["Commands", "Transition", "advance"]


def _steady(tick: Tick, previous: ModelServiceStatus, conflicts: list[str]) -> Transition:
    """No canary: first deployment, Immediate rolls, or a stable service."""
    rev = revision(tick.spec)
    status = steady_status(previous, tick.moment, revision=rev, conflicts=conflicts)
    if status.phase is Phase.STABLE and status.stable_revision == rev:
        status = status.model_copy(update={"stable_template": shaping(tick.spec)})
    return Transition(status, transition_events(previous, status))


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
    return progress(tick, queued, message, [], MAX_WAKE_SECONDS, reason="Queued")


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
        previous, events = started(tick, previous)
    elif steps_changed(tick.spec, previous) and not (commands.abort or commands.promote):
        return restarted(tick, previous)
    elif previous.step_hash is None and previous.stage is Stage.CANARY:
        # Written by an operator without step hashes: these steps are the ones under way.
        previous = previous.model_copy(update={"step_hash": step_hash(tick.spec)})
    if commands.abort:
        return rolled_back(tick, previous, "aborted by request (modelops abort)")
    blue_green = tick.spec.is_blue_green
    # Blue-green: a promote is the switch, taken in its walk once the preview is ready.
    if commands.promote and previous.stage is not Stage.PROMOTING and not blue_green:
        message = f"promotion of {tick.spec.model.version} requested: skipping the remaining steps"
        events.append(Event("Normal", "Promoting", message))
        previous = previous.model_copy(update={"stage": Stage.PROMOTING})
    if previous.stage is Stage.PROMOTING:
        return promoting(tick, previous, events)
    started_for = since(previous.step_started_at, tick.now)
    health = judge(tick.spec, previous, canary, metrics, started_for)
    analysis = analysis_after(previous, health, metrics, tick.stamp)
    rollout = rollout_of(tick.spec)
    if health.fatal or analysis.consecutive_failures >= rollout.analysis.failure_limit:
        reason = health.fatal or (
            f"analysis failed {analysis.consecutive_failures} times: {health.message}"
        )
        back = rolled_back(tick, previous.model_copy(update={"analysis": analysis}), reason)
        return Transition(back.status, events + back.events, gate_runs=back.gate_runs)
    if metrics is not None and health.reason:
        events.append(Event("Warning", health.reason, health.paused or health.message))
    elif health.failed_run:
        events.append(Event("Warning", "AnalysisFailed", health.message))
    previous = previous.model_copy(
        update={"analysis": analysis, "canary_restarts": canary.restarts}
    )
    if not canary.rolled_out:
        index = previous.current_step or 0
        where = "preview" if blue_green else f"step {index + 1}/{len(steps_of(tick.spec))}"
        message = f"{where}: canary {canary.ready}/{canary.desired} ready"
        deadline_left = rollout.progress_deadline_seconds - started_for
        return progress(tick, previous, message, events, deadline_left)
    walk = bluegreen.walk if blue_green else None
    return next_step(tick, previous, health, events, commands, walk=walk)


def with_model_fetches(
    step: Transition, stable: WorkloadObservation, canary: WorkloadObservation
) -> Transition:
    """Where each track's pods got their model files (spec.model.source), in status; the
    last known for stable while its pods have not said, none for a canary that ended."""
    fetched = {
        "stable_model_fetch": stable.model_fetch or step.status.stable_model_fetch,
        "canary_model_fetch": canary.model_fetch if step.status.canary_revision else None,
    }
    return dataclasses.replace(step, status=step.status.model_copy(update=fetched))


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
    gate_outcomes: Mapping[str, GateOutcome] | None = None,
) -> Transition:
    """The next status after observing the cluster (and, when due, the metrics, and the
    outcomes of finished gate runs)."""
    tick = Tick(spec, generation, stable, now, gate_outcomes or {})
    step = _next(
        tick, previous, canary, metrics, conflicts=conflicts, commands=commands or Commands()
    )
    # Derived here, on every status written, so it cannot disagree with the stage.
    phase = {"blue_green": bluegreen.phase_of(spec, step.status)}
    step = dataclasses.replace(step, status=step.status.model_copy(update=phase))
    return with_model_fetches(step, stable, canary)


def _next(
    tick: Tick,
    previous: ModelServiceStatus,
    canary: WorkloadObservation,
    metrics: list[MetricResult] | None,
    *,
    conflicts: list[str],
    commands: Commands,
) -> Transition:
    """What the status says and the cluster shows lead to (``status.blueGreen`` aside)."""
    spec = tick.spec
    rev = revision(spec)
    if not conflicts and rolling_out(spec, previous):
        return _canary(tick, previous, canary, metrics, commands)
    if progressive(spec) and rev == previous.failed_revision and rev != previous.stable_revision:
        # A rolled-back revision still in the spec: stable keeps serving, nothing is retried,
        # and status says so (Stalled) until the spec asks for another version.
        report = stalled_report(
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
