"""Gateway API routing during a real rollout: the HTTPRoute's weights follow the steps."""

import base64

import pytest
import yaml

from modelops.render.forwarding import ANNOTATION_ROUTING, routing_digest
from modelops.render.meta import LABEL_INSTANCE, LABEL_TRACK
from tests.cluster.test_canary import canary_service, status
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import wait_phase
from tests.support.operator import OperatorProcess

pytestmark = pytest.mark.cluster
INSTANCE = f"{LABEL_INSTANCE}=split"

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


def test_gateway_routing_key_split_and_announcement(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    """``gateway`` routing on KWOK pods: the forwarding key Secret is created once, the split
    follows the steps in the routing ConfigMap, and each step is announced on the pods (the
    annotation that makes a kubelet refresh the file at once)."""
    steps = [{"weight": 30, "pause": "3s"}, {"weight": 60, "pause": "3s"}]
    rollout = {"trafficRouting": {"gateway": {"stickyHeader": "X-User-ID"}}}
    # Four replicas: counted in Redis (none runs on KWOK; admission asks for it).
    redis = {"address": "redis://redis:6379/0"}
    limits = {"rateLimit": {"requestsPerMinute": 100, "redis": redis}, "rollout": rollout}
    cluster.apply(canary_service("split", "1.0.0", steps, **limits), namespace)
    wait_phase(cluster, namespace, "split", "Stable", 60)
    secret = cluster.get("secret", "-n", namespace, "split-gateway-key")
    key = secret["data"]["key"]
    assert len(base64.b64decode(key)) == 64
    main = cluster.get("service", "-n", namespace, "split")
    assert main["spec"]["selector"]["modelops.dev/track"] == "stable"

    cluster.apply(canary_service("split", "2.0.0", steps, **limits), namespace)
    tables: list[dict[str, object]] = []

    def table() -> dict[str, object]:
        data = cluster.get("configmap", "-n", namespace, "split-routing")["data"]["routing.yaml"]
        found: dict[str, object] = yaml.safe_load(data)
        if not tables or tables[-1] != found:
            tables.append(found)
        return found

    def announced(expected: dict[str, object]) -> bool:
        """Every stable pod carries the digest of ``expected``, the split in force."""
        digest = routing_digest({"data": {"routing.yaml": yaml.safe_dump(expected)}})
        pods = cluster.get("pods", "-n", namespace, "-l", f"{LABEL_TRACK}=stable,{INSTANCE}")
        notes = [(p["metadata"].get("annotations") or {}) for p in pods["items"]]
        return bool(notes) and all(n.get(ANNOTATION_ROUTING) == digest for n in notes)

    at_60 = wait_until(
        lambda: (t := table())["canaryWeight"] == 60 and t, 60, interval=0.2, message="step 2"
    )
    assert at_60["seed"] == "2.0.0" and "canary" in at_60["tracks"], at_60
    wait_until(lambda: announced(at_60), 10, interval=0.2, message="step 2 announced")
    wait_until(
        lambda: table() and status(cluster, namespace, "split").get("stableVersion") == "2.0.0",
        90,
        interval=0.2,
        message="2.0.0 promoted",
    )
    assert [t["canaryWeight"] for t in tables][:2] == [30, 60], tables
    assert tables[-1] == {
        "canaryWeight": 0,
        "stickyHeader": "X-User-ID",
        "tracks": {"stable": f"http://split-stable.{namespace}.svc.cluster.local.:80"},
    }, tables[-1]
    # The key was never replaced.
    assert cluster.get("secret", "-n", namespace, "split-gateway-key")["data"]["key"] == key
