"""The one status builder: every transition says what it found as a ``Report``, and
``reported`` turns that into the status fields and conditions by one rule.

The conditions follow kstatus (Flux) and Argo CD at once:
- ``Ready``: stable serves. True during a canary and after a rollback too: the service is
  up, whatever happens to the new version.
- ``Progressing``: a rollout is under way. ``Degraded``: the phase is a failure.
  ``UpToDate``: the spec's version is what stable runs.
- ``Reconciling`` (kstatus: InProgress) while the operator converges stable: a first
  deployment, an Immediate rolling update, a promotion. Not during a canary's steps, which can
  last hours: kstatus reports such a service ``Current``, as Flagger's users see, so a GitOps
  sync does not wait out (and time out on) the analysis.
- ``Stalled`` (kstatus: Failed) while nothing more happens until the spec or the cluster
  changes: a rolled-back version still in the spec, a conflict, a progress deadline.
``Reconciling`` and ``Stalled`` are present only while True, as in Flux's own controllers.
A condition in its troubled or busy state carries the report's reason and message; in its
quiet state a fixed reason, so a steady service rewrites nothing.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelops.api.base import K8S_TIME_FORMAT, k8s_time
from modelops.api.status import HISTORY_LIMIT, HistoryEntry, ModelServiceStatus, Phase
from modelops.rollout.conditions import Wanted, set_conditions
from modelops.rollout.observe import WorkloadObservation

FAILURE_PHASES = frozenset({Phase.DEGRADED, Phase.CONFLICT, Phase.ROLLED_BACK, Phase.FAILED})
ABNORMAL_TRUE = frozenset({"Reconciling", "Stalled"})

# Status fields of a rollout in flight, cleared when it ends either way (status.blueGreen
# follows from them: rollout.bluegreen.phase_of).
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
    "switched_at": None,
    "switched_replicas": None,
}


@dataclass(frozen=True)
class Report:
    """What one evaluation found, in the words status and conditions use."""

    phase: Phase
    reason: str
    message: str
    ready: bool  # stable serves
    progressing: bool  # a rollout is under way
    reconciling: bool = False  # the operator is converging stable (kstatus InProgress)
    stalled: bool = False  # nothing happens until the spec or the cluster changes


@dataclass(frozen=True)
class Moment:
    """Where and when a status is written: the generation observed, stable's observation,
    the spec's version and the time (a Kubernetes timestamp)."""

    generation: int
    stable: WorkloadObservation
    version: str
    now: str
    routing: str | None = None  # the spec's traffic routing provider, rendered now


def _wanted(report: Report, moment: Moment) -> list[Wanted]:
    stable = moment.stable
    said = (report.reason, report.message)
    quiet = {
        "Ready": ("Available", f"{stable.ready}/{stable.desired} stable replicas ready"),
        "Progressing": ("Idle", "no rollout under way"),
        "Degraded": ("Healthy", "no problems observed"),
        "UpToDate": ("Current", f"version {moment.version} runs"),
    }
    # (type, status, whether that status is the quiet one)
    states = [
        ("Ready", report.ready, report.ready),
        ("Progressing", report.progressing, not report.progressing),
        ("Degraded", report.phase in FAILURE_PHASES, report.phase not in FAILURE_PHASES),
        ("UpToDate", report.phase is Phase.STABLE, report.phase is Phase.STABLE),
        ("Reconciling", report.reconciling, not report.reconciling),
        ("Stalled", report.stalled, not report.stalled),
    ]
    return [
        Wanted(type_, value, *(quiet[type_] if calm else said))
        for type_, value, calm in states
        if type_ not in ABNORMAL_TRUE or value
    ]


def reported(
    previous: ModelServiceStatus, report: Report, moment: Moment, **updates: Any
) -> ModelServiceStatus:
    """``previous`` with the report's phase, message and conditions, the replica counts, and
    ``updates`` (the transition's own fields)."""
    wanted = _wanted(report, moment)
    present = {item.type for item in wanted}
    conditions = set_conditions(
        previous.conditions,
        wanted,
        now=moment.now,
        generation=moment.generation,
        absent=ABNORMAL_TRUE - present,
    )
    stable = moment.stable
    return previous.model_copy(
        update={
            "observed_generation": moment.generation,
            "replicas": stable.desired,
            "ready_replicas": stable.ready,
            "ready": f"{stable.ready}/{stable.desired}",
            "phase": report.phase,
            "message": report.message,
            "conditions": conditions,
            "routing": moment.routing,
            **updates,
        }
    )


def with_history(
    previous: ModelServiceStatus, version: str, result: str, reason: str, now: str
) -> list[HistoryEntry]:
    """status.history with one more entry, bounded."""
    entry = HistoryEntry(version=version, result=result, reason=reason, time=now)
    return [*(previous.history or []), entry][-HISTORY_LIMIT:]


def stamp(moment: datetime) -> str:
    return k8s_time(moment)


def since(stamped: str | None, now: datetime) -> float:
    """Seconds from a status timestamp to ``now``; 0 when there is none."""
    if stamped is None:
        return 0.0
    then = datetime.strptime(stamped, K8S_TIME_FORMAT).replace(tzinfo=now.tzinfo)
    return (now - then).total_seconds()
