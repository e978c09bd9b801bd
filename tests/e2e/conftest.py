"""The end-to-end tests' world: the real node (a missing one fails every test, loudly), the
operator running there as pods installed from the Helm chart, and a real Prometheus that
discovers and scrapes the model pods.

While the package runs, the chart's operator is the only one acting: the host-side operators of
the other test packages are paused, and started again once the release is uninstalled.
"""

import subprocess
import uuid
from collections.abc import Iterator

import pytest
import yaml

from tests.e2e.support import (
    NODE_NAME,
    OPERATOR_NAMESPACE,
    RELEASE,
    SERVED_LIMITS,
    SERVED_VERSION,
    PodTargets,
    Release,
    Served,
    demo_service,
    node_problem,
    prometheus_scrape_config,
    service_url,
    wait_ready,
    wait_serving,
)
from tests.support.cluster import REPO, Cluster, cache_bin_dir
from tests.support.operator import paused
from tests.support.prometheus import running_prometheus
from tests.support.realnode import import_node_images, node_network

CHART = REPO / "charts" / "modelops"
# The values `make demo` uses too: the locally built image (never pulled), placement on the
# real node; replicas, leader election, RBAC and the gateway image stay the chart's defaults.
VALUES = REPO / "hack" / "real-node-values.yaml"
INSTALL_TIMEOUT = 240
IMAGES_TIMEOUT = 540  # a cold build of the three images takes about 4 minutes on 2 cores


@pytest.fixture(scope="package")
def real_node(cluster: Cluster) -> str:
    """The name of the real node; its absence fails the test (never a skip)."""
    problem = node_problem(cluster)
    if problem:
        pytest.fail(f"the e2e tests need the real node: {problem}", pytrace=False)
    return NODE_NAME


@pytest.fixture(scope="package")
def link_host_ip(cluster: Cluster, real_node: str) -> str:
    """This machine's address on the link to the real node (hack/lib/net.sh's LINK_HOST_IP):
    reachable from its pods."""
    return node_network(cluster).link_host_ip


@pytest.fixture(scope="package")
def prometheus(
    cluster: Cluster, link_host_ip: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Debian's Prometheus on the link address, so the operator's pods can query it too;
    scrapes every real-node pod that asks for it (prometheus.io/* annotations) each second,
    found by ``PodTargets``."""
    workdir = tmp_path_factory.mktemp("prometheus")
    discovery = PodTargets(cluster.kubeconfig, workdir / "pods.json")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [prometheus_scrape_config(discovery.path)],
    }
    try:
        with running_prometheus(config, workdir, host=link_host_ip) as url:
            yield url
    finally:
        discovery.stop()


def helm(cluster: Cluster, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    binary = cache_bin_dir() / "helm"
    if not binary.exists():
        pytest.fail(
            f"{binary} is missing: run `make binaries` (hack/build-binaries.sh helm)", pytrace=False
        )
    return subprocess.run(
        [str(binary), "--kubeconfig", cluster.kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def operator_diagnostics(cluster: Cluster) -> str:
    where = ["-n", OPERATOR_NAMESPACE]
    out = [
        cluster.kubectl("get", "pods", *where, "-o", "wide", check=False).stdout,
        cluster.kubectl("describe", "pods", *where, check=False).stdout[-6000:],
        cluster.kubectl(
            "logs", *where, "-l", "app.kubernetes.io/component=operator", "--tail=60", check=False
        ).stdout,
    ]
    return "\n".join(out)


def _namespace_gone(cluster: Cluster) -> None:
    """A kept cluster may still be deleting the namespace of an earlier run."""
    cluster.kubectl(
        "wait",
        "--for=delete",
        f"namespace/{OPERATOR_NAMESPACE}",
        "--timeout=120s",
        check=False,
        timeout=130,
    )


def import_current_images(cluster: Cluster) -> None:
    """The checkout's images on the real node, or the test fails with the script's output."""
    done = import_node_images(cluster, IMAGES_TIMEOUT)
    if done.returncode != 0:
        pytest.fail(
            "hack/node-images.sh failed:\n" + (done.stdout + done.stderr)[-4000:], pytrace=False
        )


@pytest.fixture(scope="package", autouse=True)
def chart_operator(cluster: Cluster, real_node: str) -> Iterator[Release]:
    """``helm install`` of charts/modelops, the operator's pods on the real node, Ready; the
    host-side operators paused meanwhile. Uninstalled (and waited for) at the end."""
    import_current_images(cluster)
    values = yaml.safe_load(VALUES.read_text())
    with paused():
        helm(cluster, "uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, "--wait", timeout=120)
        _namespace_gone(cluster)
        installed = helm(
            cluster,
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            OPERATOR_NAMESPACE,
            "--create-namespace",
            "--values",
            str(VALUES),
            "--wait",
            "--timeout",
            f"{INSTALL_TIMEOUT}s",
            timeout=INSTALL_TIMEOUT + 30,
        )
        if installed.returncode != 0:
            diagnostics = operator_diagnostics(cluster)
            helm(cluster, "uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, "--wait", timeout=120)
            pytest.fail(
                f"helm install of the operator failed:\n{installed.stdout}{installed.stderr}\n"
                f"{diagnostics}",
                pytrace=False,
            )
        try:
            yield Release(RELEASE, OPERATOR_NAMESPACE, values)
        finally:
            helm(cluster, "uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, "--wait", timeout=120)
            cluster.kubectl("delete", "namespace", OPERATOR_NAMESPACE, "--wait=false", check=False)


@pytest.fixture(scope="package")
def served(cluster: Cluster, chart_operator: Release) -> Iterator[Served]:
    """One rate-limited ModelService of the demo model on the real node, Ready and answering
    through its Service: what the serving and hardening tests call."""
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    name = "chat"
    cluster.apply(demo_service(name, SERVED_VERSION, rateLimit=SERVED_LIMITS), namespace)
    wait_ready(cluster, namespace, name)
    url = service_url(cluster, namespace, name)
    wait_serving(url, "warm-up", SERVED_VERSION)
    yield Served(namespace, name, url, SERVED_VERSION)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
