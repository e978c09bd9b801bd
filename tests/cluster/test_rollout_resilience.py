"""Rollouts that survive trouble: an operator SIGKILLed mid-step, a new version mid-rollout,
Prometheus down and back, and stable serving all along.

Everything a rollout needs is in the ModelService status, so each scenario checks the status
the operator writes (and its Events) rather than the operator's memory.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.cluster.test_analysis import rollout_without_prometheus
from tests.cluster.test_canary import (
    canary_service,
    deploy_stable,
    deployments,
    image,
    modelops_cli,
    status,
)
from tests.support.cluster import Cluster, wait_until
from tests.support.faults import events
from tests.support.operator import OperatorProcess
from tests.support.processes import free_port
from tests.support.prometheus import running_prometheus

pytestmark = pytest.mark.cluster

REPLICAS = 4  # canary_service's spec.replicas


def track_image(cluster: Cluster, namespace: str, name: str, track: str) -> str | None:
    found = deployments(cluster, namespace, name).get(track)
    return image(found) if found else None


def promoted_entries(current: dict[str, Any], version: str) -> int:
    return sum(
        1
        for h in current.get("history") or []
        if h["version"] == version and h["result"] == "Promoted"
    )


@contextmanager
def watching_stable(cluster: Cluster, namespace: str, name: str) -> Iterator[list[tuple[int, str]]]:
    """Polls the stable Deployment every ~0.2 s while the block runs (the Python client: a
    kubectl call takes longer than that); yields its (readyReplicas, image) readings."""
    apps = client.AppsV1Api(config.new_client_from_config(config_file=cluster.kubeconfig))
    readings: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def poll() -> None:
        try:
            while not done.is_set():
                found = apps.read_namespaced_deployment(
                    f"{name}-stable", namespace, _request_timeout=5
                )
                container = found.spec.template.spec.containers[0]
                readings.append((int(found.status.ready_replicas or 0), str(container.image)))
                done.wait(0.2)
        except BaseException as error:  # surfaced in the test's thread
            errors.append(error)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield readings
    finally:
        done.set()
        thread.join(timeout=10)
    assert not errors, errors
    assert not thread.is_alive(), "the stable poller hung"


def stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def test_operator_killed_during_step_two_resumes_there(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    steps = [
        {"weight": 25, "pause": "3s"},
        {"weight": 50, "pause": "20s"},
        {"weight": 75, "pause": "3s"},
    ]
    deploy_stable(cluster, namespace, "phoenix", steps)
    with watching_stable(cluster, namespace, "phoenix") as ready:
        cluster.apply(canary_service("phoenix", "2.0.0", steps), namespace)
        at_step_two = wait_until(
            lambda: (
                (s := status(cluster, namespace, "phoenix")).get("currentStep") == 1
                and "stepReadyAt" in s
                and s
            ),
            60,
            interval=0.2,
            message="step 2, canary ready",
        )
        assert at_step_two["canaryWeight"] == 50
        # Well into the 20 s pause, so that a pause restarted from zero would show.
        time.sleep(6)

        operator.restart(kill=True)

        seen: list[dict[str, Any]] = []

        def promoted() -> bool:
            current = status(cluster, namespace, "phoenix")
            seen.append(current)
            return current.get("phase") == "Stable" and current.get("stableVersion") == "2.0.0"

        wait_until(promoted, 90, interval=0.2, message="2.0.0 promoted after the restart")
    steps_seen = [s.get("currentStep") for s in seen]
    assert steps_seen[0] == 1, f"the restart did not land in step 2: {steps_seen}"
    assert all(step is None or step >= 1 for step in steps_seen), steps_seen
    for current in seen:
        if current.get("currentStep") == 1:
            for key in ("stepStartedAt", "stepReadyAt", "canaryWeight"):
                assert current.get(key) == at_step_two[key], (key, current)
    step_three = next((s for s in seen if s.get("currentStep") == 2), None)
    assert step_three is not None, f"step 3 was skipped: {steps_seen}"
    # The pause counts from the canary's readiness before the kill, not from the restart.
    paused = stamp(step_three["stepStartedAt"]) - stamp(at_step_two["stepReadyAt"])
    assert 19 <= paused.total_seconds() <= 23, paused

    final = status(cluster, namespace, "phoenix")
    assert promoted_entries(final, "2.0.0") == 1, final["history"]
    advanced = [
        m for reason, m in events(cluster, namespace, "phoenix") if reason == "StepAdvanced"
    ]
    assert advanced.count("step 2/3: 50% to canary") == 1, advanced
    assert advanced.count("step 3/3: 75% to canary") == 1, advanced
    assert_stable_served(ready, "1.0.0", "2.0.0")
    operator.assert_no_tracebacks()


def assert_stable_served(readings: list[tuple[int, str]], before: str, after: str) -> None:
    """The poller saw stable before and after its roll, never short of ready replicas."""
    images = {f"registry.invalid/demo:{version}" for version in (before, after)}
    assert {i for _, i in readings} == images, readings
    short = [(n, i) for n, i in readings if n < REPLICAS]
    assert not short, f"readyReplicas < {REPLICAS} in {len(short)}/{len(readings)}: {readings}"


def test_new_version_mid_rollout_supersedes_the_canary(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    steps = [{"weight": 25, "pause": "10m"}]
    deploy_stable(cluster, namespace, "leapfrog", steps)
    with watching_stable(cluster, namespace, "leapfrog") as ready:
        cluster.apply(canary_service("leapfrog", "2.0.0", steps), namespace)
        wait_until(
            lambda: (
                status(cluster, namespace, "leapfrog").get("canaryVersion") == "2.0.0"
                and "canary" in deployments(cluster, namespace, "leapfrog")
            ),
            30,
            message="canary 2.0.0",
        )
        cluster.apply(canary_service("leapfrog", "3.0.0", steps), namespace)
        wait_until(
            lambda: status(cluster, namespace, "leapfrog").get("canaryVersion") == "3.0.0",
            30,
            message="canary 3.0.0 in status",
        )
        wait_until(
            lambda: (
                track_image(cluster, namespace, "leapfrog", "canary")
                == "registry.invalid/demo:3.0.0"
            ),
            30,
            message="canary Deployment on 3.0.0",
        )
        started = [
            m for reason, m in events(cluster, namespace, "leapfrog") if reason == "RolloutStarted"
        ]
        assert any(m.startswith("canary 3.0.0 ") for m in started), started

        modelops_cli(cluster, "promote", "leapfrog", "-n", namespace)
        wait_until(
            lambda: (
                status(cluster, namespace, "leapfrog").get("phase") == "Stable"
                and status(cluster, namespace, "leapfrog").get("stableVersion") == "3.0.0"
            ),
            60,
            message="3.0.0 promoted",
        )
        wait_until(
            lambda: set(deployments(cluster, namespace, "leapfrog")) == {"stable"},
            30,
            message="canary removed",
        )
    assert track_image(cluster, namespace, "leapfrog", "stable") == "registry.invalid/demo:3.0.0"
    final = status(cluster, namespace, "leapfrog")
    assert promoted_entries(final, "3.0.0") == 1, final["history"]
    assert promoted_entries(final, "2.0.0") == 0, final["history"]
    assert_stable_served(ready, "1.0.0", "3.0.0")


def test_prometheus_down_pauses_then_back_resumes(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens here until Prometheus starts on it below
    address = f"http://127.0.0.1:{port}"
    rollout_without_prometheus(cluster, namespace, "blink", address, "vector(0.01)")
    # Paused: past the 3 s pause and two 2 s intervals, still on the canary step.
    time.sleep(5)
    current = status(cluster, namespace, "blink")
    assert current["phase"] == "Progressing", current
    assert "inconclusive" in current["message"], current
    assert current["canaryWeight"] == 25 and current["stableVersion"] == "1.0.0", current

    with running_prometheus({"global": {"scrape_interval": "15s"}}, tmp_path, port=port):
        wait_until(
            lambda: status(cluster, namespace, "blink").get("stableVersion") == "2.0.0",
            60,
            message="promoted once Prometheus answers",
        )
    final = status(cluster, namespace, "blink")
    assert final["phase"] == "Stable", final
    assert final["history"][-1]["result"] == "Promoted", final["history"]
