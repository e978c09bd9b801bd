"""Gateway API routing during a real rollout: the HTTPRoute's weights follow the steps."""

import pytest

from tests.cluster.test_canary import canary_service, status
from tests.support.cluster import Cluster, wait_until
from tests.support.operator import OperatorProcess

pytestmark = pytest.mark.cluster

ROUTING = {"gatewayAPI": {"parentRefs": [{"name": "public", "namespace": "gateways"}]}}


def weights(cluster: Cluster, namespace: str, name: str) -> dict[str, int]:
    route = cluster.get("httproute", "-n", namespace, name)
    refs = route["spec"]["rules"][0]["backendRefs"]
    return {ref["name"]: ref["weight"] for ref in refs}


def test_httproute_weights_follow_the_canary(
    cluster: Cluster, operator: OperatorProcess, namespace: str, routing_crds: None
) -> None:
    steps = [{"weight": 30, "pause": "10m"}]
    rollout = {"trafficRouting": ROUTING}
    cluster.apply(canary_service("routed", "1.0.0", steps, rollout=rollout), namespace)
    wait_until(
        lambda: status(cluster, namespace, "routed").get("phase") == "Stable", 60, message="v1"
    )
    assert weights(cluster, namespace, "routed") == {"routed-stable": 100}
    cluster.apply(canary_service("routed", "2.0.0", steps, rollout=rollout), namespace)
    wait_until(
        lambda: weights(cluster, namespace, "routed") == {"routed-stable": 70, "routed-canary": 30},
        30,
        message="70/30 split",
    )
    services = {s["metadata"]["name"] for s in cluster.get("service", "-n", namespace)["items"]}
    assert {"routed", "routed-stable", "routed-canary"} <= services
    # Children are applied before the status of the same reconcile is written.
    revision = wait_until(
        lambda: status(cluster, namespace, "routed").get("canaryRevision"), 10, message="status"
    )
    cluster.kubectl("annotate", "msvc", "-n", namespace, "routed", f"modelops.dev/abort={revision}")
    wait_until(
        lambda: weights(cluster, namespace, "routed") == {"routed-stable": 100},
        30,
        message="all traffic back on stable",
    )
    wait_until(
        lambda: (
            "routed-canary"
            not in {s["metadata"]["name"] for s in cluster.get("service", "-n", namespace)["items"]}
        ),
        30,
        message="canary Service removed",
    )
