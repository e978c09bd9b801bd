"""The Helm chart: `helm lint`, then `helm template` for each values combination, and the
output accepted by the real API server (`kubectl apply --dry-run=server`). helm is built from
its Go module into the cache (`make binaries`), like the control plane.

The prerequisites of a server dry run (the CRDs, the namespaces) are created for real by the
``install_prerequisites`` fixture; everything else is only dry-run.
"""

import subprocess
from typing import Any

import pytest
import yaml

from modelops.cli import parser
from tests.cluster.test_manifests import build
from tests.support.cluster import REPO, Cluster, cache_bin_dir, versions
from tests.support.hardening import hardening_problems, pod_specs

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "modelops"
COMBINATIONS: dict[str, list[str]] = {
    "defaults": [],
    "namespaced-monitoring": [
        "--set",
        "rbac.scope=namespace",
        "--set",
        "watchNamespaces={ml}",
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "grafana.dashboard.enabled=true",
    ],
    "standalone-no-service": [
        "--set",
        "leaderElection.enabled=false",
        "--set",
        "replicaCount=1",
        "--set",
        "metrics.service.enabled=false",
        "--set",
        "operator.logFormat=plain",
        "--set",
        "serviceAccount.name=ops",
        "--set",
        "operator.maxConcurrentRollouts=3",
        "--set",
        "notifications.urlSecret=hooks",
        "--set",
        "notifications.receivers[0].name=team",
        "--set",
        "notifications.receivers[0].format=slack",
        "--set",
        "notifications.receivers[0].events={Promoted,RolledBack}",
        "--set",
        "notifications.receivers[1].name=audit",
    ],
}


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = cache_bin_dir() / "helm"
    if not binary.exists():
        pytest.fail(
            f"{binary} is missing: run `make binaries` (hack/build-binaries.sh helm)", pytrace=False
        )
    result = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def template(*args: str, release: str = "modelops") -> list[dict[str, Any]]:
    kube_version = versions()["K8S_VERSION"].lstrip("v")
    out = helm(
        "template",
        release,
        str(CHART),
        "--namespace",
        "modelops-system",
        "--kube-version",
        kube_version,
        "--include-crds",
        *args,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_lint() -> None:
    for args in COMBINATIONS.values():
        result = helm("lint", "--strict", str(CHART), *args)
        assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_rendered_chart_passes_server_dry_run(
    cluster: Cluster, install_prerequisites: None, name: str
) -> None:
    objects = template(*COMBINATIONS[name])
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--server-side",
        "--force-conflicts",
        "-f",
        "-",
        input_text=yaml.safe_dump_all(objects),
    )
    assert result.stdout.count("(server dry run)") == len(objects), result.stdout


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_operator_pod_runs_restricted(name: str) -> None:
    """Non-root, no privilege escalation, no capabilities, seccomp, read-only root."""
    pods = pod_specs(template(*COMBINATIONS[name]))
    assert len(pods) == 1, list(pods)
    problems = [line for where, pod in pods.items() for line in hardening_problems(pod, where)]
    assert problems == []


def kinds(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects}


def role(objects: list[dict[str, Any]], suffix: str = "") -> dict[str, Any]:
    """The one Role whose name ends with ``suffix`` ("" for the operator's own rules)."""
    (found,) = [
        o
        for o in objects
        if o["kind"] == "Role"
        and o["metadata"]["name"].endswith("-leader-election") == bool(suffix)
    ]
    return found


def test_combinations_render_what_they_say() -> None:
    default = kinds(template())
    assert {"ClusterRole", "ClusterRoleBinding", "Role", "Service"} <= set(default)
    args = parser().parse_args(
        default["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    assert args.leader_elect and args.gateway_image == "modelops:0.1.0"
    assert (args.lease_name, args.lease_namespace) == ("modelops", "modelops-system")
    namespaced = kinds(template(*COMBINATIONS["namespaced-monitoring"]))
    assert not {"ClusterRole", "ClusterRoleBinding"} & set(namespaced)
    assert {"Role", "RoleBinding", "ServiceMonitor", "PrometheusRule"} <= set(namespaced)
    assert "modelops.json" in namespaced["ConfigMap"]["data"]
    args = namespaced["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=ml" in args
    standalone = kinds(template(*COMBINATIONS["standalone-no-service"], release="x"))
    assert "Service" not in standalone and "Role" not in standalone  # no Lease to elect with
    pod = standalone["Deployment"]["spec"]["template"]["spec"]
    assert "--standalone" in pod["containers"][0]["args"] and pod["serviceAccountName"] == "ops"
    args = parser().parse_args(pod["containers"][0]["args"])
    assert args.notify == ["team:slack:Promoted,RolledBack", "audit:json"]
    assert args.notify_url_dir == "/etc/modelops/notify"
    [urls] = [v for v in pod["volumes"] if v["name"] == "notify-urls"]
    assert urls["secret"]["secretName"] == "hooks"
    rule = kinds(template("--set", "metrics.prometheusRule.enabled=true", release="x"))[
        "PrometheusRule"
    ]
    assert 'up{job="x-modelops-metrics"}' in yaml.safe_dump(rule["spec"])


def test_rbac_matches_the_kustomize_manifests(cluster: Cluster) -> None:
    """One set of rules: the chart's equal manifests/base's and the namespaced overlay's."""
    chart_cluster = kinds(template())["ClusterRole"]["rules"]
    base = kinds(build(cluster, "base"))["ClusterRole"]["rules"]
    assert chart_cluster == base
    chart_namespaced = template(*COMBINATIONS["namespaced-monitoring"])
    overlay = build(cluster, "overlays/namespaced")
    assert role(chart_namespaced)["rules"] == role(overlay)["rules"]
    for objects in (chart_namespaced, template()):
        assert role(objects, "-leader-election")["rules"] == role(overlay, "-")["rules"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--set", "unknown=1"], "additional properties 'unknown' not allowed"),
        (["--set", "replicaCount=two"], "want integer"),
        (["--set", "rbac.scope=everywhere"], "rbac/scope"),
        (["--set", "leaderElection.enabled=false"], "replicaCount > 1 needs leaderElection"),
        (["--set", "rbac.scope=namespace"], "needs at least one entry in watchNamespaces"),
        (
            ["--set", "notifications.receivers[0].name=team"],
            "notifications.receivers needs notifications.urlSecret",
        ),
    ],
)
def test_bad_values_are_refused(args: list[str], error: str) -> None:
    result = helm("template", "m", str(CHART), "--kube-version", "1.35.0", *args, check=False)
    assert result.returncode != 0 and error in result.stderr, result.stderr
