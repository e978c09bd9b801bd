"""Gateway API and Istio routing: the exact objects rendered at weights 0, 10 and 50."""

from typing import Any

import pytest

from modelops.api import spec as api
from modelops.manifests import dump_all
from modelops.render.routing import provider_for
from modelops.render.routing.gateway_api import GatewayApiRouting
from modelops.render.routing.istio import IstioRouting
from modelops.render.routing.replicas import ReplicaRouting
from tests.support.routing import GATEWAY_API, ISTIO, routed_context

OWNER = {
    "apiVersion": "modelops.dev/v1alpha1",
    "kind": "ModelService",
    "name": "sentiment",
    "uid": "uid-1",
    "controller": True,
    "blockOwnerDeletion": True,
}
LABELS = {
    "app.kubernetes.io/component": "model-server",
    "app.kubernetes.io/instance": "sentiment",
    "app.kubernetes.io/managed-by": "modelops",
    "app.kubernetes.io/name": "demo-model",
}


def meta(name: str, **labels: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "ml",
        "labels": {**LABELS, **labels},
        "ownerReferences": [OWNER],
    }


def track_service(track: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(f"sentiment-{track}", **{"modelops.dev/track": track}),
        "spec": {
            "type": "ClusterIP",
            "selector": {
                "app.kubernetes.io/instance": "sentiment",
                "app.kubernetes.io/component": "model-server",
                "modelops.dev/track": track,
            },
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def backend(track: str, weight: int) -> dict[str, Any]:
    return {
        "group": "",
        "kind": "Service",
        "name": f"sentiment-{track}",
        "port": 80,
        "weight": weight,
    }


def http_route(*backends: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": meta("sentiment"),
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateways"}],
            "hostnames": ["sentiment.example.com"],
            "rules": [{"backendRefs": list(backends)}],
        },
    }


def destination(track: str, weight: int) -> dict[str, Any]:
    return {
        "destination": {
            "host": f"sentiment-{track}.ml.svc.cluster.local",
            "port": {"number": 80},
        },
        "weight": weight,
    }


def virtual_service(*routes: dict[str, Any], hosts: list[str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": meta("sentiment"),
        "spec": {
            "hosts": hosts or ["sentiment.ml.svc.cluster.local"],
            "gateways": ["istio-system/public"],
            "http": [{"route": list(routes)}],
        },
    }


def gateway_api_provider() -> GatewayApiRouting:
    return GatewayApiRouting(api.GatewayApiRouting.model_validate(GATEWAY_API["gatewayAPI"]))


def istio_provider(**config: Any) -> IstioRouting:
    return IstioRouting(api.IstioRouting.model_validate({**ISTIO["istio"], **config}))


def test_gateway_api_without_canary_routes_all_to_stable() -> None:
    ctx = routed_context(GATEWAY_API, None)
    assert gateway_api_provider().manifests(ctx) == [
        http_route(backend("stable", 100)),
        track_service("stable"),
    ]


@pytest.mark.parametrize("weight", [10, 50])
def test_gateway_api_splits_by_canary_weight(weight: int) -> None:
    ctx = routed_context(GATEWAY_API, weight)
    assert gateway_api_provider().manifests(ctx) == [
        http_route(backend("stable", 100 - weight), backend("canary", weight)),
        track_service("canary"),
        track_service("stable"),
    ]


def test_gateway_api_leaves_out_hostnames_when_unset() -> None:
    provider = GatewayApiRouting(api.GatewayApiRouting(parent_refs=[{"name": "public"}]))
    route = provider.route(routed_context(GATEWAY_API, 10))
    assert route["spec"] == {
        "parentRefs": [{"name": "public"}],
        "rules": [{"backendRefs": [backend("stable", 90), backend("canary", 10)]}],
    }


def test_istio_without_canary_routes_all_to_stable() -> None:
    ctx = routed_context(ISTIO, None)
    # Sorted by (apiVersion, kind, name): networking.istio.io/v1 comes before v1.
    assert istio_provider().manifests(ctx) == [
        virtual_service(destination("stable", 100)),
        track_service("stable"),
    ]


@pytest.mark.parametrize("weight", [10, 50])
def test_istio_splits_by_canary_weight(weight: int) -> None:
    ctx = routed_context(ISTIO, weight)
    assert istio_provider().manifests(ctx) == [
        virtual_service(destination("stable", 100 - weight), destination("canary", weight)),
        track_service("canary"),
        track_service("stable"),
    ]


def test_istio_uses_given_hosts_and_leaves_out_unset_gateways() -> None:
    provider = IstioRouting(api.IstioRouting(hosts=["models.example.com"]))
    assert provider.route(routed_context(ISTIO, 50))["spec"] == {
        "hosts": ["models.example.com"],
        "http": [{"route": [destination("stable", 50), destination("canary", 50)]}],
    }


def test_weight_without_canary_is_ignored() -> None:
    """A stale weight in the context must not send traffic to a canary that does not exist."""
    import dataclasses  # noqa: PLC0415

    ctx = dataclasses.replace(routed_context(GATEWAY_API, None), canary_weight=30)
    assert gateway_api_provider().route(ctx)["spec"]["rules"] == [
        {"backendRefs": [backend("stable", 100)]}
    ]


@pytest.mark.parametrize(
    ("routing", "kind", "api_version"),
    [
        (GATEWAY_API, "HTTPRoute", "gateway.networking.k8s.io/v1"),
        (ISTIO, "VirtualService", "networking.istio.io/v1"),
    ],
)
def test_possible_children_cover_everything_ever_rendered(
    routing: dict[str, Any], kind: str, api_version: str
) -> None:
    ctx = routed_context(routing, 10)
    assert ctx.spec.rollout is not None
    provider = provider_for(ctx.spec.rollout.traffic_routing)
    refs = provider.possible_children(ctx)
    assert [(r.api_version, r.kind, r.name) for r in refs] == sorted(
        [
            (api_version, kind, "sentiment"),
            ("v1", "Service", "sentiment-canary"),
            ("v1", "Service", "sentiment-stable"),
        ]
    )
    for weight in (None, 0, 10, 50):
        for manifest in provider.manifests(routed_context(routing, weight)):
            ref = (manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"])
            assert ref in {(r.api_version, r.kind, r.name) for r in refs}


def test_provider_for_picks_by_spec() -> None:
    assert isinstance(
        provider_for(api.TrafficRouting(replicas=api.ReplicasRouting())), ReplicaRouting
    )
    gateway = api.TrafficRouting.model_validate(GATEWAY_API)
    assert isinstance(provider_for(gateway), GatewayApiRouting)
    assert isinstance(provider_for(api.TrafficRouting.model_validate(ISTIO)), IstioRouting)


@pytest.mark.parametrize("routing", [GATEWAY_API, ISTIO])
def test_output_is_deterministic(routing: dict[str, Any]) -> None:
    ctx = routed_context(routing, 30)
    assert ctx.spec.rollout is not None
    first = provider_for(ctx.spec.rollout.traffic_routing).manifests(ctx)
    second = provider_for(ctx.spec.rollout.traffic_routing).manifests(ctx)
    assert dump_all(first) == dump_all(second)


def test_returned_manifests_do_not_alias_the_spec() -> None:
    ctx = routed_context(GATEWAY_API, 10)
    provider = gateway_api_provider()
    provider.route(ctx)["spec"]["parentRefs"][0]["name"] = "changed"
    assert provider.route(ctx)["spec"]["parentRefs"] == [
        {"name": "public", "namespace": "gateways"}
    ]
