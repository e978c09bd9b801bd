"""Rollout gates as pure logic: which gates run at a point of the rollout, and what their
outcomes mean.

The shell runs them (modelops.controller.gates: a webhook call or a Job, never on the
reconcile's thread) and hands back each finished run's outcome, keyed by the run's id; the
machine records it in ``status.gates`` and decides: every gate of a point passed, go on; a
check failed, roll back; a ``confirm-*`` webhook said no, hold and ask again an interval
later; still running, hold. The runs a decision wants in flight come out as ``GateRun``
actions, which the shell starts unless they already run: as with analysis, the machine never
waits on the network.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from modelops.api.gates import JobGatePoint, WebhookType
from modelops.api.spec import ModelServiceSpec
from modelops.api.status import GatePhase, GateStatus, ModelServiceStatus
from modelops.rollout.events import Event
from modelops.rollout.gate_io import GateOutcome, GateRun
from modelops.rollout.report import since
from modelops.rollout.tick import Tick

JOB, WEBHOOK = "Job", "Webhook"
PROMOTION = "promotion"
ROLLBACK = "rollback"
POST = "post"
CONFIRMS = frozenset({WebhookType.CONFIRM_ROLLOUT, WebhookType.CONFIRM_PROMOTION})


def step_point(index: int) -> str:
    """The point before the step at ``index`` (0-based): ``step-1`` is before the first."""
    return f"step-{index + 1}"


@dataclass(frozen=True)
class Gate:
    """One gate as the machine sees it, whatever its kind."""

    kind: str
    name: str
    confirm: bool = False  # a "no" holds the rollout instead of rolling it back


def run_id(kind: str, name: str, point: str, attempt: int) -> str:
    return f"{kind.lower()}/{name}@{point}#{attempt}"


def _webhooks(spec: ModelServiceSpec, types: set[WebhookType]) -> list[Gate]:
    gates = spec.rollout.gates if spec.rollout else None
    hooks = (gates.webhooks if gates else None) or []
    return [Gate(WEBHOOK, h.name, h.type in CONFIRMS) for h in hooks if h.type in types]


def _jobs(spec: ModelServiceSpec, at: JobGatePoint, step: int | None = None) -> list[Gate]:
    gates = spec.rollout.gates if spec.rollout else None
    jobs = (gates.jobs if gates else None) or []
    return [Gate(JOB, j.name) for j in jobs if j.at is at and j.step == step]


def gates_at(spec: ModelServiceSpec, point: str) -> list[Gate]:
    """The gates of one point: confirmations first (the others run once they said yes)."""
    if point == PROMOTION:
        found = _webhooks(spec, {WebhookType.CONFIRM_PROMOTION})
        found += _jobs(spec, JobGatePoint.BEFORE_PROMOTION)
    elif point == step_point(0):
        found = _webhooks(
            spec, {WebhookType.CONFIRM_ROLLOUT, WebhookType.PRE_ROLLOUT, WebhookType.ROLLOUT}
        )
        found += _jobs(spec, JobGatePoint.BEFORE_FIRST_STEP)
    elif point == ROLLBACK:
        found = _webhooks(spec, {WebhookType.ROLLBACK})
    else:
        number = int(point.removeprefix("step-"))
        found = _webhooks(spec, {WebhookType.ROLLOUT}) + _jobs(
            spec, JobGatePoint.BEFORE_STEP, number
        )
    return sorted(found, key=lambda gate: not gate.confirm)


def post_rollout(spec: ModelServiceSpec, revision: str, weight: int) -> list[GateRun]:
    """The post-rollout webhooks, called once when a rollout ends (their answer changes
    nothing: the shell posts it as an Event)."""
    return [
        GateRun(run_id(WEBHOOK, gate.name, POST, 1) + revision, WEBHOOK, gate.name, POST, weight)
        for gate in _webhooks(spec, {WebhookType.POST_ROLLOUT})
    ]


@dataclass
class GateVerdict:
    """What the gates of one point say now."""

    records: list[GateStatus]
    runs: list[GateRun] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    failed: str | None = None  # a check failed: roll back with this reason
    holding: str | None = None  # why the rollout waits (running, or a confirm said no)
    wake: float | None = None  # when a waiting confirmation is asked again

    @property
    def passed(self) -> bool:
        return self.failed is None and self.holding is None


def _record(records: list[GateStatus], gate: Gate, point: str) -> GateStatus | None:
    return next(
        (r for r in records if (r.kind, r.name, r.point) == (gate.kind, gate.name, point)),
        None,
    )


def _replace(records: list[GateStatus], new: GateStatus) -> list[GateStatus]:
    same = (new.kind, new.name, new.point)
    return [r for r in records if (r.kind, r.name, r.point) != same] + [new]


def _finished(
    tick: Tick, gate: Gate, record: GateStatus, outcome: GateOutcome, point: str
) -> tuple[GateStatus, Event]:
    """A run's outcome in status and as an Event. For the rollback webhook a "yes" is what
    fails the rollout (Flagger's semantics), a "no" waits for the next ask."""
    if point == ROLLBACK:
        phase = GatePhase.FAILED if outcome.passed else GatePhase.WAITING
    elif outcome.passed:
        phase = GatePhase.PASSED
    else:
        phase = GatePhase.WAITING if gate.confirm else GatePhase.FAILED
    record = record.model_copy(
        update={"phase": phase, "message": outcome.message[:2048], "finished_at": tick.stamp}
    )
    words = f"{gate.kind.lower()} gate {gate.name} ({point})"
    if phase is GatePhase.PASSED:
        return record, Event("Normal", "GatePassed", f"{words} passed: {outcome.message}")
    if phase is GatePhase.FAILED:
        return record, Event("Warning", "GateFailed", f"{words} failed: {outcome.message}")
    return record, Event("Normal", "GateWaiting", f"{words} said no: {outcome.message}")


def judge_gates(
    tick: Tick,
    previous: ModelServiceStatus,
    point: str,
    outcomes: Mapping[str, GateOutcome],
    *,
    weight: int,
    retry_after: float,
) -> GateVerdict:
    """The gates of ``point`` after this look: started, finished, asked again, or waited on."""
    verdict = GateVerdict(records=list(previous.gates or []))
    holding: list[str] = []
    unconfirmed = False  # a confirmation of this point has not said yes yet
    for gate in gates_at(tick.spec, point):
        record = _record(verdict.records, gate, point)
        if record is None and unconfirmed:
            # As in Flagger, the other gates of a point run once it is confirmed.
            holding.append(f"{gate.name} waits for the confirmation")
            continue
        if record is None:
            record = GateStatus(
                name=gate.name,
                kind=gate.kind,
                point=point,
                phase=GatePhase.RUNNING,
                started_at=tick.stamp,
            )
        elif record.phase is GatePhase.WAITING:
            left = retry_after - since(record.finished_at, tick.now)
            if left > 0:
                holding.append(
                    f"{gate.name} said no ({record.message}), asked again in {left:.0f}s"
                )
                verdict.wake = left if verdict.wake is None else min(verdict.wake, left)
                continue
            record = record.model_copy(
                update={
                    "phase": GatePhase.RUNNING,
                    "attempt": record.attempt + 1,
                    "started_at": tick.stamp,
                    "finished_at": None,
                }
            )
        if record.phase is GatePhase.RUNNING:
            ran = run_id(gate.kind, gate.name, point, record.attempt)
            outcome = outcomes.get(ran)
            if outcome is None:
                verdict.runs.append(GateRun(ran, gate.kind, gate.name, point, weight))
                holding.append(f"{gate.name} running")
            else:
                record, event = _finished(tick, gate, record, outcome, point)
                verdict.events.append(event)
                if record.phase is GatePhase.WAITING:
                    holding.append(f"{gate.name} said no ({record.message})")
                    verdict.wake = retry_after
        verdict.records = _replace(verdict.records, record)
        unconfirmed = unconfirmed or (gate.confirm and record.phase is not GatePhase.PASSED)
        if record.phase is GatePhase.FAILED and verdict.failed is None:
            verdict.failed = f"{gate.kind.lower()} gate {gate.name} failed: {record.message}"
    if holding and verdict.failed is None:
        verdict.holding = "waiting for gates: " + "; ".join(holding)
    return verdict


def gates_passed(spec: ModelServiceSpec, status: ModelServiceStatus, point: str) -> bool:
    """Every gate of ``point`` passed (true where none is declared)."""
    records = status.gates or []
    return all(
        (record := _record(records, gate, point)) is not None and record.phase is GatePhase.PASSED
        for gate in gates_at(spec, point)
    )


def in_flight(status: ModelServiceStatus, wanted: list[GateRun]) -> list[GateRun]:
    """The runs to have in flight after this decision: those it asked for, and those status
    says run while the rollout goes on (a look that did not reach the gates, say while a
    canary pod restarts, must not cancel a Job half-way)."""
    runs = {run.id: run for run in wanted}
    if status.stage is not None:
        for record in status.gates or []:
            if record.phase is GatePhase.RUNNING:
                ran = run_id(record.kind, record.name, record.point, record.attempt)
                weight = status.canary_weight or 0
                runs.setdefault(ran, GateRun(ran, record.kind, record.name, record.point, weight))
    return [run for run in runs.values() if run.point != POST]


def post_runs(wanted: list[GateRun]) -> list[GateRun]:
    """The post-rollout webhooks a rollout's end asked for (fired once, never cancelled)."""
    return [run for run in wanted if run.point == POST]
