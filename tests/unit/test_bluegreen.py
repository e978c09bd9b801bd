"""Strategy BlueGreen through the pure machine and the renderers: preview at full size and 0%,
the switch at once, the scale-down delay, and aborts before and during it."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.api.spec import ModelService, ModelServiceSpec
from modelops.api.status import BlueGreenPhase, MetricResult, ModelServiceStatus, Phase, Stage
from modelops.commands import describe
from modelops.manifests import parse_model_service
from modelops.notify.payloads import notifications_for
from modelops.render import RenderContext, desired_children
from modelops.render.gates import gate_env
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.plan import full_size, plan
from modelops.rollout.transitions import Commands, Transition
from tests.support.rollout import METRIC, T0, ready, tick
from tests.support.samples import model_service

DELAY = 30
FAILING = [MetricResult(name="errors", value=0.9, ok=False, message="above max 0.05")]
PASSING = [MetricResult(name="errors", value=0.0, ok=True, message="within bounds")]


def document(version: str, routing: str = "replicas", **blue_green: Any) -> dict[str, Any]:
    rollout = {
        "strategy": "BlueGreen",
        "blueGreen": {"scaleDownDelaySeconds": DELAY, **blue_green},
        "trafficRouting": {routing: _routing(routing)},
    }
    extra = {"rateLimit": {"requestsPerMinute": 100}, "replicas": 1} if routing == "gateway" else {}
    return model_service("m", version, rollout=rollout, **extra)


def _routing(provider: str) -> dict[str, Any]:
    if provider == "gatewayAPI":
        return {"parentRefs": [{"name": "gw"}]}
    return {}


def bg(version: str, routing: str = "replicas", **blue_green: Any) -> ModelServiceSpec:
    return parse_model_service(document(version, routing, **blue_green)).spec


def deployed(old: ModelServiceSpec) -> ModelServiceStatus:
    step = tick(old, ModelServiceStatus(), ready(old))
    assert step.status.phase is Phase.STABLE
    return step.status


def switched(new: ModelServiceSpec, old: ModelServiceSpec) -> Transition:
    """v2 started, its preview ready, and switched to (at t=2)."""
    status = deployed(old)
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=2), at=1)
    step = tick(new, step.status, ready(old), ready(new), at=2)
    assert [e.reason for e in step.events] == ["Switched"]
    return step


def service_of(spec: ModelServiceSpec, status: ModelServiceStatus) -> list[dict[str, Any]]:
    chosen = plan(spec, status)
    service = ModelService.model_validate(
        {"metadata": {"name": "m", "namespace": "ml", "uid": "u"}, "spec": spec.to_api()}
    )
    ctx = RenderContext.for_service(
        service,
        chosen.stable_spec,
        chosen.canary_spec,
        chosen.weight,
        canary_replicas=chosen.canary_replicas,
    )
    return desired_children(ctx)


def named(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)


def test_preview_runs_at_full_size_then_switches_at_once_and_scales_down_after_the_delay() -> None:
    old, new = bg("1.0.0"), bg("2.0.0")
    status = deployed(old)
    chosen = plan(new, status)
    assert (chosen.weight, chosen.canary_replicas) == (0, 2)
    assert chosen.stable_spec.model.version == "1.0.0"

    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=2), at=1)
    assert [e.reason for e in step.events] == ["RolloutStarted"]
    assert "preview 2.0.0 at full size" in step.events[0].message
    assert step.status.blue_green is BlueGreenPhase.PREVIEW
    assert step.status.canary_weight == 0

    step = tick(new, step.status, ready(old), ready(new), at=2)
    assert [e.reason for e in step.events] == ["Switched"]
    assert step.status.blue_green is BlueGreenPhase.SWITCHED
    assert (step.status.canary_weight, plan(new, step.status).weight) == (100, 100)
    # The old version keeps its full size through the delay.
    assert plan(new, step.status).stable_spec.model.version == "1.0.0"

    held = tick(new, step.status, ready(old), ready(new), at=2 + DELAY - 10)
    assert held.status.blue_green is BlueGreenPhase.SWITCHED and held.events == []
    assert held.wake_after == pytest.approx(10)

    step = tick(new, held.status, ready(old), ready(new), at=2 + DELAY)
    assert [e.reason for e in step.events] == ["ScalingDown"]
    assert (step.status.stage, step.status.blue_green) == (
        Stage.PROMOTING,
        BlueGreenPhase.SCALING_DOWN,
    )
    scaling = plan(new, step.status)
    assert scaling.stable_spec == new and scaling.weight == 100

    step = tick(new, step.status, ready(new), ready(new), at=3 + DELAY)
    assert [e.reason for e in step.events] == ["Promoted"]
    assert step.status.stable_version == "2.0.0"
    assert (step.status.blue_green, step.status.switched_at) == (None, None)
    assert "scale-down delay" in (step.status.history or [])[-1].reason
    assert plan(new, step.status).canary_spec is None


def test_abort_in_preview_removes_the_new_version_and_traffic_never_moved() -> None:
    old, new = bg("1.0.0"), bg("2.0.0", autoPromote=False)
    status = deployed(old)
    step = tick(new, status, ready(old), ready(new), at=1)
    step = tick(new, step.status, ready(old), ready(new), at=2)
    assert step.status.canary_weight == 0
    aborted = tick(new, step.status, ready(old), ready(new), at=3, commands=Commands(abort=True))
    assert aborted.status.phase is Phase.ROLLED_BACK
    assert "switched back" not in (aborted.status.message or "")
    assert plan(new, aborted.status).canary_spec is None


def test_abort_within_the_delay_switches_back_at_once_and_says_so() -> None:
    old, new = bg("1.0.0"), bg("2.0.0")
    step = switched(new, old)
    aborted = tick(new, step.status, ready(old), ready(new), at=10, commands=Commands(abort=True))
    assert [(e.type, e.reason) for e in aborted.events] == [("Warning", "RolledBack")]
    said = "all traffic switched back to 1.0.0 at once"
    assert said in aborted.events[0].message
    stalled = {c.type: c for c in aborted.status.conditions or []}["Stalled"]
    assert said in stalled.message
    back = plan(new, aborted.status)
    assert back.canary_spec is None and back.stable_spec.model.version == "1.0.0"
    assert (aborted.status.blue_green, aborted.status.canary_weight) == (None, 0)


def test_failed_analysis_after_the_switch_switches_back() -> None:
    old = bg("1.0.0")
    with_metrics = parse_model_service(
        model_service(
            "m",
            "2.0.0",
            rollout={
                "strategy": "BlueGreen",
                "analysis": {"metrics": [METRIC], "failureLimit": 1},
            },
        )
    ).spec
    status = deployed(old)
    step = tick(with_metrics, status, ready(old), ready(with_metrics), at=1)
    assert step.status.canary_weight == 0  # no analysis run yet
    step = tick(with_metrics, step.status, ready(old), ready(with_metrics), PASSING, at=2)
    assert step.status.blue_green is BlueGreenPhase.SWITCHED
    failed = tick(with_metrics, step.status, ready(old), ready(with_metrics), FAILING, at=40)
    assert failed.status.phase is Phase.ROLLED_BACK
    assert "switched back to 1.0.0" in (failed.status.message or "")


def test_without_auto_promote_the_preview_waits_for_promote_which_never_skips_the_delay() -> None:
    old, new = bg("1.0.0"), bg("2.0.0", autoPromote=False)
    status = deployed(old)
    step = tick(new, status, ready(old), ready(new), at=1)
    for at in (2, 300):
        step = tick(new, step.status, ready(old), ready(new), at=at)
        assert step.status.canary_weight == 0
        assert step.status.conditions is not None
        progressing = {c.type: c for c in step.status.conditions}["Progressing"]
        assert progressing.reason == "PreviewHeld"
    promote = Commands(promote=True)
    step = tick(new, step.status, ready(old), ready(new), at=301, commands=promote)
    assert step.status.blue_green is BlueGreenPhase.SWITCHED
    # The promote annotation stays on the object: the delay still runs out in full.
    step = tick(new, step.status, ready(old), ready(new), at=302, commands=promote)
    assert step.status.blue_green is BlueGreenPhase.SWITCHED


def test_preview_service_and_main_service_selector_follow_the_phase_under_replicas() -> None:
    old, new = bg("1.0.0"), bg("2.0.0")
    status = deployed(old)
    preview = tick(
        new, status, ready(old), WorkloadObservation(exists=True, desired=2), at=1
    ).status
    children = service_of(new, preview)
    selector = named(children, "Service", "m")["spec"]["selector"]
    assert selector["modelops.dev/track"] == "stable"
    assert named(children, "Service", "m-preview")["spec"]["selector"]["modelops.dev/track"] == (
        "canary"
    )
    assert named(children, "Deployment", "m-canary")["spec"]["replicas"] == 2
    after = switched(new, old).status
    switched_children = service_of(new, after)
    main = named(switched_children, "Service", "m")["spec"]["selector"]
    assert main["modelops.dev/track"] == "canary"
    assert named(switched_children, "Deployment", "m-stable")["spec"]["replicas"] == 2
    aborted = tick(new, after, ready(old), ready(new), at=5, commands=Commands(abort=True))
    back = service_of(new, aborted.status)
    assert named(back, "Service", "m")["spec"]["selector"]["modelops.dev/track"] == "stable"
    assert not [m for m in back if m["metadata"]["name"] in {"m-preview", "m-canary"}]


@pytest.mark.parametrize(
    ("routing", "kind", "weights"),
    [
        ("gatewayAPI", "HTTPRoute", lambda s: [b["weight"] for b in s["rules"][-1]["backendRefs"]]),
        ("istio", "VirtualService", lambda s: [r["weight"] for r in s["http"][-1]["route"]]),
    ],
)
def test_mesh_routes_carry_0_then_100(routing: str, kind: str, weights: Any) -> None:
    old, new = bg("1.0.0", routing), bg("2.0.0", routing)
    status = deployed(old)
    preview = tick(
        new, status, ready(old), WorkloadObservation(exists=True, desired=2), at=1
    ).status
    assert weights(named(service_of(new, preview), kind, "m")["spec"]) == [100, 0]
    after = switched(new, old).status
    assert weights(named(service_of(new, after), kind, "m")["spec"]) == [0, 100]


def test_gateway_routing_forwards_everything_once_switched() -> None:
    old, new = bg("1.0.0", "gateway"), bg("2.0.0", "gateway")
    after = switched(new, old).status
    children = service_of(new, after)
    assert "canaryWeight: 100" in named(children, "ConfigMap", "m-routing")["data"]["routing.yaml"]
    # Stable's pods keep the main Service: their gateways forward to the switched version.
    assert named(children, "Service", "m")["spec"]["selector"]["modelops.dev/track"] == "stable"


def test_gates_reach_the_preview_service() -> None:
    new = bg("2.0.0")
    service = ModelService.model_validate(
        {"metadata": {"name": "m", "namespace": "ml"}, "spec": new.to_api()}
    )
    env = {e["name"]: e["value"] for e in gate_env(RenderContext.steady(service), "1.0.0")}
    assert env["CANARY_URL"] == "http://m-preview.ml.svc.cluster.local.:80"


def test_full_size_follows_what_the_hpa_scaled_stable_to_within_its_bounds() -> None:
    spec = parse_model_service(
        model_service(
            "m",
            rollout={"strategy": "BlueGreen"},
            autoscaling={"minReplicas": 2, "maxReplicas": 6},
        )
    ).spec
    assert full_size(spec, ModelServiceStatus()) == 2
    assert full_size(spec, ModelServiceStatus(replicas=4)) == 4
    assert full_size(spec, ModelServiceStatus(replicas=9)) == 6
    # Switched at 5: the HPA scaling the idle old version down leaves the new one at 5.
    assert full_size(spec, ModelServiceStatus(replicas=2, switched_replicas=5)) == 5


def test_the_switch_records_the_size_the_new_version_keeps() -> None:
    body = document("1.0.0")
    body["spec"]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 6}
    old = parse_model_service(body).spec
    body = document("2.0.0")
    body["spec"]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 6}
    new = parse_model_service(body).spec
    status = deployed(old).model_copy(update={"replicas": 4})
    step = tick(new, status, ready(old, desired=4), ready(new, desired=4), at=1)
    step = tick(new, step.status, ready(old, desired=4), ready(new, desired=4), at=2)
    assert (step.status.blue_green, step.status.switched_replicas) == (
        BlueGreenPhase.SWITCHED,
        4,
    )
    idle = tick(new, step.status, ready(old, desired=2), ready(new, desired=4), at=3)
    assert idle.status.replicas == 2 and plan(new, idle.status).canary_replicas == 4


def test_canary_turned_blue_green_mid_rollout_restarts_as_a_preview() -> None:
    old = bg("1.0.0")
    canary = parse_model_service(
        model_service("m", "2.0.0", rollout={"strategy": "Canary", "steps": [{"weight": 40}]})
    ).spec
    status = deployed(old)
    step = tick(canary, status, ready(old), WorkloadObservation(exists=True, desired=2), at=1)
    assert step.status.canary_weight == 40
    step = tick(
        bg("2.0.0"), step.status, ready(old), WorkloadObservation(exists=True, desired=2), at=2
    )
    assert [e.reason for e in step.events] == ["StepsChanged"]
    assert (step.status.canary_weight, step.status.blue_green) == (0, BlueGreenPhase.PREVIEW)


def as_canary(version: str) -> ModelServiceSpec:
    rollout = {"strategy": "Canary", "steps": [{"weight": 40}]}
    return parse_model_service(model_service("m", version, rollout=rollout)).spec


@pytest.mark.parametrize(
    ("switch", "phase"),
    [(False, None), (True, BlueGreenPhase.SCALING_DOWN)],
    ids=["in-preview", "switched"],
)
def test_turned_canary_and_promoted_in_one_look_the_phase_follows_the_stage(
    switch: bool, phase: BlueGreenPhase | None
) -> None:
    """A promote skips the restart the strategy edit asks for: stable takes the new version
    at once. From a preview that is a canary's promotion (no phase); from the switch, the
    new version keeps all traffic while stable is replaced, as in ScalingDown. Before the
    phase was derived, status kept saying Preview or Switched through the promotion."""
    old, new = bg("1.0.0"), bg("2.0.0", autoPromote=switch)
    status = deployed(old)
    step = tick(new, status, ready(old), ready(new), at=1)
    step = tick(new, step.status, ready(old), ready(new), at=2)
    assert step.status.blue_green is (BlueGreenPhase.SWITCHED if switch else BlueGreenPhase.PREVIEW)
    promote = Commands(promote=True)
    step = tick(as_canary("2.0.0"), step.status, ready(old), ready(new), at=3, commands=promote)
    assert (step.status.stage, step.status.blue_green) == (Stage.PROMOTING, phase)


def test_turned_canary_while_scaling_down_goes_on_scaling_down() -> None:
    old, new = bg("1.0.0"), bg("2.0.0")
    after = switched(new, old).status
    step = tick(new, after, ready(old), ready(new), at=2 + DELAY)
    assert step.status.blue_green is BlueGreenPhase.SCALING_DOWN
    step = tick(as_canary("2.0.0"), step.status, ready(old), ready(new), at=3 + DELAY)
    assert (step.status.stage, step.status.blue_green) == (
        Stage.PROMOTING,
        BlueGreenPhase.SCALING_DOWN,
    )


LOOKS = st.tuples(
    st.booleans(),  # the new version's pods ready
    st.sampled_from([None, PASSING, FAILING]),
    st.sampled_from(["", "abort", "promote", "pause"]),
    st.sampled_from([1.0, 5.0, 40.0]),  # seconds since the last look
)


@settings(max_examples=200, deadline=None)
@given(
    st.booleans(),
    st.booleans(),
    st.sampled_from(["replicas", "gatewayAPI", "istio"]),
    st.lists(LOOKS, max_size=20),
)
def test_any_walk_is_all_or_nothing_and_keeps_the_old_version_until_the_delay(
    auto: bool, metrics: bool, routing: str, looks: list[tuple[Any, ...]]
) -> None:
    """Whatever happens, the new version takes 0% or 100%, at full size; 100% only once its
    pods were ready; and stable runs the old version until the delay ran out after it."""
    old = bg("1.0.0", routing)
    body = document("2.0.0", routing, autoPromote=auto)
    if metrics:
        body["spec"]["rollout"]["analysis"] = {"metrics": [METRIC]}
    new = parse_model_service(body).spec
    status = deployed(old)
    now = 0.0
    for pods_ready, results, command, elapsed in looks:
        now += elapsed
        chosen = plan(new, status)
        canary = ready(new) if pods_ready else WorkloadObservation(exists=True, desired=2)
        commands = Commands(
            abort=command == "abort", promote=command == "promote", pause=command == "pause"
        )
        step = tick(
            new, status, ready(chosen.stable_spec), canary, results, at=now, commands=commands
        )
        if "Switched" in [e.reason for e in step.events]:
            assert pods_ready
        status = step.status
        chosen = plan(new, status)
        if chosen.canary_spec is None:
            continue
        assert chosen.weight in {0, 100} and chosen.canary_replicas == 2
        assert (chosen.weight == 100) == (status.switched_at is not None)
        if status.stage is not Stage.PROMOTING:
            assert chosen.stable_spec.model.version == "1.0.0"
        else:
            assert chosen.weight == 100


def test_modelops_status_prints_the_phase_and_the_preview_service() -> None:
    old, new = bg("1.0.0"), bg("2.0.0")
    status = switched(new, old).status.to_api()
    text = describe({"metadata": {"name": "m", "namespace": "ml"}, "status": status})
    assert (
        "  canary   2.0.0  weight 100%  blue-green Switched  preview m-preview  switched at "
        in (text)
    )


def test_the_switch_is_a_notification_as_a_step_is() -> None:
    old, new = bg("1.0.0"), bg("2.0.0")
    step = switched(new, old)
    body = {"metadata": {"name": "m", "namespace": "ml"}, "spec": new.to_api()}
    notes = notifications_for(step.events, body, step.status.to_api(), T0)
    assert [(n.kind, n.canary_weight, n.stable_version) for n in notes] == [
        ("Switched", 100, "1.0.0")
    ]


def test_a_new_version_while_switched_sends_traffic_back_to_stable_and_starts_in_preview() -> None:
    old, new = bg("1.0.0"), bg("2.0.0")
    after = switched(new, old).status
    third = bg("3.0.0")
    step = tick(third, after, ready(old), WorkloadObservation(exists=True, desired=2), at=5)
    assert [e.reason for e in step.events] == ["Superseded", "RolloutStarted"]
    assert (step.status.canary_version, step.status.canary_weight) == ("3.0.0", 0)
    assert (step.status.blue_green, step.status.switched_at) == (BlueGreenPhase.PREVIEW, None)
    children = service_of(third, step.status)
    assert named(children, "Service", "m")["spec"]["selector"]["modelops.dev/track"] == "stable"
    assert plan(third, step.status).stable_spec.model.version == "1.0.0"
