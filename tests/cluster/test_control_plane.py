"""Smoke tests of the local control plane itself: everything else is tested on it, so these
check that it behaves like a real cluster (controllers, scheduler, KWOK pod lifecycles)."""

import json

import pytest

from tests.support.cluster import Cluster, versions, wait_until

pytestmark = pytest.mark.cluster


def deployment(
    name: str, replicas: int, labels: dict[str, str] | None = None, gpu: bool = False
) -> dict:
    container = {"name": "server", "image": "registry.invalid/model:1"}
    if gpu:
        container["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, **(labels or {})}},
                "spec": {"containers": [container]},
            },
        },
    }


def pods(cluster: Cluster, namespace: str, app: str) -> list[dict]:
    return cluster.get("pods", "-n", namespace, "-l", f"app={app}")["items"]


def ready(pod: dict) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def container_status(pod: dict) -> dict:
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return statuses[0]


def test_api_server_reports_the_pinned_version(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("get", "--raw=/version").stdout)
    assert version["gitVersion"] == versions()["K8S_VERSION"]


def test_nodes_are_ready_and_some_have_gpus(cluster: Cluster) -> None:
    nodes = cluster.get("nodes")["items"]
    assert len(nodes) >= 3
    for node in nodes:
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conditions["Ready"] == "True", node["metadata"]["name"]
    gpus = [n for n in nodes if "nvidia.com/gpu" in n["status"].get("allocatable", {})]
    assert gpus, "no node advertises nvidia.com/gpu"


def test_deployment_gets_replicaset_and_ready_pods(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", 2), namespace)
    replicasets = wait_until(
        lambda: cluster.get("replicasets", "-n", namespace, "-l", "app=web")["items"],
        30,
        message="ReplicaSet from the Deployment controller",
    )
    assert replicasets[0]["spec"]["replicas"] == 2

    def ready_pods() -> list[dict]:
        found = [p for p in pods(cluster, namespace, "web") if ready(p)]
        return found if len(found) == 2 else []

    wait_until(ready_pods, 60, message="2 Ready pods")
    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in ready_pods())
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=60s")


def test_gpu_pod_schedules_on_a_gpu_node(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("gpu", 1, gpu=True), namespace)
    pod = wait_until(
        lambda: next((p for p in pods(cluster, namespace, "gpu") if ready(p)), None),
        60,
        message="a Ready GPU pod",
    )
    node = cluster.get("node", pod["spec"]["nodeName"])
    assert "nvidia.com/gpu" in node["status"]["allocatable"]


def test_simulate_not_ready(cluster: Cluster, namespace: str) -> None:
    spec = deployment("nr", 1, {"modelops.dev/simulate": "not-ready"})
    cluster.apply(spec, namespace)
    pod = wait_until(
        lambda: next(
            (
                p
                for p in pods(cluster, namespace, "nr")
                if p.get("status", {}).get("phase") == "Running"
            ),
            None,
        ),
        60,
        message="a Running pod",
    )
    assert not ready(pod)
    assert container_status(pod)["ready"] is False


def test_simulate_crash_loop_restart_count_rises(cluster: Cluster, namespace: str) -> None:
    spec = deployment("cl", 1, {"modelops.dev/simulate": "crash-loop"})
    cluster.apply(spec, namespace)

    def restarts() -> int:
        found = pods(cluster, namespace, "cl")
        if not found:
            return -1
        status = container_status(found[0])
        assert status.get("state", {}).get("waiting", {}).get("reason") in (
            None,
            "CrashLoopBackOff",
        )
        return int(status.get("restartCount", -1))

    first = wait_until(
        lambda: restarts() if restarts() >= 1 else None, 60, message="restartCount >= 1"
    )
    wait_until(lambda: restarts() > first, 30, message="restartCount rising")
    pod = pods(cluster, namespace, "cl")[0]
    assert container_status(pod)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert not ready(pod)


def test_simulate_image_pull_back_off(cluster: Cluster, namespace: str) -> None:
    spec = deployment("ip", 1, {"modelops.dev/simulate": "image-pull"})
    cluster.apply(spec, namespace)

    def reason() -> str | None:
        found = pods(cluster, namespace, "ip")
        if not found:
            return None
        return container_status(found[0]).get("state", {}).get("waiting", {}).get("reason")

    assert wait_until(reason, 60, message="a waiting reason") == "ImagePullBackOff"
    assert pods(cluster, namespace, "ip")[0]["status"]["phase"] == "Pending"


def test_deleting_a_deployment_garbage_collects_its_pods(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("gc", 2), namespace)
    wait_until(lambda: len(pods(cluster, namespace, "gc")) == 2, 60, message="2 pods")
    cluster.kubectl("delete", "-n", namespace, "deployment", "gc", "--wait=false")
    wait_until(
        lambda: (
            not pods(cluster, namespace, "gc")
            and not cluster.get("replicasets", "-n", namespace, "-l", "app=gc")["items"]
        ),
        60,
        message="ReplicaSet and pods garbage-collected",
    )


def test_hpa_object_is_accepted(cluster: Cluster, namespace: str) -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    cluster.apply(hpa, namespace)
    stored = cluster.get("hpa", "-n", namespace, "web")
    assert stored["spec"]["maxReplicas"] == 3
