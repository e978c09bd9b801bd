"""A Job gate on the real node: the sample's golden-prompt evaluation (``modelops evaluate``
in the project's image, run by the chart's operator as a Job) asks a canary that answers 500s,
fails, and the rollout is rolled back with the tail of the Job's log in status; the Job is
deleted and stable keeps answering."""

import json
import os
import subprocess
import threading
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
    deployments,
    service_url,
    version_of,
    wait_phase,
    wait_ready,
    wait_serving,
)
from tests.support.cluster import REPO, Cluster, kubectl_binary, wait_until
from tests.support.msvc import status

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


class JobFailure:
    """When the Job controller counted the gate's pod failed, seen through a watch (the
    operator deletes the Job within about a second of that: polling could miss it)."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.at: float | None = None
        self.process = subprocess.Popen(
            [
                *(kubectl_binary(), "get", "jobs", "-n", namespace),
                *("-l", f"modelops.dev/gate={GATE}", "--watch"),
                *("-o", 'jsonpath={.status.failed}{"\\n"}'),
            ],
            env={**os.environ, "KUBECONFIG": cluster.kubeconfig},
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip() == "1" and self.at is None:
                self.at = time.monotonic()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def test_a_failing_job_gate_rolls_back_with_its_log(cluster: Cluster, namespace: str) -> None:
    cluster.apply(gated("1.0.0"), namespace)
    wait_ready(cluster, namespace, "gated")
    url = service_url(cluster, namespace, "gated")
    wait_serving(url, "e2e", "1.0.0")

    watch = JobFailure(cluster, namespace)
    cluster.apply(gated("2.0.0", env={"ERROR_RATE": "1"}), namespace)

    def on_stable() -> bool:
        current = status(cluster, namespace, "gated")
        return current.get("phase") == "RolledBack" and "canary" not in deployments(
            cluster, namespace, "gated"
        )

    try:
        wait_until(on_stable, 120, interval=0.1, message="rolled back, canary gone")
        done = time.monotonic()
    finally:
        watch.stop()
    assert watch.at is not None, "the Job's failure was never seen"
    print(f"\nfailed Job gate -> 100% on stable: {done - watch.at:.2f}s")
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
    answers = [chat(url, "e2e") for _ in range(10)]
    assert {(a.status, version_of(a)) for a in answers} == {(200, "1.0.0")}, json.dumps(
        [a.status for a in answers]
    )
