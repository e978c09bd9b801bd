"""Spec edits in the middle of a rollout, by direct calls of the pure machine: each one has a
defined outcome (docs/rollouts.md, "Editing a ModelService mid-rollout") and none raises."""

from typing import Any

from modelops.api.spec import ModelServiceSpec
from modelops.api.status import MetricResult, ModelServiceStatus, Phase, Stage
from modelops.manifests import parse_model_service
from modelops.render import RenderContext, desired_children, possible_children
from modelops.render.refs import ref_of
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.plan import plan
from modelops.rollout.verdict import analysis_due
from tests.support import kstatus
from tests.support.rollout import METRIC, T0, deployed, ready, spec, tick
from tests.support.routing import ISTIO
from tests.support.samples import model_service

STEPS: list[dict[str, Any]] = [{"weight": 20}, {"weight": 40, "pause": "10m"}, {"weight": 60}]
OLD = spec("1.0.0")


def at_second_step(
    steps: list[dict[str, Any]] = STEPS, **rollout: Any
) -> tuple[ModelServiceSpec, ModelServiceStatus]:
    """v2 rolling out, its canary ready and moved on to the second step (40%)."""
    _, status = deployed()
    new = spec("2.0.0", steps, **rollout)
    step = tick(new, status, ready(OLD), WorkloadObservation(exists=True, desired=1), at=0)
    step = tick(new, step.status, ready(OLD), ready(new, desired=1), at=1)
    assert (step.status.current_step, step.status.canary_weight) == (1, 40)
    return new, step.status


def edited(new: ModelServiceSpec, **changes: Any) -> ModelServiceSpec:
    """``new`` with spec fields changed (camelCase, as in YAML)."""
    document = model_service("m")
    document["spec"] = new.to_api() | changes
    return parse_model_service(document).spec


def test_steps_shortened_below_the_current_step_restart_at_the_first_new_step() -> None:
    _, status = at_second_step()
    shorter = spec("2.0.0", [{"weight": 30}])
    step = tick(shorter, status, ready(OLD), ready(shorter, desired=1), at=2)
    assert [event.reason for event in step.events] == ["StepsChanged"]
    assert (step.status.current_step, step.status.canary_weight) == (0, 30)
    assert plan(shorter, step.status).weight == 30
    # The next looks go on from there: the single step passes, then the promotion.
    step = tick(shorter, step.status, ready(OLD), ready(shorter, desired=1), at=3)
    assert step.status.stage is Stage.PROMOTING


def test_steps_lengthened_restart_at_the_first_step() -> None:
    _, status = at_second_step()
    longer = spec("2.0.0", [*STEPS, {"weight": 80}])
    step = tick(longer, status, ready(OLD), ready(longer, desired=1), at=2)
    assert [event.reason for event in step.events] == ["StepsChanged"]
    assert (step.status.current_step, step.status.canary_weight) == (0, 20)
    assert "step 1/4" in (step.status.message or "")


def test_reweighted_steps_restart_and_the_plan_applies_what_status_says() -> None:
    _, status = at_second_step()
    reweighted = spec("2.0.0", [{"weight": 20}, {"weight": 50, "pause": "10m"}, {"weight": 60}])
    # Before the machine has seen the edit, the plan keeps the weight status reports.
    assert plan(reweighted, status).weight == status.canary_weight == 40
    step = tick(reweighted, status, ready(OLD), ready(reweighted, desired=1), at=2)
    assert (step.status.current_step, step.status.canary_weight) == (0, 20)
    assert plan(reweighted, step.status).weight == 20
    assert "StepsChanged" in [event.reason for event in step.events]


def test_a_status_without_a_step_hash_keeps_its_step_while_it_exists() -> None:
    new, status = at_second_step()
    older = status.model_copy(update={"step_hash": None})  # written by an older operator
    step = tick(new, older, ready(OLD), ready(new, desired=1), at=2)
    assert step.events == [] and step.status.current_step == 1
    assert step.status.step_hash == status.step_hash


def test_routing_provider_switched_keeps_the_step_and_deletes_the_old_route() -> None:
    new, status = at_second_step()
    assert status.routing == "replicas"
    rollout = new.to_api()["rollout"]
    meshed = edited(new, rollout=rollout | {"trafficRouting": ISTIO})
    step = tick(meshed, status, ready(OLD), ready(meshed, desired=1), at=2)
    assert step.events == [] and (step.status.current_step, step.status.canary_weight) == (1, 40)
    assert step.status.routing == "istio"
    # Back to replicas: the VirtualService and per-track Services rendered for Istio are
    # possible children no longer desired, so the sync deletes them.
    document = model_service("m", "2.0.0", rollout=rollout)
    document["status"] = step.status.to_api()
    service = parse_model_service(document)
    chosen = plan(service.spec, step.status)
    ctx = RenderContext.for_service(service, chosen.stable_spec, chosen.canary_spec, chosen.weight)
    stale = {(ref.kind, ref.name) for ref in possible_children(ctx)} - {
        (ref_of(m).kind, ref_of(m).name) for m in desired_children(ctx)
    }
    assert {("VirtualService", "m"), ("Service", "m-canary"), ("Service", "m-stable")} <= stale
    steady = parse_model_service(model_service("m", rollout=rollout))
    assert "VirtualService" not in {r.kind for r in possible_children(RenderContext.steady(steady))}


def test_analysis_metrics_changed_take_effect_at_the_next_run() -> None:
    refused = [MetricResult(name="errors", ok=None, error=True, message="query 'x' failed")]
    _, status = deployed()
    new = spec("2.0.0", STEPS, analysis={"metrics": [METRIC]})
    step = tick(new, status, ready(OLD), WorkloadObservation(exists=True, desired=1), at=0)
    step = tick(new, step.status, ready(OLD), ready(new, desired=1), refused, at=1)
    assert step.status.conditions and "AnalysisError" in {c.reason for c in step.status.conditions}
    fixed_metric = {
        **METRIC,
        "name": "errors-fixed",
        "prometheus": {**METRIC["prometheus"], "query": "y"},
    }
    fixed = spec("2.0.0", STEPS, analysis={"metrics": [fixed_metric]})
    # Not a steps edit: the step stands; the next run (at the interval) asks the new query.
    assert not analysis_due(fixed, step.status, True, T0.replace(second=5))
    assert analysis_due(fixed, step.status, True, T0.replace(second=20))
    good = [MetricResult(name="errors-fixed", value=0.0, ok=True, message="within bounds")]
    step = tick(fixed, step.status, ready(OLD), ready(fixed, desired=1), good, at=20)
    assert step.status.current_step == 1 and "AnalysisError" not in (step.status.message or "")
    assert [r.name for r in (step.status.analysis and step.status.analysis.results) or []] == [
        "errors-fixed"
    ]
    # Metrics removed: nothing is due any more, the pause alone holds the step.
    bare = spec("2.0.0", STEPS)
    assert not analysis_due(bare, step.status, True, T0.replace(minute=5))
    step = tick(bare, step.status, ready(OLD), ready(bare, desired=1), at=21)
    step = tick(bare, step.status, ready(OLD), ready(bare, desired=1), at=700)
    assert step.status.current_step == 2


def test_canary_switched_to_immediate_rolls_stable_to_the_new_version() -> None:
    new, status = at_second_step()
    immediate = edited(new, rollout={"strategy": "Immediate"})
    chosen = plan(immediate, status)
    assert chosen.canary_spec is None and chosen.stable_spec.model.version == "2.0.0"
    step = tick(immediate, status, ready(OLD, updated=1), at=2)
    assert "RolloutAborted" in [event.reason for event in step.events]
    assert step.status.canary_version is None and step.status.stage is None
    assert step.status.phase is Phase.PROGRESSING  # stable rolls: a rolling update
    assert kstatus.compute({"status": step.status.to_api()}).status == kstatus.IN_PROGRESS
    step = tick(immediate, step.status, ready(immediate), at=3)
    assert step.status.phase is Phase.STABLE and step.status.stable_version == "2.0.0"


def test_immediate_switched_to_canary_mid_rolling_update_takes_the_canary_road() -> None:
    _, status = deployed()
    immediate = edited(spec("2.0.0"), rollout={"strategy": "Immediate"})
    rolling = tick(immediate, status, ready(OLD, updated=1, ready=1), at=1).status
    assert rolling.phase is Phase.PROGRESSING
    canary = spec("2.0.0")
    chosen = plan(canary, rolling)
    # Stable goes back to what it ran; the new version becomes the canary at the first step.
    assert chosen.stable_spec.model.version == "1.0.0"
    assert (chosen.canary_spec, chosen.weight) == (canary, 20)
    step = tick(canary, rolling, ready(OLD), at=2)
    assert [event.reason for event in step.events] == ["RolloutStarted"]


def test_replicas_or_autoscaling_changed_keep_the_step() -> None:
    new, status = at_second_step()
    for change in (
        {"replicas": 5},
        {"autoscaling": {"minReplicas": 2, "maxReplicas": 6, "targetCPUUtilizationPercentage": 70}},
    ):
        scaled = edited(new, **change)
        step = tick(
            scaled,
            status,
            ready(OLD, desired=5, updated=2, ready=2),
            ready(scaled, desired=1),
            at=2,
        )
        assert step.events == [], change
        assert (step.status.current_step, step.status.canary_weight) == (1, 40), change
        assert plan(scaled, step.status).weight == 40


def test_paused_holds_the_step_but_not_a_rollback_nor_a_promotion_under_way() -> None:
    new, status = at_second_step()
    paused = edited(new, paused=True)
    held = tick(paused, status, ready(OLD), ready(paused, desired=1), at=1000)
    assert held.status.current_step == 1 and "paused" in (held.status.message or "")
    assert kstatus.compute({"status": held.status.to_api()}).status == kstatus.CURRENT
    crashing = WorkloadObservation(exists=True, desired=1, pod_problems=("OOMKilled (pod x)",))
    assert (
        tick(paused, held.status, ready(OLD), crashing, at=1001).status.phase is Phase.ROLLED_BACK
    )
    went_on = tick(new, held.status, ready(OLD), ready(new, desired=1), at=1700)
    assert went_on.status.current_step == 2
    promoting = tick(new, went_on.status, ready(OLD), ready(new, desired=2), at=1701).status
    assert promoting.stage is Stage.PROMOTING
    done = tick(paused, promoting, ready(new), ready(new, desired=2), at=1702)
    assert done.status.phase is Phase.STABLE


def test_a_paused_rollout_deleted_is_terminating_for_kstatus() -> None:
    new, status = at_second_step()
    held = tick(edited(new, paused=True), status, ready(OLD), ready(new, desired=1), at=5).status
    body = {"metadata": {"generation": 1, "deletionTimestamp": "2026-01-01T00:01:00Z"}}
    result = kstatus.compute({**body, "status": held.to_api()})
    assert result.status == kstatus.TERMINATING
