"""Strategy BlueGreen on the canary machine, as Argo Rollouts and Flagger have it.

The new version runs at full size beside stable from the start, at 0% of traffic, behind
``<name>-preview`` (the plan sizes it; render.service pins the main Service):
  Preview --ready, gates before the first step, analysis, autoPromote (or modelops
  promote), confirm-promotion and BeforePromotion gates--> Switched (100% at once)
  Switched --scaleDownDelaySeconds--> ScalingDown (the canary machine's Promoting: stable
  takes the new template while the switched pods serve) --stable rolled--> Stable
Until ScalingDown, stable keeps running the old version at full size: an abort, a failed
analysis or a pod failure rolls back as under Canary, and the plan then renders no canary at
all, so all traffic is back on stable in the same reconcile.
``status.blueGreen`` names these phases; ``phase_of`` derives it from the stage and
``switchedAt``, so it never disagrees with them.
"""

from modelops.api.spec import ModelServiceSpec
from modelops.api.status import BlueGreenPhase, ModelServiceStatus, Stage
from modelops.rollout.events import Event
from modelops.rollout.gates import PROMOTION, step_point
from modelops.rollout.plan import blue_green_of, full_size
from modelops.rollout.report import since
from modelops.rollout.steps import analysed, gated, held_by_pause
from modelops.rollout.tick import Commands, Tick, Transition, progress
from modelops.rollout.verdict import CanaryHealth, analysis_interval

SWITCHED = "Switched"
SCALING_DOWN = "ScalingDown"


def walk(
    tick: Tick,
    previous: ModelServiceStatus,
    health: CanaryHealth,
    events: list[Event],
    commands: Commands,
) -> Transition:
    """The ready preview is judged, then switched to (the same signature as the canary
    steps' walk it stands in for); once switched, the delay runs out."""
    where = "switched" if previous.switched_at else "preview"
    pause_hold = held_by_pause(tick, previous, health, events, commands, where=where)
    if pause_hold is not None:
        return pause_hold
    if previous.switched_at:
        return _switched(tick, previous, events)
    version = tick.spec.model.version
    interval = analysis_interval(tick.spec)
    gate = gated(tick, previous, step_point(0), events)
    if gate.stop is not None:
        return gate.stop
    previous, events = gate.status, gate.events
    if not analysed(tick, previous):
        message = f"preview: {health.message if health.reason else 'waiting for analysis'}"
        reason = health.reason or "PreviewAnalysis"
        return progress(tick, previous, message, events, interval, reason=reason)
    if not (blue_green_of(tick.spec).auto_promote or commands.promote):
        message = (
            f"preview: {version} ready at full size, held until promoted "
            "(kubectl modelops promote) or aborted"
        )
        return progress(tick, previous, message, events, interval, reason="PreviewHeld")
    gate = gated(tick, previous, PROMOTION, events)
    if gate.stop is not None:
        return gate.stop
    previous, events = gate.status, gate.events
    delay = blue_green_of(tick.spec).scale_down_delay_seconds
    message = (
        f"switched: all traffic to {version} at once; {previous.stable_version} kept at "
        f"full size for {delay}s (an abort switches back at once)"
    )
    events.append(Event("Normal", SWITCHED, message))
    switched = previous.model_copy(
        update={
            "canary_weight": 100,
            "switched_at": tick.stamp,
            "switched_replicas": full_size(tick.spec, previous),
        }
    )
    return progress(tick, switched, message, events, 1.0, reason=SWITCHED)


def _switched(tick: Tick, previous: ModelServiceStatus, events: list[Event]) -> Transition:
    """All traffic on the new version; the old one waits at full size for the delay. A
    promote asked for in preview does not shorten it: its annotation stays on the object."""
    delay = blue_green_of(tick.spec).scale_down_delay_seconds
    left = delay - since(previous.switched_at, tick.now)
    stable = previous.stable_version
    if left > 0:
        message = (
            f"switched to {tick.spec.model.version}; {stable} kept at full size for "
            f"{int(left)}s more (an abort switches back at once)"
        )
        return progress(tick, previous, message, events, left, reason=SWITCHED)
    message = f"scale-down delay over: {stable} is replaced by {tick.spec.model.version}"
    events.append(Event("Normal", SCALING_DOWN, message))
    scaling = previous.model_copy(update={"stage": Stage.PROMOTING})
    return progress(tick, scaling, message, events, 1.0, reason=SCALING_DOWN)


def phase_of(spec: ModelServiceSpec, status: ModelServiceStatus) -> BlueGreenPhase | None:
    """``status.blueGreen``, from the stage and ``switchedAt``: only this walk sets
    ``switchedAt`` and every restart or end of a rollout clears it, so it marks a switched
    rollout whatever the strategy says now (turned Canary while scaling down, it goes on
    scaling down). Preview is the one phase status alone cannot tell from a canary at its
    first step: a rollout under way, not switched, under this strategy."""
    if status.switched_at and status.stage is Stage.PROMOTING:
        return BlueGreenPhase.SCALING_DOWN
    if status.stage is not Stage.CANARY:
        return None
    if status.switched_at:
        return BlueGreenPhase.SWITCHED
    return BlueGreenPhase.PREVIEW if spec.is_blue_green else None
