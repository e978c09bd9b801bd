"""manifests/argocd on live ModelServices: the statuses the operator really writes through a
rollout read as Healthy, Progressing, Suspended and Degraded, and the Argo CD actions' annotations
(pause, resume) are obeyed by the operator."""

from typing import Any

import pytest

from tests.cluster.test_canary import canary_service, deploy_stable
from tests.support.argocd import health, run_action
from tests.support.cluster import Cluster, wait_until
from tests.support.operator import OperatorProcess

pytestmark = pytest.mark.cluster


def act(cluster: Cluster, namespace: str, name: str, action: str) -> None:
    """What Argo CD does for an action: run its Lua on the live object, write the result."""
    live: dict[str, Any] = cluster.get("msvc", "-n", namespace, name)
    annotations = run_action(live, action)
    pairs = [
        f"{key}={value}" for key, value in annotations.items() if key.startswith("modelops.dev/")
    ]
    cluster.kubectl("annotate", "--overwrite", "-n", namespace, f"msvc/{name}", *pairs)


def live_health(cluster: Cluster, namespace: str, name: str) -> str:
    return health(cluster.get("msvc", "-n", namespace, name))[0]


def test_health_through_a_rollout(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    steps = [{"weight": 25, "pause": "10m"}]
    deploy_stable(cluster, namespace, "argo", steps)
    wait_until(lambda: live_health(cluster, namespace, "argo") == "Healthy", 30, message="Healthy")

    cluster.apply(canary_service("argo", "2.0.0", steps), namespace)
    wait_until(
        lambda: live_health(cluster, namespace, "argo") == "Progressing", 30, message="Progressing"
    )
    wait_until(
        lambda: cluster.get("msvc", "-n", namespace, "argo")["status"].get("canaryWeight") == 25,
        30,
        message="canary at 25%",
    )
    act(cluster, namespace, "argo", "pause")
    wait_until(
        lambda: live_health(cluster, namespace, "argo") == "Suspended", 30, message="Suspended"
    )
    act(cluster, namespace, "argo", "resume")
    wait_until(
        lambda: live_health(cluster, namespace, "argo") == "Progressing", 30, message="resumed"
    )

    broken = canary_service(
        "argo", "3.0.0", steps, podTemplate={"labels": {"modelops.dev/simulate": "crash-loop"}}
    )
    cluster.apply(broken, namespace)
    wait_until(
        lambda: live_health(cluster, namespace, "argo") == "Degraded", 60, message="Degraded"
    )
