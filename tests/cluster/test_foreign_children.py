"""An object someone else made under a child's name, of every child kind, is never written or
deleted by the operator: the ModelService reports Conflict naming it, and deleting the
ModelService leaves it. The API server's own record (managedFields) shows no write of ours."""

import json
import time
from typing import Any

import pytest

from tests.support.cluster import Cluster
from tests.support.msvc import wait_phase
from tests.support.operator import OperatorProcess
from tests.support.routing import GATEWAY_API, ISTIO
from tests.support.samples import full_model_service, model_service

pytestmark = pytest.mark.cluster

NAME = "clash"
MINE = {"mine": "do-not-touch"}
SELECTOR = {"matchLabels": {"app": "someone-else"}}


def _deployment(name: str) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "someone-else"}},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/theirs:1"}]},
    }
    spec = {"replicas": 0, "selector": SELECTOR, "template": template}
    return _object("apps/v1", "Deployment", name, spec=spec)


def _object(api_version: str, kind: str, name: str, **body: Any) -> dict[str, Any]:
    meta = {"name": name, "labels": {"owner": "someone-else"}, "annotations": MINE}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


ROUTED_SPEC = {"steps": [{"weight": 10}]}
FOREIGN: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # kind: (the foreign object, the ModelService that wants its name)
    "Deployment": (_deployment(f"{NAME}-stable"), full_model_service(NAME)),
    "Service": (
        _object("v1", "Service", NAME, spec={"ports": [{"port": 81}], "selector": {"a": "b"}}),
        full_model_service(NAME),
    ),
    "PodDisruptionBudget": (
        _object("policy/v1", "PodDisruptionBudget", NAME, spec={"selector": SELECTOR}),
        full_model_service(NAME),
    ),
    "HorizontalPodAutoscaler": (
        _object(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            NAME,
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                "minReplicas": 1,
                "maxReplicas": 2,
            },
        ),
        full_model_service(NAME),
    ),
    "ConfigMap": (
        _object("v1", "ConfigMap", f"{NAME}-ratelimit", data=MINE),
        full_model_service(NAME),
    ),
    "HTTPRoute": (
        _object("gateway.networking.k8s.io/v1", "HTTPRoute", NAME, spec={}),
        model_service(NAME, rollout={**ROUTED_SPEC, "trafficRouting": GATEWAY_API}),
    ),
    "VirtualService": (
        _object("networking.istio.io/v1", "VirtualService", NAME, spec={"hosts": ["x"]}),
        model_service(NAME, rollout={**ROUTED_SPEC, "trafficRouting": ISTIO}),
    ),
}


def _snapshot(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    """What an owner's write would change: spec/data, labels, annotations, owners, and
    whether the operator's field manager (or kopf's) ever wrote it. (Other managers come and
    go: the HPA and disruption controllers write status.)"""
    found = cluster.get(kind, "-n", namespace, name, "--show-managed-fields")
    meta = found["metadata"]
    return {
        "uid": meta["uid"],
        "generation": meta.get("generation"),
        "labels": meta.get("labels"),
        # The deployment controller annotates its Deployments (revision) when it gets to them:
        # on a busy machine after the first snapshot. Not a write of ours.
        "annotations": {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if not k.startswith("deployment.kubernetes.io/")
        },
        "ownerReferences": meta.get("ownerReferences"),
        "content": json.dumps({k: found.get(k) for k in ("spec", "data")}, sort_keys=True),
        "written_by_us": sorted(
            {
                entry["manager"]
                for entry in meta.get("managedFields", [])
                if entry["manager"].startswith(("modelops", "kopf"))
            }
        ),
    }


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_foreign_object_with_a_child_name_is_never_touched(
    cluster: Cluster,
    operator: OperatorProcess,
    routing_crds: None,
    namespace: str,
    kind: str,
) -> None:
    foreign, wanting = FOREIGN[kind]
    name = foreign["metadata"]["name"]
    cluster.apply(foreign, namespace)
    before = _snapshot(cluster, namespace, kind, name)
    cluster.apply(wanting, namespace)
    wait_phase(cluster, namespace, NAME, "Conflict")
    body = cluster.get("msvc", "-n", namespace, NAME)
    conditions = {c["type"]: c for c in body["status"]["conditions"]}
    assert conditions["Ready"]["reason"] == "Conflict"
    assert f"{kind}/{name}" in conditions["Degraded"]["message"]
    assert _snapshot(cluster, namespace, kind, name) == before
    assert before["written_by_us"] == []

    cluster.kubectl("delete", "msvc", "-n", namespace, NAME)
    # The garbage collector and the operator had their chance: a few seconds after the
    # ModelService is gone, its other children are being removed; the foreign one stays.
    time.sleep(3)
    assert _snapshot(cluster, namespace, kind, name) == before
    operator.assert_no_tracebacks()
