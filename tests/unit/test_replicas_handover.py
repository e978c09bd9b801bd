"""Autoscaling added to a running ModelService: the stable Deployment keeps the replicas it
runs when the operator stops applying them (server-side apply would reset a dropped field to
its default: one replica)."""

from typing import Any

from kubernetes import client

from modelops.controller.reconcile import ReconcileResult, _sync_children
from modelops.kube.client import Kube
from modelops.manifests import parse_model_service
from modelops.render import RenderContext
from tests.support.samples import model_service


class RecordingKube(Kube):
    """Children in a dict; every write recorded, in order."""

    def __init__(self, live: dict[tuple[str, str], dict[str, Any]]) -> None:
        super().__init__(client.ApiClient())
        self.live = live
        self.writes: list[tuple[str, dict[str, Any]]] = []

    def lookup(self, kind: str, namespace: str, name: str, wanted: bool) -> dict[str, Any] | None:
        return self.live.get((kind, name))

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("apply", manifest))
        return manifest

    def hand_over(self, fragment: dict[str, Any]) -> None:
        self.writes.append(("hand_over", fragment))

    def delete(self, kind: str, namespace: str, name: str, uid: str) -> None:
        self.writes.append(("delete", {"kind": kind, "name": name}))


def context(version: str, **spec: Any) -> RenderContext:
    document = model_service("m", version, replicas=4, **spec)
    document["metadata"].update(namespace="ml", uid="uid-1")
    return RenderContext.steady(parse_model_service(document))


def synced(ctx: RenderContext, live: dict[tuple[str, str], dict[str, Any]]) -> RecordingKube:
    kube = RecordingKube(live)
    _sync_children(kube, ctx, ReconcileResult())
    return kube


def stable_writes(kube: RecordingKube) -> list[tuple[str, dict[str, Any]]]:
    return [
        (verb, body)
        for verb, body in kube.writes
        if body.get("kind") == "Deployment" and body.get("metadata", {}).get("name") == "m-stable"
    ]


def running(version: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The children of ``version`` with 4 replicas, as the API server holds them."""
    kube = synced(context(version), {})
    return {(m["kind"], m["metadata"]["name"]): m for _, m in kube.writes}


AUTOSCALING = {"minReplicas": 2, "maxReplicas": 10, "targetCPUUtilizationPercentage": 70}


def test_autoscaled_stable_applied_without_replicas_hands_them_over_first() -> None:
    live = running("1.0.0")
    kube = synced(context("2.0.0", autoscaling=AUTOSCALING), live)
    writes = stable_writes(kube)
    assert [verb for verb, _ in writes] == ["hand_over", "apply"]
    assert writes[0][1] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "m-stable", "namespace": "ml"},
        "spec": {"replicas": 4},
    }
    assert "replicas" not in writes[1][1]["spec"]


def test_no_hand_over_while_the_operator_sets_the_replicas_or_applies_nothing() -> None:
    live = running("1.0.0")
    assert [verb for verb, _ in stable_writes(synced(context("2.0.0"), live))] == ["apply"]
    # Autoscaling added, nothing else: the Deployment is in sync, nothing is applied at all.
    assert stable_writes(synced(context("1.0.0", autoscaling=AUTOSCALING), live)) == []
    # Created autoscaled: nothing to keep.
    fresh = synced(context("1.0.0", autoscaling=AUTOSCALING), {})
    assert [verb for verb, _ in stable_writes(fresh)] == ["apply"]
