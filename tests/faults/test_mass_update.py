"""Many ModelServices updated to a new version at once, under --max-concurrent-rollouts.

Every rollout ends (Promoted, or RolledBack for the one in ten whose new version crash-loops),
the cap holds in every reading of the statuses (one LIST a second), and nothing is left half
way: no canary Deployment, no stage in a status. The time to finish is printed (a figure for
the notes, not an assertion). MODELOPS_FAULT_SERVICES sets how many: 250 by default, which
keeps `make test` within its half hour and still runs ten waves under the cap; `make
test-faults` runs 500.
"""

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modelops.render.meta import LABEL_TRACK
from tests.support.cluster import Cluster, wait_until
from tests.support.faults import NamespaceTrace, results_of, traced_namespace
from tests.support.operator import OperatorProcess, paused
from tests.support.samples import model_service

pytestmark = pytest.mark.cluster

SERVICES = int(os.environ.get("MODELOPS_FAULT_SERVICES", "250"))
CAP = 25
STEPS = [{"weight": 50, "pause": "1s"}]


def failing(index: int) -> bool:
    return index % 10 == 9


def service(index: int, version: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if version != "1.0.0" and failing(index):
        extra["podTemplate"] = {"labels": {"modelops.dev/simulate": "crash-loop"}}
    rollout = {"strategy": "Canary", "steps": STEPS}
    return model_service(f"m{index:04d}", version, replicas=1, rollout=rollout, **extra)


def apply_all(cluster: Cluster, namespace: str, version: str) -> None:
    """All of them in one kubectl call: the updates land within seconds of each other."""
    docs = [service(index, version) for index in range(SERVICES)]
    cluster.apply(yaml.safe_dump_all(docs), namespace, server_side=True, timeout=600)


def all_done(trace: NamespaceTrace, version: str) -> bool:
    """Every ModelService read, none mid-rollout, each with a result for ``version``."""
    if len(trace.traces) < SERVICES:
        return False
    return all(
        not t.last.get("stage") and results_of(t.last, version) for t in trace.traces.values()
    )


@pytest.fixture
def capped(cluster: Cluster, operator: OperatorProcess) -> Iterator[OperatorProcess]:
    with paused():
        own = OperatorProcess(cluster, "--max-concurrent-rollouts", str(CAP))
        yield own
        own.stop()


@pytest.mark.timeout(1800)  # creating and rolling hundreds takes minutes on a busy 2-core box
def test_mass_update_every_rollout_ends_under_the_cap(
    cluster: Cluster, capped: OperatorProcess, namespace: str
) -> None:
    with traced_namespace(cluster, namespace, interval=1.0) as trace:
        apply_all(cluster, namespace, "1.0.0")
        wait_until(
            lambda: (
                len(trace.traces) == SERVICES
                and all(t.last.get("phase") == "Stable" for t in trace.traces.values())
            ),
            900,
            interval=2,
            message=f"{SERVICES} ModelServices Stable on 1.0.0",
        )
        started = time.monotonic()
        apply_all(cluster, namespace, "2.0.0")
        wait_until(
            lambda: all_done(trace, "2.0.0"),
            1200,
            interval=2,
            message=f"every rollout ended (in flight, last readings: {trace.in_flight[-20:]})",
        )
        took = time.monotonic() - started
    peak = max(trace.in_flight, default=0)
    print(
        f"\n{SERVICES} ModelServices updated at once (cap {CAP}): every rollout ended in "
        f"{took:.0f}s; at most {peak} in flight per reading"
    )
    assert peak <= CAP, f"the cap was exceeded: {trace.in_flight}"
    assert peak > 1, f"the rollouts never overlapped, the cap was not exercised: {trace.in_flight}"
    for index in range(SERVICES):
        last = trace.traces[f"m{index:04d}"].last
        want = "RolledBack" if failing(index) else "Promoted"
        assert results_of(last, "2.0.0") == [want], (index, last.get("history"))
        assert last["stableVersion"] == ("1.0.0" if failing(index) else "2.0.0"), (index, last)
    wait_until(
        lambda: (
            not cluster.get("deployment", "-n", namespace, "-l", f"{LABEL_TRACK}=canary")["items"]
        ),
        120,
        interval=2,
        message="no canary Deployment left",
    )
    assert capped.healthy()
