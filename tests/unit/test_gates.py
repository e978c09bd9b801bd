"""Rollout gates in the pure machine, one gate kind at a time: outcomes in, runs and
decisions out."""

from typing import Any

import pytest

from modelops.api.errors import SpecError
from modelops.api.spec import ModelServiceSpec
from modelops.api.status import GatePhase, ModelServiceStatus, Phase, Stage
from modelops.rollout.gate_io import GateOutcome
from modelops.rollout.gates import in_flight
from modelops.rollout.plan import plan
from modelops.rollout.transitions import Commands, Transition
from tests.support.rollout import deployed, ready, spec, tick

STEPS = [{"weight": 20}, {"weight": 60}]
TEMPLATE = {"spec": {"containers": [{"name": "eval", "image": "eval:1"}]}}
HOOK = "http://hooks.test/gate"


def job(name: str, at: str, step: int | None = None) -> dict[str, Any]:
    gate: dict[str, Any] = {"name": name, "at": at, "template": TEMPLATE}
    return gate if step is None else {**gate, "step": step}


def hook(name: str, type_: str) -> dict[str, Any]:
    return {"name": name, "type": type_, "url": HOOK}


def gated(
    jobs: list[dict[str, Any]] | None = None,
    hooks: list[dict[str, Any]] | None = None,
    steps: list[dict[str, Any]] = STEPS,
) -> ModelServiceSpec:
    gates: dict[str, Any] = {}
    if jobs:
        gates["jobs"] = jobs
    if hooks:
        gates["webhooks"] = hooks
    return spec("2.0.0", steps, gates=gates, analysis={"interval": "10s"})


def started(new: ModelServiceSpec) -> tuple[ModelServiceSpec, ModelServiceStatus]:
    """v2's rollout started over a stable v1; its canary not ready yet."""
    old, status = deployed()
    step = tick(new, status, ready(old), ready(new, desired=1, ready=0), at=1)
    return old, step.status


def look(
    new: ModelServiceSpec,
    status: ModelServiceStatus,
    at: float,
    gates: dict[str, GateOutcome] | None = None,
) -> Transition:
    """The canary ready, stable on v1."""
    stable = plan(new, status).stable_spec
    return tick(new, status, ready(stable), ready(new, desired=1), at=at, gates=gates)


def record(status: ModelServiceStatus, name: str) -> Any:
    return next(r for r in status.gates or [] if r.name == name)


def test_a_failing_job_before_the_first_step_rolls_back_with_its_log_at_0_percent() -> None:
    new = gated(jobs=[job("golden", "BeforeFirstStep")])
    _, status = started(new)
    assert status.canary_weight == 0  # the canary's pods come up, no traffic yet

    step = look(new, status, at=2)
    assert [run.id for run in step.gate_runs] == ["job/golden@step-1#1"]
    assert step.status.phase is Phase.PROGRESSING
    assert "waiting for gates: golden running" in (step.status.message or "")
    assert record(step.status, "golden").phase is GatePhase.RUNNING
    assert step.status.canary_weight == 0

    # A look without news keeps the run wanted (the shell leaves it in flight).
    again = look(new, step.status, at=3)
    assert [run.id for run in again.gate_runs] == ["job/golden@step-1#1"]

    failed = GateOutcome(False, "Job m-golden-1 failed (BackoffLimitExceeded); log: 2/3 wrong")
    step = look(new, again.status, at=4, gates={"job/golden@step-1#1": failed})
    assert step.status.phase is Phase.ROLLED_BACK
    assert "2/3 wrong" in (step.status.message or "")
    assert [e.reason for e in step.events] == ["GateFailed", "RolledBack"]
    assert record(step.status, "golden").phase is GatePhase.FAILED
    assert plan(new, step.status).canary_spec is None  # stable takes all traffic at once


def test_a_passing_job_before_the_first_step_gives_the_canary_its_weight() -> None:
    new = gated(jobs=[job("golden", "BeforeFirstStep")])
    _, status = started(new)
    status = look(new, status, at=2).status
    step = look(new, status, at=3, gates={"job/golden@step-1#1": GateOutcome(True, "ok")})
    assert step.status.canary_weight == 20
    assert in_flight(step.status, step.gate_runs) == []
    assert [e.reason for e in step.events] == ["GatePassed", "StepAdvanced"]
    assert step.gate_runs == []
    # Passed is remembered: the next looks walk the steps without asking again.
    step = look(new, step.status, at=4)
    assert step.status.canary_weight == 60
    assert step.gate_runs == []


def test_a_job_before_a_named_step_runs_at_the_previous_weight_and_holds_the_advance() -> None:
    new = gated(jobs=[job("load", "BeforeStep", step=2)])
    _, status = started(new)
    assert status.canary_weight == 20
    step = look(new, status, at=2)
    assert [(run.id, run.weight) for run in step.gate_runs] == [("job/load@step-2#1", 20)]
    assert step.status.canary_weight == 20
    step = look(new, step.status, at=3, gates={"job/load@step-2#1": GateOutcome(True, "ok")})
    assert step.status.canary_weight == 60
    # Passed on the record in the same look, and no longer wanted in flight.
    assert record(step.status, "load").phase is GatePhase.PASSED
    assert [e.reason for e in step.events] == ["GatePassed", "StepAdvanced"]
    assert in_flight(step.status, step.gate_runs) == []


def test_a_job_before_promotion_holds_the_promotion() -> None:
    new = gated(jobs=[job("eval", "BeforePromotion")])
    _, status = started(new)
    status = look(new, status, at=2).status
    assert status.canary_weight == 60
    step = look(new, status, at=3)
    assert [run.id for run in step.gate_runs] == ["job/eval@promotion#1"]
    assert step.status.stage is Stage.CANARY
    step = look(new, step.status, at=4, gates={"job/eval@promotion#1": GateOutcome(True, "ok")})
    assert step.status.stage is Stage.PROMOTING
    assert record(step.status, "eval").phase is GatePhase.PASSED
    assert in_flight(step.status, step.gate_runs) == []


def test_webhooks_before_the_first_step_ask_confirmation_first_and_a_failed_check_rolls_back() -> (
    None
):
    new = gated(hooks=[hook("pre", "pre-rollout"), hook("ok", "confirm-rollout")])
    _, status = started(new)
    step = look(new, status, at=2)
    # The confirmation first: the pre-rollout check runs once it said yes.
    assert [run.id for run in step.gate_runs] == ["webhook/ok@step-1#1"]
    assert "pre waits for the confirmation" in (step.status.message or "")
    step = look(new, step.status, at=3, gates={"webhook/ok@step-1#1": GateOutcome(True, "")})
    assert [run.id for run in step.gate_runs] == ["webhook/pre@step-1#1"]
    outcomes = {"webhook/pre@step-1#1": GateOutcome(False, "HTTP 503: busy (after 3 tries)")}
    step = look(new, step.status, at=4, gates=outcomes)
    assert step.status.phase is Phase.ROLLED_BACK
    assert "webhook gate pre failed: HTTP 503: busy (after 3 tries)" in (step.status.message or "")


def test_a_confirm_promotion_that_says_no_holds_and_is_asked_again_each_interval() -> None:
    new = gated(hooks=[hook("approve", "confirm-promotion")])
    _, status = started(new)
    status = look(new, status, at=2).status
    step = look(new, status, at=3)
    assert [run.id for run in step.gate_runs] == ["webhook/approve@promotion#1"]

    no = {"webhook/approve@promotion#1": GateOutcome(False, "HTTP 403: not yet")}
    step = look(new, step.status, at=4, gates=no)
    assert step.status.phase is Phase.PROGRESSING
    assert step.status.stage is Stage.CANARY
    assert record(step.status, "approve").phase is GatePhase.WAITING
    assert "approve said no (HTTP 403: not yet)" in (step.status.message or "")
    assert step.status.conditions is not None
    assert any(c.reason == "GateWaiting" for c in step.status.conditions)
    assert [e.reason for e in step.events] == ["GateWaiting"]
    assert step.gate_runs == []
    assert step.wake_after == 10.0

    held = look(new, step.status, at=9)  # within the interval: not asked again
    assert held.gate_runs == []
    asked = look(new, held.status, at=15)  # the interval is over: a second try
    assert [run.id for run in asked.gate_runs] == ["webhook/approve@promotion#2"]
    yes = {"webhook/approve@promotion#2": GateOutcome(True, "HTTP 200")}
    step = look(new, asked.status, at=16, gates=yes)
    assert step.status.stage is Stage.PROMOTING
    assert record(step.status, "approve").attempt == 2


def test_a_rollout_webhook_runs_before_every_step() -> None:
    new = gated(hooks=[hook("each", "rollout")])
    _, status = started(new)
    assert status.canary_weight == 0
    step = look(new, status, at=2)
    assert [run.id for run in step.gate_runs] == ["webhook/each@step-1#1"]
    step = look(new, step.status, at=3, gates={"webhook/each@step-1#1": GateOutcome(True, "")})
    step = look(new, step.status, at=4)
    assert [run.id for run in step.gate_runs] == ["webhook/each@step-2#1"]
    assert step.status.canary_weight == 20


def test_the_rollback_webhook_is_polled_and_a_no_changes_nothing() -> None:
    new = gated(hooks=[hook("stop", "rollback")], steps=[{"weight": 20, "pause": "1m"}])
    _, status = started(new)
    step = look(new, status, at=2)
    assert [run.id for run in step.gate_runs] == ["webhook/stop@rollback#1"]
    assert step.status.canary_weight == 20  # it holds nothing
    no = {"webhook/stop@rollback#1": GateOutcome(False, "HTTP 404")}
    step = look(new, step.status, at=3, gates=no)
    assert step.status.phase is Phase.PROGRESSING
    assert step.events == []  # a "no" every interval is no news
    assert step.gate_runs == []
    assert [run.id for run in look(new, step.status, at=14).gate_runs] == [
        "webhook/stop@rollback#2"
    ]


def test_a_yes_from_the_rollback_webhook_rolls_back() -> None:
    new = gated(hooks=[hook("stop", "rollback")], jobs=[job("eval", "BeforePromotion")])
    _, status = started(new)
    status = look(new, status, at=2).status
    step = look(new, status, at=3, gates={"webhook/stop@rollback#1": GateOutcome(True, "HTTP 200")})
    assert step.status.phase is Phase.ROLLED_BACK
    assert "webhook gate stop asked for a rollback: HTTP 200" in (step.status.message or "")


def test_post_rollout_webhooks_are_asked_once_the_rollout_ends() -> None:
    new = gated(hooks=[hook("tell", "post-rollout")])
    _, status = started(new)
    step = look(new, status, at=2, gates={})
    assert step.gate_runs == []
    step = look(new, step.status, at=3)
    assert step.status.stage is Stage.PROMOTING
    stable = ready(new)
    done = tick(new, step.status, stable, ready(new, desired=1), at=4)
    assert done.status.phase is Phase.STABLE
    assert [(run.point, run.weight) for run in done.gate_runs] == [("post", 100)]


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        (job("e", "BeforeStep", step=3), "must name one of steps"),
        (job("e", "BeforeStep"), "needs step"),
        (job("e", "BeforePromotion", step=2), "step is for BeforeStep only"),
    ],
)
def test_a_job_gate_naming_a_step_that_does_not_exist_is_refused(
    gate: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=rf"spec\.rollout\.gates\.jobs: .*{message}"):
        gated(jobs=[gate])


def test_gate_names_are_unique_per_kind() -> None:
    with pytest.raises(
        SpecError, match=r"spec\.rollout\.gates\.webhooks: webhook gate names must be unique"
    ):
        gated(hooks=[hook("a", "rollout"), hook("a", "pre-rollout")])


def test_a_run_in_flight_stays_wanted_while_a_look_does_not_reach_the_gates() -> None:
    new = gated(jobs=[job("golden", "BeforeFirstStep")])
    _, status = started(new)
    status = look(new, status, at=2).status
    # The canary's pod restarts: the look stops before the gates, the Job must not be cancelled.
    unready = tick(new, status, ready(plan(new, status).stable_spec), ready(new, ready=0), at=3)
    assert unready.gate_runs == []
    assert [run.id for run in in_flight(unready.status, unready.gate_runs)] == [
        "job/golden@step-1#1"
    ]
    # Once the rollout ended, nothing is wanted any more.
    aborted = tick(
        new, status, ready(plan(new, status).stable_spec), at=4, commands=Commands(abort=True)
    )
    assert in_flight(aborted.status, aborted.gate_runs) == []
    assert aborted.status.gates is None  # a run cut short is not shown as running
