"""manifests/ (kustomize) is accepted by the real API server: `kubectl apply --dry-run=server`
of every kustomization, built by the kustomize that kubectl embeds.

A server dry run of a namespaced object needs its namespace and its CRD to exist, and a dry
run creates neither: the ``install_prerequisites`` fixture creates the CRDs (manifests/crd)
and the namespaces for real; everything else is only dry-run.
"""

import argparse
from typing import Any

import pytest
import yaml

from modelops.cli import parser
from tests.support.cluster import REPO, Cluster
from tests.support.hardening import hardening_problems, pod_specs
from tests.support.operator import CRD_NAME

pytestmark = pytest.mark.cluster

MANIFESTS = REPO / "manifests"


def build(cluster: Cluster, path: str) -> list[dict[str, Any]]:
    text = cluster.kubectl("kustomize", str(MANIFESTS / path)).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


KUSTOMIZATIONS = ["base", "overlays/namespaced", "monitoring", "crd"]


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_operator_pods_run_restricted(cluster: Cluster, path: str) -> None:
    """Non-root, no privilege escalation, no capabilities, seccomp, read-only root."""
    pods = pod_specs(build(cluster, path))
    if path in {"base", "overlays/namespaced"}:
        assert list(pods) == ["Deployment/modelops"]
    problems = [line for where, pod in pods.items() for line in hardening_problems(pod, where)]
    assert problems == []


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_server_dry_run(cluster: Cluster, install_prerequisites: None, path: str) -> None:
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--server-side",
        "--force-conflicts",
        "-k",
        str(MANIFESTS / path),
    )
    built = build(cluster, path)
    assert result.stdout.count("(server dry run)") == len(built), result.stdout


def operator_args(objects: dict[tuple[str, str], Any]) -> argparse.Namespace:
    """The operator container's arguments, parsed by the operator's own parser: a replacement
    that hits the wrong argument (it once turned --log-format into the image) fails here."""
    container = objects[("Deployment", "modelops")]["spec"]["template"]["spec"]["containers"][0]
    args = parser().parse_args(container["args"])
    assert args.gateway_image == container["image"]
    return args


def test_base_is_cluster_wide_with_leader_election(cluster: Cluster) -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in build(cluster, "base")}
    assert ("ClusterRole", "modelops") in objects
    assert ("Role", "modelops-leader-election") in objects
    assert ("CustomResourceDefinition", CRD_NAME) in objects
    args = operator_args(objects)
    assert args.leader_elect and not args.standalone and args.lease_duration == 15
    assert args.log_format == "json" and args.namespace == []
    deployment = objects[("Deployment", "modelops")]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_namespaced_overlay_has_no_cluster_scoped_rbac(cluster: Cluster) -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in build(cluster, "overlays/namespaced")}
    kinds = {kind for kind, _ in objects}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    assert {"Role", "RoleBinding"} <= kinds
    args = operator_args(objects)
    assert args.namespace == ["ml"] and args.leader_elect


def test_argocd_config_carries_the_health_check(cluster: Cluster) -> None:
    (config,) = build(cluster, "argocd")
    assert (config["kind"], config["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    script = config["data"]["resource.customizations.health.modelops.dev_ModelService"]
    assert script == (MANIFESTS / "argocd" / "health.lua").read_text()
    actions = config["data"]["resource.customizations.actions.modelops.dev_ModelService"]
    assert actions == (MANIFESTS / "argocd" / "actions.yaml").read_text()
