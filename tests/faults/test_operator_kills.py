"""The operator SIGKILLed in every distinct state of a rollout, and started again: each rollout
ends as it would have without the kill (Promoted or RolledBack), once, with no step repeated.

Queued (behind --max-concurrent-rollouts), pausing at step 1 and at step 2, analysing, failing
analysis, waiting for a canary that never gets ready, promoting, and just rolled back. The
operator here runs with a cap of one rollout, so the queued case also checks that a restarted
operator does not let a queued rollout start beside the running one.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.test_canary import deployments
from tests.support.cluster import Cluster, wait_until
from tests.support.faults import IN_FLIGHT, NamespaceTrace, events, results_of, traced_namespace
from tests.support.msvc import status, wait_phase
from tests.support.operator import OperatorProcess, paused
from tests.support.prometheus import running_prometheus
from tests.support.samples import model_service

pytestmark = pytest.mark.cluster

STEPS = [{"weight": 25, "pause": "4s"}, {"weight": 50, "pause": "4s"}]


@dataclass(frozen=True)
class Scenario:
    """v2 of ``spec`` rolled out over v1; the operator killed once ``kill_when(status)``."""

    kill_when: Callable[[dict[str, Any]], bool]
    ends: str  # Promoted or RolledBack
    spec: dict[str, Any] = field(default_factory=dict)
    replicas: int = 2
    message: str = ""  # found in the final status message
    # Another rollout holds the one slot first; it sorts after "target", so a restarted
    # operator that forgot it would reconcile the queued target first and start it.
    blocker: bool = False


def analysis(query: str, **extra: Any) -> dict[str, Any]:
    metric = {
        "name": "errors",
        "max": 0.05,
        "prometheus": {"address": "PROMETHEUS", "query": query},
    }
    return {"analysis": {"interval": "2s", "metrics": [metric], **extra}}


def at_step(index: int) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("currentStep") == index and "stepReadyAt" in s


SCENARIOS = {
    "queued": Scenario(lambda s: s.get("stage") == "Queued", "Promoted", blocker=True),
    "step-1-pause": Scenario(at_step(0), "Promoted"),
    "step-2-pause": Scenario(at_step(1), "Promoted"),
    "analysing": Scenario(
        lambda s: bool((s.get("analysis") or {}).get("lastRunAt")),
        "Promoted",
        spec=analysis("vector(0.01)"),
    ),
    "analysis-failing": Scenario(
        lambda s: (s.get("analysis") or {}).get("consecutiveFailures") == 1,
        "RolledBack",
        spec=analysis("vector(0.5)", failureLimit=3),
        message="analysis failed 3 times",
    ),
    "canary-never-ready": Scenario(
        lambda s: s.get("stage") == "Canary" and "stepStartedAt" in s,
        "RolledBack",
        spec={"progressDeadlineSeconds": 15, "labels": {"modelops.dev/simulate": "not-ready"}},
        message="rolled back",
    ),
    "promoting": Scenario(lambda s: s.get("stage") == "Promoting", "Promoted", replicas=8),
    "rolled-back": Scenario(
        lambda s: s.get("phase") == "RolledBack",
        "RolledBack",
        spec={"labels": {"modelops.dev/simulate": "crash-loop"}},
    ),
}


def service(name: str, version: str, scenario: Scenario, prometheus: str) -> dict[str, Any]:
    """The scenario's ModelService; only v2 gets the pod labels that make it fail."""
    spec = dict(scenario.spec)
    labels = spec.pop("labels", None)
    rollout: dict[str, Any] = {"strategy": "Canary", "steps": STEPS, **spec}
    if "analysis" in rollout:
        metric = rollout["analysis"]["metrics"][0]
        rollout["analysis"]["metrics"] = [
            {**metric, "prometheus": {**metric["prometheus"], "address": prometheus}}
        ]
    extra = {"podTemplate": {"labels": labels}} if labels and version != "1.0.0" else {}
    return model_service(name, version, replicas=scenario.replicas, rollout=rollout, **extra)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    with running_prometheus({"global": {"scrape_interval": "15s"}}, workdir) as url:
        yield url


@pytest.fixture(scope="module")
def capped(cluster: Cluster, operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The only operator while these run, with a cap of one rollout at a time."""
    with paused():
        own = OperatorProcess(cluster, "--max-concurrent-rollouts", "1")
        yield own
        own.stop()


def never_two_in_flight(trace: NamespaceTrace) -> None:
    assert max(trace.in_flight, default=0) <= 1, f"in flight per reading: {trace.in_flight}"


@pytest.mark.parametrize("state", list(SCENARIOS))
def test_killed_operator_ends_the_rollout_as_without_the_kill(
    cluster: Cluster, capped: OperatorProcess, namespace: str, prometheus: str, state: str
) -> None:
    scenario = SCENARIOS[state]
    # With a blocker, two more queued rollouts: more chances to be reconciled before it.
    queued = ["target", "target-2", "target-3"] if scenario.blocker else ["target"]
    names = [*queued, "zz-running"] if scenario.blocker else queued
    for name in names:
        cluster.apply(service(name, "1.0.0", scenario, prometheus), namespace)
    for name in names:
        wait_phase(cluster, namespace, name, "Stable", 90)
    with traced_namespace(cluster, namespace, interval=0.1) as trace:
        target = trace.traces["target"]
        if scenario.blocker:
            slow = Scenario(
                scenario.kill_when, "Promoted", spec={"steps": [STEPS[0] | {"pause": "15s"}]}
            )
            cluster.apply(service("zz-running", "2.0.0", slow, prometheus), namespace)
            wait_until(
                lambda: trace.traces["zz-running"].last.get("stage") == "Canary",
                60,
                message="the running rollout holds the slot",
            )
        for name in queued:
            cluster.apply(service(name, "2.0.0", scenario, prometheus), namespace)
        wait_until(
            lambda: scenario.kill_when(target.last),
            90,
            interval=0.05,
            message=f"state {state} (seen: {target.points})",
        )
        killed_at = dict(target.last)
        capped.restart(kill=True)
        for name in names:
            wait_until(
                lambda name=name: (
                    not trace.traces[name].last.get("stage")
                    and results_of(trace.traces[name].last, "2.0.0")
                ),
                120,
                message=f"{name} ended after the kill (seen: {trace.traces[name].points})",
            )
    final = status(cluster, namespace, "target")
    print(
        f"\n{state}: killed at {killed_at.get('stage')} step {killed_at.get('currentStep')}; "
        f"status path {target.points}"
    )
    assert results_of(final, "2.0.0") == [scenario.ends], final.get("history")
    assert scenario.message in final["message"], final["message"]
    want_stable = "2.0.0" if scenario.ends == "Promoted" else "1.0.0"
    assert final["stableVersion"] == want_stable, final
    weights = target.weights()
    assert weights == sorted(set(weights)), f"a step repeated: {target.points}"
    if scenario.ends == "Promoted":
        assert weights == [step["weight"] for step in STEPS], f"a step skipped: {target.points}"
        assert target.stages()[-1] == "Promoting", target.points
    advanced = [m for r, m in events(cluster, namespace, "target") if r == "StepAdvanced"]
    assert len(advanced) == len(set(advanced)), f"a StepAdvanced posted twice: {advanced}"
    wait_until(
        lambda: set(deployments(cluster, namespace, "target")) == {"stable"},
        30,
        message="the canary removed",
    )
    if scenario.blocker:
        never_two_in_flight(trace)
        assert any(stage in IN_FLIGHT for stage in target.stages()), target.points
