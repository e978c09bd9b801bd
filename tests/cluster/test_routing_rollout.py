"""Gateway API routing during a real rollout: the HTTPRoute's weights follow the steps."""

import pytest

from tests.cluster.test_canary import canary_service, status
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import wait_phase
from tests.support.operator import OperatorProcess

pytestmark = pytest.mark.cluster

PROVIDERS = {
    "gatewayAPI": {"gatewayAPI": {"parentRefs": [{"name": "public", "namespace": "gateways"}]}},
    "istio": {"istio": {}},
}


def weights(cluster: Cluster, namespace: str, name: str, provider: str) -> dict[str, int]:
    if provider == "gatewayAPI":
        route = cluster.get("httproute", "-n", namespace, name)
        refs = route["spec"]["rules"][0]["backendRefs"]
        return {ref["name"]: ref["weight"] for ref in refs}
    service = cluster.get("virtualservice", "-n", namespace, name)
    routes = service["spec"]["http"][0]["route"]
    return {r["destination"]["host"].split(".")[0]: r.get("weight", 100) for r in routes}


def service_names(cluster: Cluster, namespace: str) -> set[str]:
    return {s["metadata"]["name"] for s in cluster.get("service", "-n", namespace)["items"]}


def wait_all_on_stable(cluster: Cluster, namespace: str, provider: str) -> None:
    """The rollout ended: every weight on stable, and the canary's Service gone."""
    wait_until(
        lambda: weights(cluster, namespace, "routed", provider) == {"routed-stable": 100},
        30,
        message="all traffic on stable",
    )
    wait_until(
        lambda: "routed-canary" not in service_names(cluster, namespace),
        30,
        message="canary Service removed",
    )


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_weights_follow_the_steps_to_promotion(
    cluster: Cluster, operator: OperatorProcess, namespace: str, routing_crds: None, provider: str
) -> None:
    steps = [{"weight": 30, "pause": "2s"}, {"weight": 60, "pause": "2s"}]
    rollout = {"trafficRouting": PROVIDERS[provider]}
    cluster.apply(canary_service("routed", "1.0.0", steps, rollout=rollout), namespace)
    wait_phase(cluster, namespace, "routed", "Stable", 60)
    assert weights(cluster, namespace, "routed", provider) == {"routed-stable": 100}
    cluster.apply(canary_service("routed", "2.0.0", steps, rollout=rollout), namespace)
    seen: list[dict[str, int]] = []

    def promoted() -> bool:
        current = weights(cluster, namespace, "routed", provider)
        if not seen or seen[-1] != current:
            seen.append(current)
        return status(cluster, namespace, "routed").get("stableVersion") == "2.0.0"

    wait_until(promoted, 90, interval=0.2, message="promoted")
    assert {"routed-stable": 70, "routed-canary": 30} in seen, seen
    assert {"routed-stable": 40, "routed-canary": 60} in seen, seen
    assert seen.index({"routed-stable": 70, "routed-canary": 30}) < seen.index(
        {"routed-stable": 40, "routed-canary": 60}
    )
    wait_all_on_stable(cluster, namespace, provider)


def test_abort_returns_all_traffic_to_stable(
    cluster: Cluster, operator: OperatorProcess, namespace: str, routing_crds: None
) -> None:
    steps = [{"weight": 30, "pause": "10m"}]
    rollout = {"trafficRouting": PROVIDERS["gatewayAPI"]}
    cluster.apply(canary_service("routed", "1.0.0", steps, rollout=rollout), namespace)
    wait_phase(cluster, namespace, "routed", "Stable", 60)
    cluster.apply(canary_service("routed", "2.0.0", steps, rollout=rollout), namespace)
    wait_until(
        lambda: (
            weights(cluster, namespace, "routed", "gatewayAPI")
            == {"routed-stable": 70, "routed-canary": 30}
        ),
        30,
        message="70/30 split",
    )
    assert {"routed", "routed-stable", "routed-canary"} <= service_names(cluster, namespace)
    # Children are applied before the status of the same reconcile is written.
    revision = wait_until(
        lambda: status(cluster, namespace, "routed").get("canaryRevision"), 10, message="status"
    )
    cluster.kubectl("annotate", "msvc", "-n", namespace, "routed", f"modelops.dev/abort={revision}")
    wait_all_on_stable(cluster, namespace, "gatewayAPI")
