"""A Job gate on the real node: the sample's golden-prompt evaluation (``modelops evaluate``
in the project's image, run by the chart's operator as a Job) asks a canary that answers 500s,
fails, and the rollout is rolled back with the tail of the Job's log in status; the Job is
deleted and stable keeps answering."""

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.support import (
    ON_REAL_NODE,
    OPERATOR_IMAGE,
    chat,
    demo_service,
    pods,
    service_url,
    version_of,
    wait_phase,
    wait_ready,
    wait_serving,
)
from tests.support.cluster import REPO, Cluster, wait_until
from tests.support.moments import FirstMoment, deleted, job_failed

pytestmark = pytest.mark.cluster

SAMPLE = REPO / "manifests" / "samples" / "golden-prompt-gate.yaml"
GATE = "golden-prompts"


def golden_gate() -> dict[str, Any]:
    """The sample's gate, with the e2e images and placement."""
    gate: dict[str, Any] = yaml.safe_load(Path(SAMPLE).read_text())["spec"]["rollout"]["gates"][
        "jobs"
    ][0]
    pod = gate["template"]["spec"]
    pod.update(ON_REAL_NODE)
    pod["containers"][0]["image"] = OPERATOR_IMAGE
    return gate


def gated(version: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    rollout = {
        "strategy": "Canary",
        "steps": [{"weight": 50, "pause": "60s"}],
        "analysis": {"interval": "2s"},
        "progressDeadlineSeconds": 120,
        "gates": {"jobs": [golden_gate()]},
    }
    return demo_service("gated", version, env=env, rollout=rollout)


def test_a_failing_job_gate_rolls_back_with_its_log(cluster: Cluster, namespace: str) -> None:
    cluster.apply(gated("1.0.0"), namespace)
    wait_ready(cluster, namespace, "gated")
    url = service_url(cluster, namespace, "gated")
    wait_serving(url, "e2e", "1.0.0")

    job = FirstMoment(cluster, "jobs", namespace, f"modelops.dev/gate={GATE}", job_failed)
    canary_gone = FirstMoment(
        cluster, "deployments", namespace, "modelops.dev/track=canary", deleted
    )
    cluster.apply(gated("2.0.0", env={"ERROR_RATE": "1"}), namespace)
    try:
        wait_until(lambda: canary_gone.at, 120, interval=0.1, message="the canary deleted")
    finally:
        job.stop()
        canary_gone.stop()
    assert job.at is not None and canary_gone.at is not None, "the Job's failure was not seen"
    # The rollback is in force once the canary's Deployment is gone (weight 0 before that).
    print(f"\nfailed Job gate -> 100% on stable: {canary_gone.at - job.at:.2f}s")
    current = wait_phase(cluster, namespace, "gated", "RolledBack", 5)
    message = current["message"]
    assert f"job gate {GATE} failed" in message, message
    # The log's tail: the evaluation's own lines, read from the Job's pod.
    assert "FAIL 3/3" in message and "HTTP 500" in message, message
    assert "failed: 0/3 cases" in message, message
    record = next(g for g in current["gates"] if g["name"] == GATE)
    assert (record["kind"], record["point"], record["phase"]) == ("Job", "step-1", "Failed")
    assert current["stableVersion"] == "1.0.0"
    wait_until(
        lambda: not cluster.get("jobs", "-n", namespace)["items"], 30, message="the Job deleted"
    )
    # The canary's pod goes away without a preStop delay: asked only once it is gone and
    # kube-proxy dropped its endpoint.
    wait_until(lambda: not pods(cluster, namespace, "gated", "canary"), 60, message="no canary pod")
    time.sleep(2)
    answers = [chat(url, "e2e") for _ in range(10)]
    assert {(a.status, version_of(a)) for a in answers} == {(200, "1.0.0")}, json.dumps(
        [a.status for a in answers]
    )
