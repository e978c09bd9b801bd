"""The ``gateway`` routing provider: what it renders, and the specs it refuses."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from modelops.api import ModelService
from modelops.gateway.routing import parse_table
from modelops.manifests import parse_model_service
from modelops.render import RenderContext, desired_children, possible_children
from modelops.render.refs import ChildRef

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "gateway-canary.yaml"


def sample() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    document["metadata"].update(namespace="ml", uid="u")
    return document


def canary_context(service: ModelService, weight: int) -> RenderContext:
    canary = service.spec.model_copy(
        update={"model": service.spec.model.model_copy(update={"version": "2.0.0"})}
    )
    return RenderContext.for_service(service, service.spec, canary, weight)


def named(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)


def test_the_split_in_the_routing_configmap() -> None:
    ctx = canary_context(parse_model_service(sample()), 20)
    children = desired_children(ctx)
    data = named(children, "ConfigMap", "recommender-routing")["data"]["routing.yaml"]
    table = parse_table(data)
    assert table.canary_weight == 20
    assert table.seed == "2.0.0"
    assert table.sticky_header == "X-User-ID"
    assert [(m.header, m.value) for m in table.match] == [("X-Model-Version", "canary")]
    assert table.canary_url == "http://recommender-canary.ml.svc.cluster.local.:80"
    # Clients enter through stable; the canary has a Service of its own to forward to.
    main = named(children, "Service", "recommender")
    assert main["spec"]["selector"]["modelops.dev/track"] == "stable"
    canary_service = named(children, "Service", "recommender-canary")
    assert canary_service["spec"]["selector"]["modelops.dev/track"] == "canary"
    for track in ("stable", "canary"):
        deployment = named(children, "Deployment", f"recommender-{track}")
        pod = deployment["spec"]["template"]["spec"]
        gateway = next(c for c in pod["containers"] if c["name"] == "gateway")
        assert "--routing" in gateway["args"]
        assert "--forward-key" in gateway["args"]
        secrets = [v["secret"] for v in pod["volumes"] if "secret" in v]
        assert secrets == [{"secretName": "recommender-gateway-key", "optional": True}]


def test_without_a_canary_every_gateway_serves_stable() -> None:
    ctx = RenderContext.steady(parse_model_service(sample()))
    children = desired_children(ctx)
    table = parse_table(named(children, "ConfigMap", "recommender-routing")["data"]["routing.yaml"])
    assert table.canary_url is None
    assert table.match == ()
    assert ChildRef("v1", "Service", "recommender-canary") in possible_children(ctx)


def test_switching_away_deletes_the_routing_objects() -> None:
    document = sample()
    document["spec"]["rollout"]["trafficRouting"] = {"replicas": {}}
    del document["spec"]["rollout"]["match"]
    document["status"] = {"routing": "gateway"}
    ctx = RenderContext.steady(parse_model_service(document))
    assert ChildRef("v1", "ConfigMap", "recommender-routing") in possible_children(ctx)
    assert not any(m["metadata"]["name"] == "recommender-routing" for m in desired_children(ctx))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("rateLimit"), "trafficRouting.gateway needs rateLimit"),
        (
            lambda s: s["rollout"].update(trafficRouting={"replicas": {}}),
            "match (header routes to the canary) needs trafficRouting gateway, "
            "gatewayAPI or istio: replicas cannot route by header",
        ),
        (
            lambda s: s["rollout"]["trafficRouting"].update(replicas={}),
            "exactly one of replicas, gatewayAPI, istio, gateway must be set",
        ),
    ],
)
def test_refused_specs(edit: Any, message: str) -> None:
    document = sample()
    edit(document["spec"])
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_model_service(document)


@pytest.mark.parametrize(
    ("routing", "kind"),
    [
        ({"gatewayAPI": {"parentRefs": [{"name": "web"}]}}, "HTTPRoute"),
        ({"istio": {}}, "VirtualService"),
    ],
)
def test_meshes_route_header_matches_to_the_canary(routing: dict[str, Any], kind: str) -> None:
    document = sample()
    document["spec"]["rollout"]["trafficRouting"] = routing
    ctx = canary_context(parse_model_service(document), 20)
    route = named(desired_children(ctx), kind, "recommender")["spec"]
    if kind == "HTTPRoute":
        first, weighted = route["rules"]
        assert first["matches"] == [
            {"headers": [{"type": "Exact", "name": "X-Model-Version", "value": "canary"}]}
        ]
        assert [b["name"] for b in first["backendRefs"]] == ["recommender-canary"]
        assert [b["weight"] for b in weighted["backendRefs"]] == [80, 20]
    else:
        first, weighted = route["http"]
        assert first["match"] == [{"headers": {"X-Model-Version": {"exact": "canary"}}}]
        assert [r["destination"]["host"] for r in first["route"]] == [
            "recommender-canary.ml.svc.cluster.local"
        ]
        assert [r["weight"] for r in weighted["route"]] == [80, 20]
    steady = RenderContext.steady(parse_model_service(document))
    rules = named(desired_children(steady), kind, "recommender")["spec"]
    assert len(rules["rules" if kind == "HTTPRoute" else "http"]) == 1


@pytest.mark.parametrize(
    "mesh", [{"istio": {}}, {"gatewayAPI": {"parentRefs": [{"name": "web"}]}}], ids=str
)
def test_stickiness_is_the_gateway_provider_s_alone(mesh: dict[str, Any]) -> None:
    document = sample()
    (provider,) = mesh
    mesh[provider]["stickyHeader"] = "X-User-ID"
    document["spec"]["rollout"]["trafficRouting"] = mesh
    with pytest.raises(ValueError, match=r"stickyHeader needs trafficRouting\.gateway: a mesh's"):
        parse_model_service(document)


def test_a_mirror_step_is_in_the_split() -> None:
    service = parse_model_service(sample())
    canary = service.spec.model_copy(
        update={"model": service.spec.model.model_copy(update={"version": "2.0.0"})}
    )
    ctx = RenderContext.for_service(service, service.spec, canary, 0, mirror=100)
    data = named(desired_children(ctx), "ConfigMap", "recommender-routing")["data"]
    table = parse_table(data["routing.yaml"])
    assert (table.canary_weight, table.mirror) == (0, 100)
    assert table.canary_url is not None


def test_meshes_render_a_mirror_step() -> None:
    document = sample()
    del document["spec"]["rollout"]["match"]
    for routing in ({"gatewayAPI": {"parentRefs": [{"name": "web"}]}}, {"istio": {}}):
        document["spec"]["rollout"]["trafficRouting"] = routing
        service = parse_model_service(document)
        canary = service.spec.model_copy(
            update={"model": service.spec.model.model_copy(update={"version": "2.0.0"})}
        )
        ctx = RenderContext.for_service(service, service.spec, canary, 0, mirror=25)
        children = desired_children(ctx)
        if "gatewayAPI" in routing:
            (rule,) = named(children, "HTTPRoute", "recommender")["spec"]["rules"]
            assert rule["filters"] == [
                {
                    "type": "RequestMirror",
                    "requestMirror": {
                        "backendRef": {
                            "group": "",
                            "kind": "Service",
                            "name": "recommender-canary",
                            "port": 80,
                        },
                        "percent": 25,
                    },
                }
            ]
        else:
            (route,) = named(children, "VirtualService", "recommender")["spec"]["http"]
            assert route["mirror"]["host"] == "recommender-canary.ml.svc.cluster.local"
            assert route["mirrorPercentage"] == {"value": 25.0}
