"""The operator's RBAC (manifests/base) is enough: the operator runs as its ServiceAccount (a
token, not the admin certificate) with leader election on, through a canary promotion, a
crash-loop rollback and mesh-routed rollouts, and the API server never answers 403.

Only this module's operator may act while it runs: a second operator on the same objects
would fight it (and hide a 403, since the other one would do the work). The session-wide
``operator`` fixture is not requested here, and any operator the session already started
(by an earlier module) is stopped for this module and started again after it
(``tests.support.operator.paused``).

The scenarios are the canary and routing tests themselves, called with this module's
operator: the same steps and assertions, no copies.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cluster import test_canary as canary
from tests.cluster import test_routing_rollout as routing
from tests.cluster.test_leader_election import holder
from tests.support.cluster import REPO, Cluster, wait_until
from tests.support.operator import OperatorProcess, paused

pytestmark = pytest.mark.cluster

SYSTEM = "modelops-system"
ACCOUNT = f"system:serviceaccount:{SYSTEM}:modelops"
BASE = REPO / "manifests" / "base"
LEASE = "modelops"
LEADER_ELECTION = [
    ("rolebinding", "modelops-leader-election"),
    ("role", "modelops-leader-election"),
    ("lease", LEASE),
]
ELECT = ("--leader-elect", "--lease-name", LEASE, "--lease-namespace", SYSTEM)


@pytest.fixture(scope="module")
def installed(cluster: Cluster, install_prerequisites: None) -> Iterator[None]:
    """manifests/base applied for real: CRDs, namespace, RBAC, Deployment
    (its pods are KWOK's: nothing runs). Removed afterwards but for the CRDs and the namespace
    (install_prerequisites' own)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(BASE))
    yield
    cluster.kubectl("delete", "deployment", "modelops", "-n", SYSTEM, "--ignore-not-found")
    for kind in ("clusterrolebinding", "clusterrole"):
        cluster.kubectl("delete", kind, "modelops", "--ignore-not-found", check=False)
    for kind, name in LEADER_ELECTION:
        cluster.kubectl("delete", kind, name, "-n", SYSTEM, "--ignore-not-found", check=False)


def token_kubeconfig(cluster: Cluster, directory: Path, account: str = "modelops") -> str:
    """A kubeconfig for the same API server that authenticates as a ServiceAccount of
    modelops-system (bench/reconcile.py uses its own, ``modelops-bench``)."""
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    context = next(c["context"] for c in admin["contexts"] if c["name"] == admin["current-context"])
    server = next(c["cluster"] for c in admin["clusters"] if c["name"] == context["cluster"])
    token = cluster.kubectl("create", "token", account, "-n", SYSTEM, "--duration=2h")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": server}],
        "users": [{"name": account, "user": {"token": token.stdout.strip()}}],
        "contexts": [{"name": account, "context": {"cluster": "local", "user": account}}],
        "current-context": account,
    }
    path = directory / f"{account}-sa.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return str(path)


@pytest.fixture(scope="module")
def audit_from(cluster: Cluster) -> tuple[Path, int]:
    """The audit log and its size before this module's operator starts: only what follows is
    this module's (a kept cluster's log holds earlier runs too)."""
    audit = Path(cluster.kubeconfig).parent / "audit.log"
    if not audit.exists():
        pytest.fail(f"no audit log at {audit}: run against the local control plane", pytrace=False)
    return audit, audit.stat().st_size


@pytest.fixture(scope="module")
def rbac_operator(
    cluster: Cluster,
    installed: None,
    audit_from: tuple[Path, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """`modelops run --leader-elect` as the ServiceAccount, cluster-wide like the
    Deployment, and the only operator running."""
    kubeconfig = token_kubeconfig(cluster, tmp_path_factory.mktemp("rbac"))
    with paused():
        running = OperatorProcess(cluster, *ELECT, kubeconfig=kubeconfig, standalone=False)
        yield running
        running.stop()


# What an RBAC refusal looks like in the operator's log: the API server's message ("User ...
# cannot list resource ...") in a raised ApiException, or kopf's own warnings. A bare "403
# Forbidden" is not enough: the API server also answers 403 to writes into a namespace being
# deleted (the previous test's), which no RBAC rule can change; the audit log tells them apart.
RBAC_REFUSALS = (
    "cannot get resource",
    "cannot list resource",
    "cannot watch resource",
    "cannot create resource",
    "cannot patch resource",
    "cannot delete resource",
    "Not enough permissions",
    "insufficient permissions",
)


def assert_no_403(operator: OperatorProcess) -> None:
    lines = operator.log().splitlines()
    refused = [line for line in lines if any(text in line for text in RBAC_REFUSALS)]
    assert not refused, "the operator was refused:\n" + "\n".join(refused[:20])
    operator.assert_no_tracebacks()


def can_i(cluster: Cluster, *args: str) -> str:
    result = cluster.kubectl("auth", "can-i", f"--as={ACCOUNT}", *args, check=False)
    return result.stdout.strip()


def test_no_secrets_and_no_wildcards(cluster: Cluster, installed: None) -> None:
    for verb in ("get", "list", "watch", "patch", "update", "delete"):
        assert can_i(cluster, verb, "secrets", "-A") == "no"
    # Gateway routing's forwarding key: created, never read back.
    assert can_i(cluster, "create", "secrets", "-n", "default") == "yes"
    assert can_i(cluster, "patch", "deployments", "-n", "default") == "yes"
    assert can_i(cluster, "update", "deployments", "-n", "default") == "no"  # apply is a PATCH
    assert can_i(cluster, "delete", "pods", "-n", "default") == "no"
    assert can_i(cluster, "update", "modelservices.modelops.dev", "-n", "default") == "no"
    assert can_i(cluster, "patch", "modelservices.modelops.dev", "-n", "default") == "no"
    assert can_i(cluster, "update", "leases.coordination.k8s.io", "-n", SYSTEM) == "yes"
    assert can_i(cluster, "update", "leases.coordination.k8s.io", "-n", "default") == "no"
    role = cluster.get("clusterrole", "modelops")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule


def test_the_operator_holds_the_lease(cluster: Cluster, rbac_operator: OperatorProcess) -> None:
    """Leader election through the Lease in modelops-system (get, create, update)."""

    wait_until(lambda: holder(cluster, LEASE, SYSTEM), 30, message="the operator holds the Lease")
    assert "holding the Lease" in rbac_operator.log()


def test_promotion_as_service_account(
    cluster: Cluster, rbac_operator: OperatorProcess, namespace: str
) -> None:
    canary.test_canary_steps_then_promotion(cluster, rbac_operator, namespace)
    assert_no_403(rbac_operator)


def test_crash_loop_rollback_as_service_account(
    cluster: Cluster, rbac_operator: OperatorProcess, namespace: str
) -> None:
    canary.test_crash_looping_canary_is_rolled_back(cluster, rbac_operator, namespace)
    assert_no_403(rbac_operator)


@pytest.mark.parametrize("provider", sorted(routing.PROVIDERS))
def test_mesh_routing_as_service_account(
    cluster: Cluster,
    rbac_operator: OperatorProcess,
    namespace: str,
    routing_crds: None,
    provider: str,
) -> None:
    routing.test_weights_follow_the_steps_to_promotion(
        cluster, rbac_operator, namespace, routing_crds, provider
    )
    assert_no_403(rbac_operator)


def test_audit_log_shows_no_refused_write(
    rbac_operator: OperatorProcess, audit_from: tuple[Path, int]
) -> None:
    """No write of the ServiceAccount was refused by authorization (the audit policy records
    writes; a refusal carries the annotation decision=forbid), and the writes each rule is
    there for did happen; the (verb, resource) counts are printed as evidence."""
    audit, offset = audit_from
    with audit.open("rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode(errors="replace").splitlines()
    used: dict[tuple[str, str], int] = {}
    refused = []
    for line in lines:
        entry = json.loads(line)
        if entry.get("user", {}).get("username") != ACCOUNT:
            continue
        ref = entry.get("objectRef", {})
        resource = ref.get("resource", "") + (
            "/" + ref["subresource"] if ref.get("subresource") else ""
        )
        key = (entry["verb"], f"{resource}.{ref.get('apiGroup', '')}".rstrip("."))
        used[key] = used.get(key, 0) + 1
        if entry.get("annotations", {}).get("authorization.k8s.io/decision") == "forbid":
            refused.append(key)
    print("\nwrites by the ServiceAccount (audit log):")
    for (verb, resource), count in sorted(used.items()):
        print(f"  {verb:7} {resource:45} {count}")
    assert not refused, refused
    assert ("patch", "deployments.apps") in used and ("delete", "deployments.apps") in used
    assert ("patch", "modelservices/status.modelops.dev") in used
    assert ("create", "events") in used
    assert ("update", "leases.coordination.k8s.io") in used  # renewals


def test_namespaced_overlay_is_enough_in_its_namespace(
    cluster: Cluster, rbac_operator: OperatorProcess, tmp_path: Path
) -> None:
    """Last in this module: the overlay's Role alone (the ClusterRoleBinding removed), the
    operator as the overlay runs it (`--namespace=ml`, the Lease), a canary promotion in ml,
    and not one refusal."""
    rbac_operator.stop()
    cluster.kubectl("delete", "clusterrolebinding", "modelops")
    built = cluster.kubectl("kustomize", str(REPO / "manifests/overlays/namespaced")).stdout
    wanted = [
        doc for doc in yaml.safe_load_all(built) if doc and doc["kind"] in ("Role", "RoleBinding")
    ]
    cluster.apply(yaml.safe_dump_all(wanted))
    cluster.kubectl("delete", "msvc", "promo", "-n", "ml", "--ignore-not-found", "--wait=true")
    scoped = OperatorProcess(
        cluster,
        *ELECT,
        "--namespace",
        "ml",
        kubeconfig=token_kubeconfig(cluster, tmp_path),
        standalone=False,
    )
    try:
        canary.test_canary_steps_then_promotion(cluster, scoped, "ml")
        lines = scoped.log().splitlines()
    finally:
        scoped.stop()
        cluster.kubectl("delete", "msvc", "promo", "-n", "ml", "--ignore-not-found", check=False)
        manifest = yaml.safe_dump_all(wanted)
        cluster.kubectl("delete", "--ignore-not-found", "-f", "-", input_text=manifest, check=False)
    # No refusal at all: with --namespace, kopf does not try the cluster-scoped reads (namespaces,
    # CRDs) a Role cannot grant (modelops.controller.hooks.configure: settings.scanning.disabled).
    refused = [line for line in lines if any(text in line for text in RBAC_REFUSALS)]
    assert not refused, "\n".join(refused[:20])
