"""Two operator processes with kopf peering, as the 2-replica Deployment runs them: exactly one
reconciles, and when it stops (SIGTERM) or dies (SIGKILL, mid-rollout) the other takes over;
the takeover times are measured and printed.

Like test_rbac, the only operators while this runs (``paused()`` stops the session's), with a
ClusterKopfPeering of their own.
"""

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.test_canary import canary_service
from tests.support.cluster import Cluster, wait_until
from tests.support.faults import results_of, traced
from tests.support.msvc import status, wait_phase
from tests.support.operator import OperatorProcess, paused

pytestmark = pytest.mark.cluster

PEERING = "modelops-ha-test"
# Short, so a SIGKILLed peer is presumed dead soon (kopf's default is 60 s).
LIFETIME = 10


@pytest.fixture
def pair(cluster: Cluster, install_prerequisites: None) -> Iterator[list[OperatorProcess]]:
    cluster.apply(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": PEERING}}
    )
    with paused():
        started = [
            OperatorProcess(
                cluster,
                "--peering",
                PEERING,
                "--peering-lifetime",
                str(LIFETIME),
                standalone=False,
            )
            for _ in range(2)
        ]
        yield started
        for operator in started:
            operator.stop()
    cluster.kubectl("delete", "clusterkopfpeering", PEERING, "--ignore-not-found", check=False)


def reconciled(operator: OperatorProcess, namespace: str, name: str) -> int:
    return len(re.findall(rf"reconciled {namespace}/{name}:", operator.log()))


def active_and_standby(
    cluster: Cluster, pair: list[OperatorProcess], namespace: str, steps: list[dict[str, Any]]
) -> tuple[OperatorProcess, OperatorProcess]:
    """v1 of "ha" deployed; the process that reconciled it, and the other."""

    def peers() -> int:
        entries = cluster.get("clusterkopfpeering", PEERING).get("status") or {}
        return len(entries)

    # Both recorded in the peering object; which one acts shows in what they do (a process that
    # starts after its higher peer stays paused without saying so in its log).
    wait_until(lambda: peers() == 2, 30, message="both operators in the peering object")
    cluster.apply(canary_service("ha", "1.0.0", steps), namespace)
    wait_phase(cluster, namespace, "ha", "Stable", 60)
    counts = [reconciled(o, namespace, "ha") for o in pair]
    assert sorted(counts)[0] == 0 and sorted(counts)[1] > 0, f"reconciles per process: {counts}"
    return (pair[0], pair[1]) if counts[0] else (pair[1], pair[0])


def test_one_acts_and_the_other_takes_over(
    cluster: Cluster, pair: list[OperatorProcess], namespace: str
) -> None:
    steps = [{"weight": 50, "pause": "1s"}]
    active, standby = active_and_standby(cluster, pair, namespace, steps)

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


def test_killed_active_replica_mid_rollout_the_standby_finishes_it(
    cluster: Cluster, pair: list[OperatorProcess], namespace: str
) -> None:
    steps = [{"weight": 25, "pause": "3s"}, {"weight": 50, "pause": "3s"}]
    active, standby = active_and_standby(cluster, pair, namespace, steps)
    with traced(cluster, namespace, "ha", interval=0.1) as trace:
        cluster.apply(canary_service("ha", "2.0.0", steps), namespace)
        wait_until(
            lambda: trace.last.get("currentStep") == 0 and "stepReadyAt" in trace.last,
            60,
            interval=0.05,
            message="step 1, canary ready",
        )
        active.process.kill()  # no goodbye in the peering object: the standby must time it out
        killed = time.monotonic()
        resumed = wait_until(
            lambda: "Resuming operations" in standby.log() and time.monotonic(),
            LIFETIME * 3 + 30,
            interval=0.1,
            message="the standby resumed",
        )
        wait_until(
            lambda: trace.last.get("stableVersion") == "2.0.0" and not trace.last.get("stage"),
            90,
            message=f"the standby promoted 2.0.0 (seen: {trace.points})",
        )
        promoted = time.monotonic()
    active.stop()
    print(
        f"\ntakeover after SIGKILL (peering lifetime {LIFETIME}s): standby resumed in "
        f"{resumed - killed:.1f}s, the rollout promoted {promoted - killed:.1f}s after the kill"
    )
    assert trace.weights() == [25, 50], f"a step repeated or skipped: {trace.points}"
    assert results_of(status(cluster, namespace, "ha"), "2.0.0") == ["Promoted"]
    assert reconciled(standby, namespace, "ha") > 0
