"""Which Kubernetes Events a status change deserves."""

from dataclasses import dataclass

from modelops.api.status import ModelServiceStatus, Phase

WARNING_PHASES = frozenset({Phase.DEGRADED, Phase.CONFLICT, Phase.FAILED, Phase.ROLLED_BACK})


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


def transition_events(before: ModelServiceStatus, after: ModelServiceStatus) -> list[Event]:
    """One Event per phase change; none when the phase stays (no Event storm on re-reconcile)."""
    if after.phase is None or before.phase == after.phase:
        return []
    kind = "Warning" if after.phase in WARNING_PHASES else "Normal"
    return [Event(kind, after.phase.value, after.message or after.phase.value)]
