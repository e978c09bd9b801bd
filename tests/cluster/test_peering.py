"""Two operator processes with kopf peering, as the 2-replica Deployment runs them: exactly one
reconciles, and when it stops the other takes over; the takeover time is measured.

Like test_rbac, the only operators while this runs (``paused()`` stops the session's), with a
ClusterKopfPeering of their own.
"""

import re
import time
from collections.abc import Iterator

import pytest

from tests.cluster.test_canary import canary_service
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status, wait_phase
from tests.support.operator import OperatorProcess, paused

pytestmark = pytest.mark.cluster

PEERING = "modelops-ha-test"


@pytest.fixture
def pair(cluster: Cluster, install_prerequisites: None) -> Iterator[list[OperatorProcess]]:
    cluster.apply(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": PEERING}}
    )
    with paused():
        started = [
            OperatorProcess(cluster, "--peering", PEERING, standalone=False) for _ in range(2)
        ]
        yield started
        for operator in started:
            operator.stop()
    cluster.kubectl("delete", "clusterkopfpeering", PEERING, "--ignore-not-found", check=False)


def reconciled(operator: OperatorProcess, namespace: str, name: str) -> int:
    return len(re.findall(rf"reconciled {namespace}/{name}:", operator.log()))


def test_one_acts_and_the_other_takes_over(
    cluster: Cluster, pair: list[OperatorProcess], namespace: str
) -> None:
    def peers() -> int:
        entries = cluster.get("clusterkopfpeering", PEERING).get("status") or {}
        return len(entries)

    # Both recorded in the peering object; which one acts shows in what they do (a process that
    # starts after its higher peer stays paused without saying so in its log).
    wait_until(lambda: peers() == 2, 30, message="both operators in the peering object")
    steps = [{"weight": 50, "pause": "1s"}]
    cluster.apply(canary_service("ha", "1.0.0", steps), namespace)
    wait_phase(cluster, namespace, "ha", "Stable", 60)
    counts = [reconciled(o, namespace, "ha") for o in pair]
    assert sorted(counts)[0] == 0 and sorted(counts)[1] > 0, f"reconciles per process: {counts}"
    active, standby = (pair[0], pair[1]) if counts[0] else (pair[1], pair[0])

    active.stop()  # SIGTERM, as at a rolling update or a pod deletion
    stopped = time.monotonic()
    cluster.apply(canary_service("ha", "2.0.0", steps), namespace)
    wait_until(
        lambda: status(cluster, namespace, "ha").get("stableVersion") == "2.0.0",
        60,
        message="the standby took over and promoted 2.0.0",
    )
    took = time.monotonic() - stopped
    print(f"\ntakeover: stop of the active replica -> 2.0.0 promoted by the other in {took:.2f}s")
    assert "Resuming operations" in standby.log()
    assert reconciled(standby, namespace, "ha") > 0
    assert took < 30, f"takeover took {took:.1f}s"
