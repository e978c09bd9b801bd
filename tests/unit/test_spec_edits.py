"""Spec edits in the middle of a rollout, by direct calls of the pure machine: each one has a
defined outcome (docs/rollouts.md, "Editing a ModelService mid-rollout") and none raises."""

from modelops.api.spec import ModelServiceSpec
from modelops.api.status import ModelServiceStatus, Stage
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.plan import plan
from tests.support.rollout import deployed, ready, spec, tick

STEPS = [{"weight": 20}, {"weight": 40, "pause": "10m"}, {"weight": 60}]


def at_second_step(
    steps: list[dict[str, int | str]] = STEPS,
) -> tuple[ModelServiceSpec, ModelServiceStatus]:
    """v2 rolling out, its canary ready and moved on to the second step (40%)."""
    old, status = deployed()
    new = spec("2.0.0", steps)
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1), at=0)
    step = tick(new, step.status, ready(old), ready(new, desired=1), at=1)
    assert (step.status.current_step, step.status.canary_weight) == (1, 40)
    return new, step.status


def test_steps_shortened_below_the_current_step_restart_at_the_first_new_step() -> None:
    _new, status = at_second_step()
    shorter = spec("2.0.0", [{"weight": 30}])
    old = spec("1.0.0")
    for at in (2, 3):  # the first tick restarts; the next ones go on from there
        step = tick(shorter, status, ready(old), ready(shorter, desired=1), at=at)
        status = step.status
        assert status.stage in {Stage.CANARY, Stage.PROMOTING}
    assert plan(shorter, status).weight == status.canary_weight


def test_reweighted_steps_restart_and_the_plan_applies_what_status_says() -> None:
    _new, status = at_second_step()
    reweighted = spec("2.0.0", [{"weight": 20}, {"weight": 50, "pause": "10m"}, {"weight": 60}])
    # Before the machine has seen the edit, the plan keeps the weight status reports.
    assert plan(reweighted, status).weight == status.canary_weight == 40
    old = spec("1.0.0")
    step = tick(reweighted, status, ready(old), ready(reweighted, desired=1), at=2)
    assert (step.status.current_step, step.status.canary_weight) == (0, 20)
    assert plan(reweighted, step.status).weight == 20
    assert "StepsChanged" in [event.reason for event in step.events]
