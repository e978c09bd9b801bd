"""Canary rollouts on a real control plane: steps, promotion, automatic rollback.

KWOK makes the failing versions fail for real: their pods carry modelops.dev/simulate.
"""

import time
from typing import Any

import pytest

from modelops.render.meta import LABEL_INSTANCE, LABEL_TRACK
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status, wait_phase
from tests.support.operator import OperatorProcess
from tests.support.samples import model_service

pytestmark = pytest.mark.cluster


def canary_service(
    name: str, version: str, steps: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    rollout = {"strategy": "Canary", "steps": steps, **extra.pop("rollout", {})}
    return model_service(name, version, replicas=4, rollout=rollout, **extra)


def deployments(cluster: Cluster, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    items = cluster.get("deployment", "-n", namespace, "-l", f"{LABEL_INSTANCE}={name}")["items"]
    return {d["metadata"]["labels"][LABEL_TRACK]: d for d in items}


def image(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def event_reasons(cluster: Cluster, namespace: str, name: str) -> list[str]:
    events = cluster.get(
        "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )
    ordered = sorted(
        events["items"], key=lambda e: e.get("lastTimestamp") or e["metadata"]["creationTimestamp"]
    )
    return [e["reason"] for e in ordered]


def deploy_stable(cluster: Cluster, namespace: str, name: str, steps: list[dict[str, Any]]) -> None:
    cluster.apply(canary_service(name, "1.0.0", steps), namespace)
    wait_phase(cluster, namespace, name, "Stable", 60)


def test_canary_steps_then_promotion(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    steps = [{"weight": 25, "pause": "2s"}, {"weight": 50, "pause": "2s"}]
    deploy_stable(cluster, namespace, "promo", steps)
    assert set(deployments(cluster, namespace, "promo")) == {"stable"}
    cluster.apply(canary_service("promo", "2.0.0", steps), namespace)

    seen_weights: set[int] = set()
    canary_replicas: set[int] = set()

    def promoted() -> bool:
        # Deployments first: a stable already on 2.0.0 must then be seen as Promoting or done.
        found = deployments(cluster, namespace, "promo")
        current = status(cluster, namespace, "promo")
        seen_weights.add(int(current.get("canaryWeight") or 0))
        if "canary" in found:
            canary_replicas.add(int(found["canary"]["spec"]["replicas"]))
            assert (
                image(found["stable"]) == "registry.invalid/demo:1.0.0"
                or current.get("stage") == "Promoting"
                or current.get("phase") == "Stable"
            )
        return current.get("phase") == "Stable" and current.get("stableVersion") == "2.0.0"

    wait_until(promoted, 120, interval=0.2, message="2.0.0 promoted")
    assert {25, 50} <= seen_weights
    assert canary_replicas <= {1, 2} and 1 in canary_replicas  # ceil(4 x 25%), ceil(4 x 50%)
    final = status(cluster, namespace, "promo")
    assert final.get("canaryWeight") in (None, 0)
    assert "canaryVersion" not in final
    assert [(h["version"], h["result"]) for h in final["history"]][-1] == ("2.0.0", "Promoted")
    wait_until(
        lambda: set(deployments(cluster, namespace, "promo")) == {"stable"},
        30,
        message="canary removed",
    )
    assert (
        image(deployments(cluster, namespace, "promo")["stable"]) == "registry.invalid/demo:2.0.0"
    )
    reasons = event_reasons(cluster, namespace, "promo")
    for reason in ("RolloutStarted", "StepAdvanced", "Promoting", "Promoted"):
        assert reason in reasons, reasons


def stable_pods(cluster: Cluster, namespace: str, name: str) -> set[str]:
    pods = cluster.get(
        "pods", "-n", namespace, "-l", f"{LABEL_INSTANCE}={name},{LABEL_TRACK}=stable"
    )
    return {p["metadata"]["name"] for p in pods["items"]}


def test_crash_looping_canary_is_rolled_back(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    steps = [{"weight": 25, "pause": "60s"}, {"weight": 50, "pause": "60s"}]
    deploy_stable(cluster, namespace, "crashy", steps)
    before = stable_pods(cluster, namespace, "crashy")
    broken = canary_service(
        "crashy", "2.0.0", steps, podTemplate={"labels": {"modelops.dev/simulate": "crash-loop"}}
    )
    # Timed from the apply: KWOK fails the pods so fast that the canary can be created and
    # rolled back between two polls of this test.
    applied = time.monotonic()
    cluster.apply(broken, namespace)
    wait_phase(cluster, namespace, "crashy", "RolledBack", 60)
    took = time.monotonic() - applied
    wait_until(
        lambda: "canary" not in deployments(cluster, namespace, "crashy"),
        15,
        message="canary removed",
    )
    current = status(cluster, namespace, "crashy")
    assert "CrashLoopBackOff" in current["message"]
    assert current["canaryWeight"] == 0
    assert current["stableVersion"] == "1.0.0"
    assert current["history"][-1]["result"] == "RolledBack"
    conditions = {c["type"]: c for c in current["conditions"]}
    # Stable serves, so the service is Ready; the spec's version does not run: not UpToDate.
    assert conditions["Ready"]["status"] == "True"
    assert conditions["UpToDate"]["status"] == "False"
    assert conditions["UpToDate"]["reason"] == "RolledBack"
    assert (
        conditions["Degraded"]["status"] == "True"
        and conditions["Degraded"]["reason"] == "RolledBack"
    )
    assert (
        image(deployments(cluster, namespace, "crashy")["stable"]) == "registry.invalid/demo:1.0.0"
    )
    assert stable_pods(cluster, namespace, "crashy") == before, "stable was disturbed"
    assert "RolledBack" in event_reasons(cluster, namespace, "crashy")
    # Detected from pod events, not at the end of a pause or a deadline.
    assert took < 15, f"rollback took {took:.1f}s"
    # Not retried while the spec still asks for the failed version.
    time.sleep(3)
    assert "canary" not in deployments(cluster, namespace, "crashy")
    assert status(cluster, namespace, "crashy")["phase"] == "RolledBack"


def test_never_ready_canary_is_rolled_back_at_the_deadline(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    steps = [{"weight": 25, "pause": "60s"}]
    rollout = {"progressDeadlineSeconds": 10}
    cluster.apply(canary_service("slow", "1.0.0", steps, rollout=rollout), namespace)
    wait_phase(cluster, namespace, "slow", "Stable", 60)
    stuck = canary_service(
        "slow",
        "2.0.0",
        steps,
        rollout=rollout,
        podTemplate={"labels": {"modelops.dev/simulate": "not-ready"}},
    )
    cluster.apply(stuck, namespace)
    wait_phase(cluster, namespace, "slow", "Progressing", 30)
    wait_phase(cluster, namespace, "slow", "RolledBack", 40)
    assert "10s" in status(cluster, namespace, "slow")["message"]
    wait_until(
        lambda: "canary" not in deployments(cluster, namespace, "slow"),
        15,
        message="canary removed",
    )


def modelops_cli(cluster: Cluster, *args: str) -> str:
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    result = subprocess.run(
        [sys.executable, "-m", "modelops.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "KUBECONFIG": cluster.kubeconfig},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_promote_and_abort_on_request(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    steps = [{"weight": 25, "pause": "10m"}, {"weight": 50, "pause": "10m"}]
    for name in ("manual-up", "manual-down"):
        deploy_stable(cluster, namespace, name, steps)
        cluster.apply(canary_service(name, "2.0.0", steps), namespace)
    for name in ("manual-up", "manual-down"):
        wait_until(
            lambda n=name: (
                status(cluster, namespace, n).get("canaryWeight") == 25
                and "canary" in deployments(cluster, namespace, n)
            ),
            30,
            message="canary at 25%",
        )
    shown = modelops_cli(cluster, "status", "manual-up", "-n", namespace)
    assert "Progressing" in shown and "canary   2.0.0  weight 25%  step 1/2" in shown, shown

    modelops_cli(cluster, "pause", "manual-up", "-n", namespace)
    wait_until(
        lambda: "paused" in status(cluster, namespace, "manual-up").get("message", ""),
        20,
        message="paused on request",
    )
    modelops_cli(cluster, "resume", "manual-up", "-n", namespace)
    wait_until(
        lambda: "paused" not in status(cluster, namespace, "manual-up").get("message", ""),
        20,
        message="resumed on request",
    )
    modelops_cli(cluster, "promote", "manual-up", "-n", namespace)
    modelops_cli(cluster, "abort", "manual-down", "-n", namespace)
    wait_until(
        lambda: status(cluster, namespace, "manual-up").get("stableVersion") == "2.0.0",
        60,
        message="promoted on request",
    )
    wait_phase(cluster, namespace, "manual-down", "RolledBack", 30)
    assert "aborted by request" in status(cluster, namespace, "manual-down")["message"]
    assert status(cluster, namespace, "manual-up")["history"][-1]["result"] == "Promoted"
