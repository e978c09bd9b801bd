"""The control plane fails under a rollout: the API server stopped for 20 s, etcd restarted.

The operator must reconnect its watches and carry the rollout on from the step it was at: the
status goes through every step once, in order (a poller reads it all along), each step's
Event is posted once, and the history records one promotion.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from tests.cluster.test_canary import canary_service, deploy_stable
from tests.support.cluster import Cluster, wait_until
from tests.support.faults import events, results_of, stopped, traced
from tests.support.msvc import status
from tests.support.operator import OperatorProcess

pytestmark = pytest.mark.cluster

STEPS = [
    {"weight": 25, "pause": "3s"},
    {"weight": 50, "pause": "30s"},  # the fault lands in this pause
    {"weight": 75, "pause": "3s"},
]

Fault = Callable[[Cluster], AbstractContextManager[None]]
FAULTS: dict[str, Fault] = {
    "apiserver-stopped-20s": lambda cluster: stopped(cluster, "kube-apiserver", 20),
    "etcd-restarted": lambda cluster: stopped(cluster, "etcd", 10),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_rollout_carries_on_after_the_control_plane_fault(
    cluster: Cluster, operator: OperatorProcess, namespace: str, fault: str
) -> None:
    name = "steady"
    deploy_stable(cluster, namespace, name, STEPS)
    with traced(cluster, namespace, name) as trace:
        cluster.apply(canary_service(name, "2.0.0", STEPS), namespace)
        wait_until(
            lambda: trace.last.get("currentStep") == 1 and "stepReadyAt" in trace.last,
            90,
            message="step 2, canary ready",
        )
        with FAULTS[fault](cluster):
            # Proof that the fault bites: a write fails (reads may still be served from the API
            # server's watch cache while etcd is away).
            probe = cluster.kubectl(
                "create",
                "configmap",
                "probe",
                "-n",
                namespace,
                "--request-timeout=5s",
                check=False,
                timeout=30,
            )
            assert probe.returncode != 0, "a write succeeded during the fault"
        wait_until(
            lambda: (
                trace.last.get("phase") == "Stable" and trace.last.get("stableVersion") == "2.0.0"
            ),
            180,
            message=f"2.0.0 promoted after the fault (seen: {trace.points})",
        )
    print(f"\n{fault}: status reads that failed during the fault: {trace.failed_reads}")
    assert trace.weights() == [25, 50, 75], trace.points
    assert trace.stages() == ["Canary", "Promoting"], trace.points
    assert results_of(status(cluster, namespace, name), "2.0.0") == ["Promoted"]
    advanced = [m for reason, m in events(cluster, namespace, name) if reason == "StepAdvanced"]
    assert sorted(advanced) == ["step 2/3: 50% to canary", "step 3/3: 75% to canary"], advanced

    # The watches are back: a child deleted by hand at rest (no timer runs then) is put back.
    uid = cluster.get("service", "-n", namespace, name)["metadata"]["uid"]
    cluster.kubectl("delete", "service", "-n", namespace, name)
    wait_until(
        lambda: (
            (
                found := cluster.kubectl(
                    "get",
                    "service",
                    "-n",
                    namespace,
                    name,
                    "-o",
                    "jsonpath={.metadata.uid}",
                    check=False,
                )
            ).returncode
            == 0
            and found.stdout not in ("", uid)
        ),
        60,
        message="the deleted Service recreated through a watch event",
    )
    assert operator.healthy(), operator.log()[-3000:]
