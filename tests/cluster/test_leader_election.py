"""Two operator processes electing a leader through a Lease, as the 2-replica Deployment runs
them: exactly one reconciles, and when it stops (SIGTERM: it hands the Lease over) or dies
(SIGKILL mid-rollout: the Lease must run out) the other takes over; the takeover times are
measured and printed.

Like test_rbac, the only operators while this runs (``paused()`` stops the session's), with a
Lease of their own.
"""

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.test_canary import canary_service
from tests.support.cluster import Cluster, wait_until
from tests.support.faults import results_of, traced
from tests.support.msvc import status, wait_phase
from tests.support.operator import OperatorProcess, paused

pytestmark = pytest.mark.cluster

LEASE_NAMESPACE = "default"
# Short, so a SIGKILLed leader's Lease runs out soon (the manifests and the chart use 15 s).
LEASE_SECONDS = 8


@pytest.fixture
def lease() -> str:
    return f"modelops-ha-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def pair(
    cluster: Cluster, lease: str, install_prerequisites: None
) -> Iterator[list[OperatorProcess]]:
    with paused():
        started = [
            OperatorProcess(
                cluster,
                "--leader-elect",
                "--lease-name",
                lease,
                "--lease-namespace",
                LEASE_NAMESPACE,
                "--lease-duration",
                str(LEASE_SECONDS),
                standalone=False,
            )
            for _ in range(2)
        ]
        yield started
        for operator in started:
            operator.stop()
    cluster.kubectl("delete", "lease", lease, "-n", LEASE_NAMESPACE, "--ignore-not-found")


def holder(cluster: Cluster, lease: str, namespace: str = LEASE_NAMESPACE) -> str:
    """Who holds the Lease ("" while nobody does, or it does not exist yet)."""
    found = cluster.kubectl(
        "get",
        "lease",
        lease,
        "-n",
        namespace,
        "-o",
        "jsonpath={.spec.holderIdentity}",
        check=False,
    )
    return found.stdout.strip() if found.returncode == 0 else ""


def reconciled(operator: OperatorProcess, namespace: str, name: str) -> int:
    return len(re.findall(rf"reconciled {namespace}/{name}:", operator.log()))


def active_and_standby(
    cluster: Cluster,
    pair: list[OperatorProcess],
    namespace: str,
    steps: list[dict[str, Any]],
    lease: str,
) -> tuple[OperatorProcess, OperatorProcess]:
    """v1 of "ha" deployed; the process that holds the Lease and reconciled it, and the other."""
    wait_until(lambda: holder(cluster, lease), 30, message="a replica holds the Lease")
    cluster.apply(canary_service("ha", "1.0.0", steps), namespace)
    wait_phase(cluster, namespace, "ha", "Stable", 60)
    counts = [reconciled(o, namespace, "ha") for o in pair]
    assert sorted(counts)[0] == 0 and sorted(counts)[1] > 0, f"reconciles per process: {counts}"
    active, standby = (pair[0], pair[1]) if counts[0] else (pair[1], pair[0])
    assert "holding the Lease" in active.log() and "holding the Lease" not in standby.log()
    return active, standby


def test_one_acts_and_the_other_takes_over(
    cluster: Cluster, pair: list[OperatorProcess], namespace: str, lease: str
) -> None:
    steps = [{"weight": 50, "pause": "1s"}]
    active, standby = active_and_standby(cluster, pair, namespace, steps, lease)

    active.stop()  # SIGTERM, as at a rolling update or a pod deletion: it hands the Lease over
    assert "released the Lease" in active.log_path.read_text()
    stopped = time.monotonic()
    cluster.apply(canary_service("ha", "2.0.0", steps), namespace)
    wait_until(
        lambda: status(cluster, namespace, "ha").get("stableVersion") == "2.0.0",
        60,
        message="the standby took over and promoted 2.0.0",
    )
    took = time.monotonic() - stopped
    print(f"\ntakeover: stop of the active replica -> 2.0.0 promoted by the other in {took:.2f}s")
    assert "holding the Lease" in standby.log()
    assert reconciled(standby, namespace, "ha") > 0
    # Handed over, not run out: well within one lease duration plus a retry.
    assert took < LEASE_SECONDS, f"takeover took {took:.1f}s: the Lease ran out instead"


def test_killed_active_replica_mid_rollout_the_standby_finishes_it(
    cluster: Cluster, pair: list[OperatorProcess], namespace: str, lease: str
) -> None:
    steps = [{"weight": 25, "pause": "3s"}, {"weight": 50, "pause": "3s"}]
    active, standby = active_and_standby(cluster, pair, namespace, steps, lease)
    with traced(cluster, namespace, "ha", interval=0.1) as trace:
        cluster.apply(canary_service("ha", "2.0.0", steps), namespace)
        wait_until(
            lambda: trace.last.get("currentStep") == 0 and "stepReadyAt" in trace.last,
            60,
            interval=0.05,
            message="step 1, canary ready",
        )
        active.process.kill()  # no hand-over: the standby must wait for the Lease to run out
        killed = time.monotonic()
        resumed = wait_until(
            lambda: "holding the Lease" in standby.log() and time.monotonic(),
            LEASE_SECONDS * 3 + 30,
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
        f"\ntakeover after SIGKILL (lease {LEASE_SECONDS}s): the standby led after "
        f"{resumed - killed:.1f}s, the rollout promoted {promoted - killed:.1f}s after the kill"
    )
    assert trace.weights() == [25, 50], f"a step repeated or skipped: {trace.points}"
    assert results_of(status(cluster, namespace, "ha"), "2.0.0") == ["Promoted"]
    assert reconciled(standby, namespace, "ha") > 0
