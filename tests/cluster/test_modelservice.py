"""The operator on a real control plane: children, status, Events, drift, GC. (Conflicts with
foreign objects: test_foreign_children.)"""

import json
import time
from typing import Any

import pytest

from modelops.render.meta import LABEL_INSTANCE
from tests.support.cluster import REPO, Cluster, wait_until
from tests.support.msvc import wait_phase
from tests.support.operator import OperatorProcess, metric_total
from tests.support.samples import full_model_service, model_service

pytestmark = pytest.mark.cluster

CHILD_KINDS = (
    "deployment",
    "service",
    "horizontalpodautoscaler",
    "poddisruptionbudget",
    "configmap",
)


def msvc(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.get("msvc", "-n", namespace, name)


def condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    found = [c for c in body.get("status", {}).get("conditions", []) if c["type"] == type_]
    return found[0] if found else {}


def children(cluster: Cluster, namespace: str, name: str) -> dict[str, list[dict[str, Any]]]:
    return {
        kind: cluster.get(kind, "-n", namespace, "-l", f"{LABEL_INSTANCE}={name}")["items"]
        for kind in CHILD_KINDS
    }


def test_create_makes_children_and_reports_ready(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(full_model_service("chat"), namespace)
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "msvc/chat", "--timeout=90s", timeout=100
    )
    owner_uid = msvc(cluster, namespace, "chat")["metadata"]["uid"]
    found = children(cluster, namespace, "chat")
    assert [d["metadata"]["name"] for d in found["deployment"]] == ["chat-stable"]
    assert [s["metadata"]["name"] for s in found["service"]] == ["chat"]
    assert [h["metadata"]["name"] for h in found["horizontalpodautoscaler"]] == ["chat"]
    assert [p["metadata"]["name"] for p in found["poddisruptionbudget"]] == ["chat"]
    assert [c["metadata"]["name"] for c in found["configmap"]] == ["chat-ratelimit"]
    for kind, items in found.items():
        for item in items:
            refs = item["metadata"]["ownerReferences"]
            assert [r["uid"] for r in refs] == [owner_uid], kind
    # The HPA owns the stable replicas; the HPA's minimum shows through.
    hpa = found["horizontalpodautoscaler"][0]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "chat-stable"

    body = msvc(cluster, namespace, "chat")
    status = body["status"]
    assert status["observedGeneration"] == body["metadata"]["generation"]
    assert status["phase"] == "Stable"
    assert status["stableVersion"] == "1.0.0"
    assert condition(body, "Ready")["status"] == "True"
    assert condition(body, "Degraded")["status"] == "False"
    table = cluster.kubectl("get", "msvc", "-n", namespace, "chat").stdout
    header, row = table.splitlines()[:2]
    assert header.split() == [
        "NAME",
        "MODEL",
        "STABLE",
        "CANARY",
        "WEIGHT",
        "READY",
        "PHASE",
        "AGE",
    ]
    assert row.split()[:3] == ["chat", "demo-model", "1.0.0"]
    assert "Stable" in row.split()
    events = cluster.get("events", "-n", namespace, "--field-selector", "involvedObject.name=chat")
    assert any(e["reason"] == "Stable" for e in events["items"])


def test_immediate_rollout_updates_stable(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    spec = model_service("imm", "1.0.0", rollout={"strategy": "Immediate"})
    cluster.apply(spec, namespace)
    wait_phase(cluster, namespace, "imm", "Stable")
    cluster.apply(model_service("imm", "1.1.0", rollout={"strategy": "Immediate"}), namespace)

    def rolled() -> bool:
        body = msvc(cluster, namespace, "imm")
        return (
            body["status"].get("stableVersion") == "1.1.0" and body["status"]["phase"] == "Stable"
        )

    wait_until(rolled, 90, message="stable at 1.1.0")
    deployment = cluster.get("deployment", "-n", namespace, "imm-stable")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.invalid/demo:1.1.0"
    history = msvc(cluster, namespace, "imm")["status"]["history"]
    assert [h["version"] for h in history] == ["1.0.0", "1.1.0"]


def test_delete_garbage_collects_children(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(full_model_service("gone"), namespace)
    wait_phase(cluster, namespace, "gone", "Stable")
    cluster.kubectl("delete", "msvc", "-n", namespace, "gone", "--wait=false")

    def all_gone() -> bool:
        found = children(cluster, namespace, "gone")
        pods = cluster.get("pods", "-n", namespace, "-l", f"{LABEL_INSTANCE}=gone")["items"]
        return not any(found.values()) and not pods

    wait_until(all_gone, 60, message="children and pods garbage-collected")


def test_drift_is_repaired(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply(model_service("drift"), namespace)
    wait_phase(cluster, namespace, "drift", "Stable")
    patch = {
        "spec": {
            "replicas": 5,
            "template": {
                "spec": {"containers": [{"name": "model", "image": "attacker.invalid/x:1"}]}
            },
        }
    }
    cluster.kubectl(
        "patch",
        "deployment",
        "-n",
        namespace,
        "drift-stable",
        "--type=strategic",
        "-p",
        json.dumps(patch),
    )
    cluster.kubectl("delete", "service", "-n", namespace, "drift")

    def repaired() -> bool:
        deployment = cluster.get("deployment", "-n", namespace, "drift-stable")
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        services = cluster.get("service", "-n", namespace, "-l", f"{LABEL_INSTANCE}=drift")
        return (
            image == "registry.invalid/demo:1.0.0"
            and deployment["spec"]["replicas"] == 2
            and len(services["items"]) == 1
        )

    wait_until(repaired, 30, message="image, replicas and Service put back")


def test_hpa_replicas_are_not_fought(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    spec = model_service("scaled", autoscaling={"minReplicas": 3, "maxReplicas": 4})
    cluster.apply(spec, namespace)

    # The HPA (not the operator) brings stable from the API default of 1 to its minimum 3.
    def stable_replicas() -> int | None:
        # Polled from the moment of the apply: the Deployment may not exist yet.
        found = cluster.kubectl(
            "get",
            "deployment",
            "-n",
            namespace,
            "scaled-stable",
            "-o",
            "jsonpath={.spec.replicas}",
            "--ignore-not-found",
        ).stdout.strip()
        return int(found) if found else None

    wait_until(lambda: stable_replicas() == 3, 60, message="HPA scaled stable to 3")
    wait_phase(cluster, namespace, "scaled", "Stable")
    deployment = cluster.get(
        "deployment", "-n", namespace, "scaled-stable", "--show-managed-fields"
    )
    managers = {f["manager"]: f for f in deployment["metadata"]["managedFields"]}
    owned = json.dumps(managers["modelops"]["fieldsV1"])
    assert '"f:replicas"' not in owned, "the operator must not own stable's replicas"
    # A reconcile after that (woken by an annotation change) leaves replicas alone.
    cluster.kubectl("annotate", "msvc", "-n", namespace, "scaled", "touch=1")
    time.sleep(3)
    assert cluster.get("deployment", "-n", namespace, "scaled-stable")["spec"]["replicas"] == 3


def test_failing_pods_are_degraded_with_a_warning_event(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    spec = model_service("broken", podTemplate={"labels": {"modelops.dev/simulate": "image-pull"}})
    cluster.apply(spec, namespace)
    wait_phase(cluster, namespace, "broken", "Degraded")
    body = msvc(cluster, namespace, "broken")
    assert condition(body, "Degraded")["reason"] == "ImagePullBackOff"
    assert condition(body, "Ready")["status"] == "False"

    def warning() -> bool:
        events = cluster.get(
            "events", "-n", namespace, "--field-selector", "involvedObject.name=broken"
        )
        return any(e["type"] == "Warning" and e["reason"] == "Degraded" for e in events["items"])

    wait_until(warning, 20, message="a Warning Event")


def audit_writes(
    audit_log: str, since: float, agents: tuple[str, ...], namespace: str
) -> list[dict[str, Any]]:
    """Writes in ``namespace`` since ``since`` by clients whose user agent starts with one of
    ``agents``. (Other tests' namespaces are being torn down meanwhile: not steady state.)"""
    out = []
    with open(audit_log, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            stamp = entry.get("requestReceivedTimestamp", "")
            agent = entry.get("userAgent", "")
            where = entry.get("objectRef", {}).get("namespace")
            if agent.startswith(agents) and where == namespace and _epoch(stamp) >= since:
                out.append(entry)
    return out


def _epoch(stamp: str) -> float:
    from datetime import datetime  # noqa: PLC0415

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_steady_state_makes_no_writes(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    for index in range(3):
        cluster.apply(full_model_service(f"idle{index}"), namespace)
    for index in range(3):
        wait_phase(cluster, namespace, f"idle{index}", "Stable")
    time.sleep(5)  # let HPA and kwok settle so their writes are not in the window
    writes_before = metric_total(operator.metrics(), "modelops_api_writes_total")
    window_start = time.time()
    time.sleep(30)
    writes_after = metric_total(operator.metrics(), "modelops_api_writes_total")
    audit_log = REPO / ".cluster" / "audit.log"
    if audit_log.exists():
        # The API server's own record, for this namespace: no write by the operator's client
        # or by kopf. (The operator's counter is session-wide: objects of earlier tests whose
        # namespaces are still being deleted can move during the window.)
        writes = audit_writes(str(audit_log), window_start, ("modelops/", "kopf/"), namespace)
        assert writes == [], [(w["verb"], w["objectRef"]) for w in writes]
    else:
        # A cluster from KUBECONFIG without our audit log: the operator's own counter.
        assert writes_after == writes_before, "the operator wrote during steady state"
    operator.assert_no_tracebacks()
