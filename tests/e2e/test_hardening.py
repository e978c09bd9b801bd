"""Hardening, checked on running containers rather than on rendered YAML: the model pod's
containers run as non-root users on read-only root filesystems, and serve that way (the request
below goes through the gateway to the model).

The gateway is always read-only; the model container is when the spec says so
(``model.readOnlyRootFilesystem``, which the demo model's services set: see
tests/support/hardening.py for why it is not imposed on every image).
"""

import pytest

from tests.e2e.support import OPENER, Served, chat, pods, version_of
from tests.support.cluster import Cluster
from tests.support.hardening import hardening_problems

pytestmark = pytest.mark.cluster

GATEWAY_METRICS_PORT = 9000


def exec_in(cluster: Cluster, served: Served, container: str, *command: str) -> tuple[int, str]:
    (pod,) = pods(cluster, served.namespace, served.name)
    found = cluster.kubectl(
        "exec",
        "-n",
        served.namespace,
        pod["metadata"]["name"],
        "-c",
        container,
        "--",
        *command,
        check=False,
    )
    return found.returncode, found.stdout + found.stderr


def root_mount_options(cluster: Cluster, served: Served, container: str) -> list[str]:
    code, mounts = exec_in(cluster, served, container, "cat", "/proc/self/mounts")
    assert code == 0, mounts
    (root,) = [line.split() for line in mounts.splitlines() if line.split()[1:2] == ["/"]]
    return root[3].split(",")


def test_pod_spec_is_restricted(cluster: Cluster, served: Served) -> None:
    (pod,) = pods(cluster, served.namespace, served.name)
    assert hardening_problems(pod["spec"], pod["metadata"]["name"]) == []
    assert pod["spec"].get("automountServiceAccountToken") is False


@pytest.mark.parametrize("container", ["model", "gateway"])
def test_containers_run_as_non_root(cluster: Cluster, served: Served, container: str) -> None:
    code, uid = exec_in(cluster, served, container, "id", "-u")
    assert code == 0, uid
    assert int(uid) != 0, uid
    code, groups = exec_in(cluster, served, container, "id", "-G")
    assert code == 0 and "0" not in groups.split(), groups


@pytest.mark.parametrize("container", ["model", "gateway"])
def test_containers_run_on_a_read_only_root(
    cluster: Cluster, served: Served, container: str
) -> None:
    assert "ro" in root_mount_options(cluster, served, container)
    code, out = exec_in(cluster, served, container, "touch", "/written-by-e2e")
    assert code != 0 and "Read-only file system" in out, out


def test_model_keeps_a_writable_tmp(cluster: Cluster, served: Served) -> None:
    code, out = exec_in(cluster, served, "model", "touch", "/tmp/written-by-e2e")
    assert code == 0, out


def test_read_only_containers_serve(cluster: Cluster, served: Served) -> None:
    # A request through the Service passes the gateway to the model.
    answer = chat(served.url, "key-pro")
    assert answer.status == 200, answer.body
    assert version_of(answer) == served.version
    (pod,) = pods(cluster, served.namespace, served.name)
    url = f"http://{pod['status']['podIP']}:{GATEWAY_METRICS_PORT}/metrics"
    with OPENER.open(url, timeout=5) as response:
        assert b"modelops_gateway_requests_total" in response.read()
