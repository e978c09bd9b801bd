"""Reading a ModelService's status in cluster tests."""

from typing import Any

from tests.support.cluster import Cluster, wait_until


def status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    status_: dict[str, Any] = cluster.get("msvc", "-n", namespace, name).get("status", {})
    return status_


def wait_phase(cluster: Cluster, namespace: str, name: str, want: str, timeout: float = 60) -> None:
    wait_until(
        lambda: status(cluster, namespace, name).get("phase") == want,
        timeout,
        message=f"{name} in phase {want}",
    )
