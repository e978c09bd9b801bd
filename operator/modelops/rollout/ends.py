"""How a canary rollout ends: rolled back (at once, stable keeps serving) or promoted
(stable takes the new template, then the canary goes)."""

from modelops.api.status import GatePhase, GateStatus, ModelServiceStatus, Phase
from modelops.render.pod import revision, shaping
from modelops.rollout.events import Event
from modelops.rollout.gates import post_rollout
from modelops.rollout.plan import steps_of
from modelops.rollout.report import ROLLOUT_CLEARED, Report
from modelops.rollout.tick import Tick, Transition, progress


def _settled(previous: ModelServiceStatus) -> list[GateStatus] | None:
    """status.gates once the rollout ended: runs cut short are not shown as running."""
    kept = [r for r in previous.gates or [] if r.phase is not GatePhase.RUNNING]
    return kept or None


def stalled_report(tick: Tick, message: str) -> Report:
    """A rolled-back version still in the spec: stable serves, kstatus says Failed."""
    return Report(
        Phase.ROLLED_BACK, "RolledBack", message, tick.stable.ready > 0, False, stalled=True
    )


def rolled_back(tick: Tick, previous: ModelServiceStatus, reason: str) -> Transition:
    """The canary goes at once (the plan renders no canary for a failed revision); the
    version is remembered as failed, so it is not retried until the spec changes again.
    A blue-green rollout that had switched says that traffic went back to stable, which
    kept running at full size."""
    message = f"version {tick.spec.model.version} rolled back: {reason}"
    if previous.switched_at:
        message += f"; all traffic switched back to {previous.stable_version} at once"
    status = tick.report(
        previous,
        stalled_report(tick, message),
        **ROLLOUT_CLEARED,
        failed_revision=revision(tick.spec),
        gates=_settled(previous),
        **tick.history(previous, "RolledBack", reason),
    )
    posts = post_rollout(tick.spec, revision(tick.spec), 0)
    return Transition(status, [Event("Warning", "RolledBack", message)], gate_runs=posts)


def promoted(tick: Tick, previous: ModelServiceStatus) -> Transition:
    """Stable runs the new template and is ready: the new version is the stable one (its
    shaping kept in status.stableTemplate) and the plan renders no canary any more."""
    message = f"version {tick.spec.model.version} promoted"
    skipped = (previous.current_step or 0) < len(steps_of(tick.spec)) - 1
    reason = (
        "promoted on request, remaining steps skipped" if skipped else "all steps passed analysis"
    )
    if tick.spec.is_blue_green:
        reason = "switched after its preview, kept through the scale-down delay"
    status = tick.report(
        previous,
        Report(Phase.STABLE, "Promoted", message, tick.stable.ready > 0, False),
        **ROLLOUT_CLEARED,
        stable_version=tick.spec.model.version,
        stable_revision=revision(tick.spec),
        stable_template=shaping(tick.spec),
        analysis=None,
        gates=_settled(previous),
        **tick.history(previous, "Promoted", reason),
    )
    posts = post_rollout(tick.spec, revision(tick.spec), 100)
    return Transition(status, [Event("Normal", "Promoted", message)], gate_runs=posts)


def promoting(tick: Tick, previous: ModelServiceStatus, events: list[Event]) -> Transition:
    """Stable takes the new template; promoted once it has rolled."""
    if tick.stable.rolled_out and tick.stable.revision == revision(tick.spec):
        done = promoted(tick, previous)
        return Transition(done.status, events + done.events, gate_runs=done.gate_runs)
    stable = tick.stable
    message = (
        f"promoting {tick.spec.model.version}: stable {stable.updated}/{stable.desired} updated"
    )
    return progress(tick, previous, message, events, 5.0)
