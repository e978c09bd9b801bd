"""Status of a ModelService with no canary: stable is created, rolled (Immediate) or broken."""

from dataclasses import dataclass

from modelops.api.status import HISTORY_LIMIT, HistoryEntry, ModelServiceStatus, Phase
from modelops.rollout.conditions import Wanted, set_conditions
from modelops.rollout.observe import WorkloadObservation


@dataclass(frozen=True)
class Verdict:
    phase: Phase
    ready: bool
    progressing: bool
    degraded: bool
    reason: str
    message: str


def _verdict(
    stable: WorkloadObservation, revision: str, conflicts: list[str], was_stable: bool
) -> Verdict:
    if conflicts:
        names = ", ".join(conflicts)
        return Verdict(
            Phase.CONFLICT,
            False,
            False,
            True,
            "Conflict",
            f"objects not owned by this ModelService hold the names of its children: {names}",
        )
    if stable.pod_problems:
        return Verdict(
            Phase.DEGRADED,
            False,
            True,
            True,
            stable.pod_problems[0].split(" ")[0],
            "; ".join(stable.pod_problems),
        )
    if stable.progress_deadline_exceeded:
        return Verdict(
            Phase.DEGRADED,
            False,
            True,
            True,
            "ProgressDeadlineExceeded",
            "the stable Deployment did not become ready within its progress deadline",
        )
    current = stable.revision == revision
    # A scale-up of a stable service is not a rollout: it stays Stable while new pods start.
    scaling = was_stable and current and stable.template_rolled and stable.ready >= 1
    if (stable.rolled_out and current) or scaling:
        return Verdict(
            Phase.STABLE,
            True,
            False,
            False,
            "Available",
            f"{stable.ready}/{stable.desired} replicas ready",
        )
    return Verdict(
        Phase.PROGRESSING,
        False,
        True,
        False,
        "RollingOut",
        f"{stable.updated}/{stable.desired} updated, {stable.ready} ready",
    )


def steady_status(
    previous: ModelServiceStatus,
    *,
    generation: int,
    version: str,
    revision: str,
    stable: WorkloadObservation,
    conflicts: list[str],
    now: str,
) -> ModelServiceStatus:
    """The status to write, given what was written before and what is observed now."""
    was_stable = previous.phase is Phase.STABLE and previous.stable_revision == revision
    verdict = _verdict(stable, revision, conflicts, was_stable)
    stable_now = verdict.phase is Phase.STABLE
    conditions = set_conditions(
        previous.conditions,
        [
            Wanted(
                "Ready",
                verdict.ready,
                "Available" if verdict.ready else verdict.reason,
                verdict.message,
            ),
            Wanted(
                "Progressing",
                verdict.progressing,
                "RollingOut" if verdict.progressing else "Complete",
                verdict.message if verdict.progressing else "rollout complete",
            ),
            Wanted(
                "Degraded",
                verdict.degraded,
                verdict.reason if verdict.degraded else "Healthy",
                verdict.message if verdict.degraded else "no problems observed",
            ),
            Wanted(
                "UpToDate",
                stable_now,
                "Current" if stable_now else verdict.reason,
                f"version {version} runs" if stable_now else verdict.message,
            ),
        ],
        now=now,
        generation=generation,
    )
    history = list(previous.history or [])
    stable_revision = previous.stable_revision
    stable_version = previous.stable_version
    if verdict.phase is Phase.STABLE and stable_revision != revision:
        history.append(
            HistoryEntry(version=version, result="Deployed", reason="rollout complete", time=now)
        )
        stable_revision, stable_version = revision, version
    return ModelServiceStatus(
        observed_generation=generation,
        phase=verdict.phase,
        message=verdict.message,
        stable_version=stable_version or (version if verdict.phase is Phase.STABLE else None),
        stable_revision=stable_revision,
        replicas=stable.desired,
        ready_replicas=stable.ready,
        ready=f"{stable.ready}/{stable.desired}",
        conditions=conditions,
        history=history[-HISTORY_LIMIT:],
    )
