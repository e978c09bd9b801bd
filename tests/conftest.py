"""Shared fixtures. Cluster tests ask for ``cluster``; unit tests never start one."""

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.support.cluster import HACK, REPO, Cluster, ClusterUnavailableError, acquire, release
from tests.support.operator import CRD_NAME, OperatorProcess, install_crd


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    try:
        got = acquire()
    except ClusterUnavailableError as error:
        pytest.fail(f"no Kubernetes control plane for the cluster tests: {error}", pytrace=False)
    yield got
    release(got)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def operator(cluster: Cluster) -> Iterator[OperatorProcess]:
    """The CRD installed and one operator running for the whole session."""
    install_crd(cluster)
    running = OperatorProcess(cluster)
    yield running
    running.stop()


def _install_crds(script: str, cluster: Cluster) -> None:
    result = subprocess.run(
        ["bash", str(HACK / script), cluster.kubeconfig],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"hack/{script} failed:\n" + (result.stdout + result.stderr)[-4000:], pytrace=False
        )


@pytest.fixture(scope="session")
def routing_crds(cluster: Cluster) -> None:
    _install_crds("install-routing-crds.sh", cluster)


@pytest.fixture(scope="session")
def monitoring_crds(cluster: Cluster) -> None:
    """ServiceMonitor and PrometheusRule CRDs, for manifests/monitoring and the chart."""
    _install_crds("install-monitoring-crds.sh", cluster)


def ensure_namespace(cluster: Cluster, name: str) -> None:
    """``name`` exists and is not being deleted (a kept cluster may still be removing it)."""
    phase = cluster.kubectl(
        "get", "namespace", name, "-o", "jsonpath={.status.phase}", check=False
    ).stdout
    if phase == "Terminating":
        cluster.kubectl("wait", "--for=delete", f"namespace/{name}", "--timeout=120s", timeout=130)
        phase = ""
    if not phase:
        cluster.kubectl("create", "namespace", name)


@pytest.fixture(scope="session")
def install_prerequisites(cluster: Cluster, monitoring_crds: None) -> None:
    """What a server dry run of manifests/ and of the chart needs to exist for real (a dry run
    creates nothing): the CRDs of manifests/crd and the namespaces the manifests name. They
    stay: the CRDs serve every operator of the session, the namespaces are left empty."""
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-k", str(REPO / "manifests/crd")
    )
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    for namespace in ("modelops-system", "ml"):
        ensure_namespace(cluster, namespace)
