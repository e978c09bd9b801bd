"""Canary analysis against a real Prometheus (Debian's package) on 127.0.0.1.

The queries are PromQL constants, so the test controls the value the canary is judged by;
the HTTP API, the parsing and the decision are all real.
"""

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.test_canary import canary_service, status
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import wait_phase
from tests.support.operator import OperatorProcess
from tests.support.prometheus import running_prometheus

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    with running_prometheus({"global": {"scrape_interval": "15s"}}, workdir) as url:
        yield url


def analysed(name: str, version: str, address: str, query: str, **analysis: Any) -> dict[str, Any]:
    metric = {"name": "errors", "max": 0.05, "prometheus": {"address": address, "query": query}}
    rollout = {"analysis": {"interval": "2s", "metrics": [metric], **analysis}}
    steps = [{"weight": 25, "pause": "3s"}]
    return canary_service(name, version, steps, rollout=rollout)


def test_failing_metric_rolls_back(
    cluster: Cluster, operator: OperatorProcess, namespace: str, prometheus: str
) -> None:
    cluster.apply(analysed("bad", "1.0.0", prometheus, "vector(0.5)", failureLimit=2), namespace)
    wait_phase(cluster, namespace, "bad", "Stable", 60)
    cluster.apply(analysed("bad", "2.0.0", prometheus, "vector(0.5)", failureLimit=2), namespace)
    wait_phase(cluster, namespace, "bad", "RolledBack", 60)
    current = status(cluster, namespace, "bad")
    assert "analysis failed 2 times" in current["message"]
    assert current["analysis"]["results"][0]["value"] == 0.5
    assert current["analysis"]["results"][0]["ok"] is False
    assert current["stableVersion"] == "1.0.0"


def test_passing_metric_promotes(
    cluster: Cluster, operator: OperatorProcess, namespace: str, prometheus: str
) -> None:
    cluster.apply(analysed("good", "1.0.0", prometheus, "vector(0.01)"), namespace)
    wait_phase(cluster, namespace, "good", "Stable", 60)
    cluster.apply(analysed("good", "2.0.0", prometheus, "vector(0.01)"), namespace)
    wait_until(
        lambda: status(cluster, namespace, "good").get("stableVersion") == "2.0.0",
        60,
        message="promoted after passing analysis",
    )
    assert status(cluster, namespace, "good")["history"][-1]["result"] == "Promoted"


def test_a_metric_failing_between_runs_is_caught_by_a_sample(
    cluster: Cluster, operator: OperatorProcess, namespace: str, prometheus: str
) -> None:
    """interval 60s: after a first run that passes, the next scheduled run is a minute away.
    The query turns bad at a set time (PromQL's time()), and the sample between runs must
    bring the run forward and roll back long before that minute is up."""
    flip = time.time() + 20
    query = f"vector(0.5 * (time() > bool {flip:.0f}))"
    metric = {"name": "errors", "max": 0.05, "prometheus": {"address": prometheus, "query": query}}
    analysis = {"interval": "60s", "sampleInterval": "1s", "failureLimit": 1, "metrics": [metric]}
    steps: list[dict[str, Any]] = [{"weight": 25, "pause": "600s"}, {"weight": 50}]

    def sampled(version: str) -> dict[str, Any]:
        return canary_service("sampled", version, steps, rollout={"analysis": analysis})

    cluster.apply(sampled("1.0.0"), namespace)
    wait_phase(cluster, namespace, "sampled", "Stable", 60)
    cluster.apply(sampled("2.0.0"), namespace)

    def first_run() -> str | None:
        """When the first run was, once one passed."""
        analysis = status(cluster, namespace, "sampled").get("analysis") or {}
        results = analysis.get("results") or [{}]
        return str(analysis["lastRunAt"]) if results[0].get("ok") is True else None

    wait_until(lambda: first_run() is not None, 18, message="a first analysis run that passed")
    first = first_run()
    assert first is not None
    assert time.time() < flip, "the first run came after the flip: this run proves nothing"
    wait_phase(cluster, namespace, "sampled", "RolledBack", int(flip - time.time()) + 20)
    current = status(cluster, namespace, "sampled")
    assert "errors=0.5" in current["message"]
    assert current["stableVersion"] == "1.0.0"
    seconds = datetime.fromisoformat(current["analysis"]["lastRunAt"]) - datetime.fromisoformat(
        first
    )
    assert seconds.total_seconds() < 60, "the failing run waited for its interval"


def rollout_without_prometheus(
    cluster: Cluster, namespace: str, name: str, address: str, query: str
) -> None:
    """v1 Stable, then v2 analysed against ``address`` where no Prometheus answers: the
    rollout must pause as inconclusive."""
    cluster.apply(analysed(name, "1.0.0", address, query), namespace)
    wait_phase(cluster, namespace, name, "Stable")
    cluster.apply(analysed(name, "2.0.0", address, query), namespace)
    wait_until(
        lambda: "inconclusive" in status(cluster, namespace, name).get("message", ""),
        30,
        message="paused as inconclusive",
    )


def test_unreachable_prometheus_pauses_the_rollout(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    rollout_without_prometheus(cluster, namespace, "blind", "http://127.0.0.1:1", "vector(0)")
    current = status(cluster, namespace, "blind")
    assert current["phase"] == "Progressing"
    assert current["canaryWeight"] == 25
    assert current["analysis"]["results"][0].get("ok") is None
