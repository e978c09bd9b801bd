"""One evaluation of the rollout machine: its inputs (``Tick``, ``Commands``), its result
(``Transition``) and the in-progress status every step of a rollout writes (``progress``)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelops.api.spec import ModelServiceSpec
from modelops.api.status import ModelServiceStatus, Phase, Stage
from modelops.rollout.events import Event
from modelops.rollout.gate_io import GateOutcome, GateRun
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.report import Moment, Report, reported, stamp, with_history

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
    gate_runs: list[GateRun] = field(default_factory=list)  # to have in flight


@dataclass(frozen=True)
class Tick:
    """One evaluation: the spec, its generation, what stable looks like, and the time."""

    spec: ModelServiceSpec
    generation: int
    stable: WorkloadObservation
    now: datetime
    # Finished gate runs by id (modelops.rollout.gates), as the shell saw them.
    gate_outcomes: Mapping[str, GateOutcome] = field(default_factory=dict)

    @property
    def stamp(self) -> str:
        return stamp(self.now)

    @property
    def moment(self) -> Moment:
        spec = self.spec
        return Moment(
            self.generation, self.stable, spec.model.version, self.stamp, spec.routing_provider
        )

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


def progress(
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
