"""The routing providers' objects against the real Gateway API and Istio CRDs.

The unit tests pin what we render; these check that the API server accepts it (the CRDs'
schemas and CEL rules are strict) and gives back the weights we wrote, with nothing defaulted
that would make drift detection see a difference and write again.
"""

import copy
from typing import Any

import pytest

from modelops.render.drift import in_sync
from modelops.render.routing import provider_for
from tests.support.cluster import Cluster
from tests.support.routing import GATEWAY_API, ISTIO, routed_context

pytestmark = pytest.mark.cluster

WEIGHT = 30


def rendered(routing: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    ctx = routed_context(routing, WEIGHT, namespace=namespace)
    assert ctx.spec.rollout is not None
    manifests = provider_for(ctx.spec.rollout.traffic_routing).manifests(ctx)
    # No ModelService exists here to own them: a dangling owner would let the garbage
    # collector delete the objects under the test.
    for manifest in manifests:
        del manifest["metadata"]["ownerReferences"]
    return manifests


def apply_and_read_back(
    cluster: Cluster, namespace: str, manifests: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Live objects by ``Kind/name``, each checked to hold everything we applied."""
    live = {}
    for manifest in manifests:
        cluster.apply(manifest, namespace)
        group = manifest["apiVersion"].rpartition("/")[0]
        resource = f"{manifest['kind'].lower()}.{group}" if group else manifest["kind"].lower()
        name = manifest["metadata"]["name"]
        got = cluster.get(resource, "-n", namespace, name)
        assert in_sync(manifest, got), f"live {manifest['kind']}/{name} differs from ours"
        live[f"{manifest['kind']}/{name}"] = got
    return live


def test_http_route_is_accepted_with_its_weights(
    routing_crds: None, cluster: Cluster, namespace: str
) -> None:
    live = apply_and_read_back(cluster, namespace, rendered(GATEWAY_API, namespace))
    route = live["HTTPRoute/sentiment"]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    backends = route["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["port"], b["weight"]) for b in backends] == [
        ("sentiment-stable", 80, 100 - WEIGHT),
        ("sentiment-canary", 80, WEIGHT),
    ]
    assert route["spec"]["parentRefs"][0]["name"] == "public"
    assert live["Service/sentiment-canary"]["spec"]["selector"]["modelops.dev/track"] == "canary"
    assert live["Service/sentiment-stable"]["spec"]["ports"][0]["targetPort"] == "http"


def test_virtual_service_is_accepted_with_its_weights(
    routing_crds: None, cluster: Cluster, namespace: str
) -> None:
    live = apply_and_read_back(cluster, namespace, rendered(ISTIO, namespace))
    vs = live["VirtualService/sentiment"]
    assert vs["apiVersion"] == "networking.istio.io/v1"
    assert vs["spec"]["hosts"] == [f"sentiment.{namespace}.svc.cluster.local"]
    assert [(r["destination"]["host"], r["weight"]) for r in vs["spec"]["http"][0]["route"]] == [
        (f"sentiment-stable.{namespace}.svc.cluster.local", 100 - WEIGHT),
        (f"sentiment-canary.{namespace}.svc.cluster.local", WEIGHT),
    ]


def test_crd_schemas_are_enforced(routing_crds: None, cluster: Cluster, namespace: str) -> None:
    """The installed CRDs really validate: a negative weight is refused, so the acceptance
    above means something."""
    route = next(m for m in rendered(GATEWAY_API, namespace) if m["kind"] == "HTTPRoute")
    bad = copy.deepcopy(route)
    bad["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    result = cluster.apply(bad, namespace, check=False)
    assert result.returncode != 0
    assert "weight" in result.stderr
