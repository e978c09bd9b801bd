"""Walking the canary steps: a rollout starts at the first step, holds each for its pause
and analysis, moves on, and restarts when ``rollout.steps`` is edited under it."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelops.api.base import parse_duration_seconds
from modelops.api.spec import CanaryStep
from modelops.api.status import ModelServiceStatus, Stage
from modelops.render.pod import revision
from modelops.rollout.ends import rolled_back
from modelops.rollout.events import Event
from modelops.rollout.gates import (
    PROMOTION,
    ROLLBACK,
    gates_at,
    gates_passed,
    judge_gates,
    step_point,
)
from modelops.rollout.plan import rollout_of, step_hash, steps_of
from modelops.rollout.report import ROLLOUT_CLEARED, since
from modelops.rollout.tick import MAX_WAKE_SECONDS, Commands, Tick, Transition, progress
from modelops.rollout.verdict import CanaryHealth, analysis_interval

PAUSED = "Paused"


def _was_paused(previous: ModelServiceStatus) -> bool:
    """The status already says the rollout is paused (its Progressing condition's reason)."""
    return any(c.type == "Progressing" and c.reason == PAUSED for c in previous.conditions or ())


def started(tick: Tick, previous: ModelServiceStatus) -> tuple[ModelServiceStatus, list[Event]]:
    """A new revision: its canary starts at the first step (a blue-green preview at 0%)."""
    # Gates before the first step hold the canary at 0% (its pods up) until they pass.
    gated = bool(gates_at(tick.spec, step_point(0)))
    steps = steps_of(tick.spec)
    first = 0 if gated or not steps else steps[0].weight
    version = tick.spec.model.version
    said = f"canary {version} at {first}%"
    if tick.spec.is_blue_green:
        said = f"preview {version} at full size, no traffic yet"
    events = [Event("Normal", "RolloutStarted", f"{said} (stable {previous.stable_version})")]
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
            "gates": None,
            "canary_weight": first,
        }
    )
    return started, events


def restarted(tick: Tick, previous: ModelServiceStatus) -> Transition:
    """rollout.steps (or the strategy) changed mid-rollout: the canary (same revision) goes
    back to the first of the new steps, as in Argo Rollouts, or to a blue-green preview.
    Never more traffic than the new steps' first weight before it has passed them; failures
    already counted still count. The restart is the whole of this tick, like a step
    advance: the next one observes the canary at the new weight."""
    steps = steps_of(tick.spec)
    version = tick.spec.model.version
    if tick.spec.is_blue_green:
        # The strategy became BlueGreen mid-canary: no traffic until the switch.
        first = 0
        message = f"strategy changed to BlueGreen: {version} restarts as a preview, at 0%"
    else:
        first = steps[0].weight if gates_passed(tick.spec, previous, step_point(0)) else 0
        message = (
            f"rollout.steps changed at step {(previous.current_step or 0) + 1}: canary "
            f"{version} restarts at step 1/{len(steps)} ({steps[0].weight}%)"
        )
    restarted = previous.model_copy(
        update={
            "current_step": 0,
            "step_hash": step_hash(tick.spec),
            "canary_weight": first,
            "step_started_at": tick.stamp,
            "step_ready_at": None,
            "switched_at": None,
            "switched_replicas": None,
        }
    )
    return progress(tick, restarted, message, [Event("Normal", "StepsChanged", message)], 1.0)


@dataclass
class Gated:
    """The gates of a point after this look: their records (in ``status``) and Events, and
    the transition that ends this look when they hold or fail the rollout (None: go on)."""

    status: ModelServiceStatus
    events: list[Event]
    stop: Transition | None = None


def gated(tick: Tick, previous: ModelServiceStatus, point: str, events: list[Event]) -> Gated:
    """Every gate of ``point`` passed: go on (the records of those that passed now kept);
    else the rollout holds for them (they run, or a confirmation said no), or rolls back (a
    check failed). The first step's gates passing apply its weight, in a look of its own."""
    if gates_passed(tick.spec, previous, point):
        if point == step_point(0) and _held_at_zero(tick, previous):
            # The gates that held the canary at 0% were taken out of the spec: nothing
            # holds it any more, so the first step's weight applies now.
            return Gated(previous, events, _first_weight(tick, previous, events))
        return Gated(previous, events)
    interval = analysis_interval(tick.spec)
    weight = previous.canary_weight or 0
    verdict = judge_gates(
        tick, previous, point, tick.gate_outcomes, weight=weight, retry_after=interval
    )
    previous = previous.model_copy(update={"gates": verdict.records})
    events = events + verdict.events
    if verdict.failed:
        back = rolled_back(tick, previous, verdict.failed)
        stop = Transition(back.status, events + back.events, gate_runs=back.gate_runs)
        return Gated(previous, events, stop)
    if verdict.passed:
        weighs = point == step_point(0) and bool(steps_of(tick.spec))
        first = _first_weight(tick, previous, events) if weighs else None
        return Gated(previous, events, first)
    held = progress(
        tick,
        previous,
        f"{point}: {verdict.holding}",
        events,
        verdict.wake or MAX_WAKE_SECONDS,
        reason="GateWaiting",
    )
    held.gate_runs = verdict.runs
    return Gated(previous, events, held)


def _held_at_zero(tick: Tick, previous: ModelServiceStatus) -> bool:
    """The canary is still at the 0% it waits at for the first step's gates."""
    steps = steps_of(tick.spec)
    return not previous.canary_weight and bool(steps) and steps[0].weight > 0


def _first_weight(tick: Tick, previous: ModelServiceStatus, events: list[Event]) -> Transition:
    """The gates before the first step passed: its weight goes to the canary now, and its
    pause counts from there."""
    step = steps_of(tick.spec)[0]
    message = f"gates passed, step 1/{len(steps_of(tick.spec))}: {describe(step)}"
    events.append(Event("Normal", "StepAdvanced", message))
    update = {"canary_weight": step.weight, "step_started_at": tick.stamp, "step_ready_at": None}
    return progress(tick, previous.model_copy(update=update), message, events, 1.0)


def polled_rollback(tick: Tick, previous: ModelServiceStatus, events: list[Event]) -> Transition:
    """The rollback webhooks, asked every analysis interval while the canary runs: a 2xx
    rolls back (Flagger's semantics); a "no" changes nothing and posts nothing. The
    returned transition carries the updated status and the runs to have in flight; the
    caller goes on unless its status says the rollout ended."""
    interval = analysis_interval(tick.spec)
    verdict = judge_gates(
        tick,
        previous,
        ROLLBACK,
        tick.gate_outcomes,
        weight=previous.canary_weight or 0,
        retry_after=interval,
    )
    previous = previous.model_copy(update={"gates": verdict.records or None})
    if verdict.failed:
        reason = verdict.failed.replace("failed: ", "asked for a rollback: ", 1)
        back = rolled_back(tick, previous, reason)
        return Transition(back.status, events + back.events, gate_runs=back.gate_runs)
    return Transition(previous, events, wake_after=verdict.wake, gate_runs=verdict.runs)


def held_by_pause(
    tick: Tick,
    previous: ModelServiceStatus,
    health: CanaryHealth,
    events: list[Event],
    commands: Commands,
    *,
    where: str,
) -> Transition | None:
    """``spec.paused``, ``modelops pause`` or analysis that cannot answer (Inconclusive
    Pause) hold the rollout where it is; None when nothing holds it."""
    if not (tick.spec.paused or commands.pause or health.paused):
        return None
    message = health.paused or f"{where}: paused (spec.paused or modelops pause)"
    reason = health.reason or PAUSED
    if reason == PAUSED and not _was_paused(previous):
        events = [*events, Event("Normal", PAUSED, message)]  # once, when it begins
    return progress(tick, previous, message, events, analysis_interval(tick.spec), reason=reason)


def analysed(tick: Tick, previous: ModelServiceStatus) -> bool:
    """Without metrics, nothing to wait for; with them, a passing run since the canary was
    ready where it is now."""
    if not rollout_of(tick.spec).analysis.metrics:
        return True
    analysis = previous.analysis
    return (
        analysis is not None
        and analysis.last_run_at is not None
        and since(analysis.last_run_at, tick.now) <= since(previous.step_ready_at, tick.now)
        and analysis.consecutive_failures == 0
    )


def describe(step: CanaryStep) -> str:
    """What a step does to traffic, for messages."""
    shares = [f"{step.weight}% to canary"] if step.weight else []
    if step.mirror:
        shares.append(f"{step.mirror}% mirrored to canary")
    return ", ".join(shares)


Walk = Callable[[Tick, ModelServiceStatus, CanaryHealth, list[Event], Commands], Transition]


def next_step(
    tick: Tick,
    previous: ModelServiceStatus,
    health: CanaryHealth,
    events: list[Event],
    commands: Commands,
    *,
    walk: Walk | None = None,
) -> Transition:
    """The canary is ready at this step: hold for the pause, analysis and gates, then move
    on (the rollback webhooks are asked meanwhile). ``walk`` moves it on: the canary steps
    unless a strategy brings its own (modelops.rollout.bluegreen)."""
    if previous.step_ready_at is None:
        previous = previous.model_copy(update={"step_ready_at": tick.stamp})
    polled = polled_rollback(tick, previous, events)
    if polled.status.stage is None:
        return polled
    previous, asking = polled.status, polled.gate_runs
    step = (walk or _walk)(tick, previous, health, events, commands)
    step.gate_runs = asking + step.gate_runs
    if polled.wake_after is not None and step.wake_after is not None:
        step.wake_after = min(step.wake_after, polled.wake_after)
    return step


def _walk(
    tick: Tick,
    previous: ModelServiceStatus,
    health: CanaryHealth,
    events: list[Event],
    commands: Commands,
) -> Transition:
    steps = steps_of(tick.spec)
    index = previous.current_step or 0  # within steps: steps_changed restarts otherwise
    where = f"step {index + 1}/{len(steps)}"
    interval = analysis_interval(tick.spec)
    pause_hold = held_by_pause(tick, previous, health, events, commands, where=where)
    if pause_hold is not None:
        return pause_hold
    if index == 0:
        gate = gated(tick, previous, step_point(0), events)
        if gate.stop is not None:
            return gate.stop
        previous, events = gate.status, gate.events
    pause_text = steps[index].pause
    pause = parse_duration_seconds(pause_text) if pause_text else 0.0
    waited = since(previous.step_ready_at, tick.now)
    has_metrics = bool(rollout_of(tick.spec).analysis.metrics)
    if waited < pause or not analysed(tick, previous):
        left = max(pause - waited, 0.0)
        message = f"{where}: {describe(steps[index])}, {int(left)}s of pause left"
        if health.reason:  # an AnalysisError counted as a failure (Inconclusive=Fail)
            message = f"{where}: {health.message}"
        wake = min(left, interval) if has_metrics else left
        reason = health.reason or "CanaryProgressing"
        return progress(tick, previous, message, events, wake, reason=reason)
    if steps[index].hold:
        # An A/B test: only a promote or abort command (handled before this) ends it.
        message = (
            f"{where}: {describe(steps[index])}, held until promoted "
            "(kubectl modelops promote) or aborted"
        )
        return progress(tick, previous, message, events, interval, reason="CanaryHeld")
    ahead = step_point(index + 1) if index + 1 < len(steps) else PROMOTION
    gate = gated(tick, previous, ahead, events)
    if gate.stop is not None:
        return gate.stop
    previous, events = gate.status, gate.events
    if index + 1 < len(steps):
        weight = steps[index + 1].weight
        message = f"step {index + 2}/{len(steps)}: {describe(steps[index + 1])}"
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
        return progress(tick, previous, message, events, 1.0)
    message = f"all steps passed: promoting {tick.spec.model.version} to stable"
    events.append(Event("Normal", "Promoting", message))
    previous = previous.model_copy(update={"stage": Stage.PROMOTING})
    return progress(tick, previous, message, events, 1.0)
