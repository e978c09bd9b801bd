"""Status of a ModelService with no canary: stable is created, rolled (Immediate) or broken."""

from modelops.api.status import ModelServiceStatus, Phase
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.report import ROLLOUT_CLEARED, Moment, Report, reported, with_history


def stable_report(
    stable: WorkloadObservation, revision: str, conflicts: list[str], was_stable: bool
) -> Report:
    """What stable's Deployment says, when no canary runs."""
    if conflicts:
        names = ", ".join(conflicts)
        message = f"objects not owned by this ModelService hold the names of its children: {names}"
        return Report(
            Phase.CONFLICT, "Conflict", message, ready=False, progressing=False, stalled=True
        )
    if stable.pod_problems:
        reason = stable.pod_problems[0].split(" ")[0]
        message = "; ".join(stable.pod_problems)
        return Report(Phase.DEGRADED, reason, message, False, True, reconciling=True)
    if stable.progress_deadline_exceeded:
        message = "the stable Deployment did not become ready within its progress deadline"
        return Report(
            Phase.DEGRADED, "ProgressDeadlineExceeded", message, False, False, stalled=True
        )
    current = stable.revision == revision
    # A scale-up of a stable service is not a rollout: it stays Stable while new pods start.
    scaling = was_stable and current and stable.template_rolled and stable.ready >= 1
    if (stable.rolled_out and current) or scaling:
        message = f"{stable.ready}/{stable.desired} replicas ready"
        return Report(Phase.STABLE, "Available", message, ready=True, progressing=False)
    message = f"{stable.updated}/{stable.desired} updated, {stable.ready} ready"
    return Report(Phase.PROGRESSING, "RollingOut", message, False, True, reconciling=True)


def steady_status(
    previous: ModelServiceStatus, moment: Moment, *, revision: str, conflicts: list[str]
) -> ModelServiceStatus:
    """The status to write, given what was written before and what is observed now; any
    rollout fields are cleared (no canary runs)."""
    was_stable = previous.phase is Phase.STABLE and previous.stable_revision == revision
    report = stable_report(moment.stable, revision, conflicts, was_stable)
    updates = {**ROLLOUT_CLEARED, "analysis": None}
    if report.phase is Phase.STABLE and previous.stable_revision != revision:
        updates.update(
            stable_revision=revision,
            stable_version=moment.version,
            history=with_history(
                previous, moment.version, "Deployed", "rollout complete", moment.now
            ),
        )
    return reported(previous, report, moment, **updates)
