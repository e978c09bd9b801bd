"""The operator as users run it: pods of the Helm chart's Deployment on the real node, with the
image this project builds, its ServiceAccount's token, the chart's RBAC, and leader election.
"""

import json
from typing import Any

import pytest

from tests.e2e.support import (
    NODE_NAME,
    OPENER,
    OPERATOR_IMAGE,
    Release,
    demo_service,
    release_pods,
    wait_phase,
)
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status
from tests.support.operator import metric_total

pytestmark = pytest.mark.cluster

METRICS_PORT = 8080  # the chart's metrics.port


def lease_holder(cluster: Cluster, release: Release) -> str:
    lease = cluster.get("lease", release.name, "-n", release.namespace)
    return str(lease["spec"].get("holderIdentity") or "")


def container_args(pod: dict[str, Any]) -> list[str]:
    (operator,) = pod["spec"]["containers"]
    return list(operator["args"])


def test_two_ready_replicas_on_the_real_node_one_leader(
    cluster: Cluster, chart_operator: Release
) -> None:
    pods = release_pods(cluster, chart_operator)
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    for pod in pods:
        name = pod["metadata"]["name"]
        assert pod["spec"]["nodeName"] == NODE_NAME, name
        assert pod["status"]["phase"] == "Running", (name, pod["status"])
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready.get("Ready") == "True", (name, pod["status"]["conditions"])
        (operator,) = pod["status"]["containerStatuses"]
        assert operator["image"].endswith(OPERATOR_IMAGE), operator["image"]
        assert operator["restartCount"] == 0, (name, operator)
        args = container_args(pod)
        assert "--leader-elect" in args, args
        # The gateway sidecar's image defaults to the operator's own.
        assert f"--gateway-image={OPERATOR_IMAGE}" in args, args
    # The Lease's holder is "<hostname>-<pid>", and a pod's hostname is its name.
    names = {p["metadata"]["name"] for p in pods}
    holder = wait_until(lambda: lease_holder(cluster, chart_operator), 60, message="a Lease holder")
    leaders = [name for name in names if holder.startswith(name + "-")]
    assert len(leaders) == 1, (holder, names)
    # Only the leader says it holds the Lease; the follower waits for it.
    holding = "this replica reconciles"
    for name in names:
        log = cluster.kubectl("logs", "-n", chart_operator.namespace, name).stdout
        assert (holding in log) == (name in leaders), (name, log[-2000:])
        assert f"as {holder}" in log or name not in leaders, log[-2000:]


def test_runs_as_its_service_account_with_the_shipped_rbac(
    cluster: Cluster, chart_operator: Release
) -> None:
    pod = release_pods(cluster, chart_operator)[0]
    account = pod["spec"]["serviceAccountName"]
    assert account == chart_operator.name
    mounts = [m["mountPath"] for m in pod["spec"]["containers"][0].get("volumeMounts", [])]
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in mounts, mounts
    subject = f"system:serviceaccount:{chart_operator.namespace}:{account}"

    def can(*args: str) -> bool:
        found = cluster.kubectl("auth", "can-i", *args, "--as", subject, check=False)
        return found.stdout.strip() == "yes"

    assert can("patch", "modelservices.modelops.dev", "--subresource=status", "-A")
    assert can("create", "deployments.apps", "-A")
    assert can("update", "leases.coordination.k8s.io", "-n", chart_operator.namespace)
    assert not can("update", "leases.coordination.k8s.io", "-n", "default")
    assert not can("get", "secrets", "-A")
    assert not can("create", "pods", "-A")
    # The install set no RBAC values: what runs is the chart's, as shipped.
    assert "rbac" not in chart_operator.values and "serviceAccount" not in chart_operator.values


def test_the_leader_reconciles(cluster: Cluster, chart_operator: Release, namespace: str) -> None:
    """A ModelService on the KWOK nodes (no real pods needed) reaches Stable: the pod's
    operator, the only one running, did it."""
    body = demo_service("reconciled", "1.0.0")
    del body["spec"]["podTemplate"]
    cluster.apply(body, namespace)
    wait_phase(cluster, namespace, "reconciled", "Stable", 60)
    assert status(cluster, namespace, "reconciled")["observedGeneration"] == 1
    children = cluster.get(
        "deployment", "-n", namespace, "reconciled-stable", "--show-managed-fields"
    )
    managers = {m["manager"] for m in children["metadata"]["managedFields"]}
    assert "modelops" in managers, json.dumps(children["metadata"]["managedFields"])[:2000]
    # The pods' own metrics (pod IPs are routed from this machine): the leader reconciled,
    # the follower did not.
    holder = lease_holder(cluster, chart_operator)
    reconciles = {}
    for pod in release_pods(cluster, chart_operator):
        url = f"http://{pod['status']['podIP']}:{METRICS_PORT}/metrics"
        with OPENER.open(url, timeout=5) as response:
            text = response.read().decode()
        reconciles[holder.startswith(pod["metadata"]["name"] + "-")] = metric_total(
            text, "modelops_reconcile_total"
        )
    assert reconciles[True] >= 1 and reconciles[False] == 0, reconciles
