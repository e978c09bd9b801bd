"""Baseline comparison on the real node: the canary's error rate against stable's, both
measured by the gateways in front of real demo-model pods and scraped by the real Prometheus,
asked by the operator's pod. Stable fails 1% of its requests; a canary failing 1% too is
promoted, one failing 20% is rolled back.

One ModelService, the healthy canary first: a rolled-back canary's series stay in the window
for its length, and would count against the next canary; a promoted one's are healthy.
"""

import threading
from typing import Any

import pytest

from tests.e2e.support import (
    Traffic,
    demo_service,
    last_history,
    service_url,
    wait_phase,
    wait_ready,
    wait_serving,
)
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status

pytestmark = pytest.mark.cluster

NAME = "compared"
CLIENT = "baseline-tests"
STABLE_ERRORS = "0.01"


def baseline_analysis(prometheus: str) -> dict[str, Any]:
    """Canary errors at most 1.2x stable's plus 5 points over 20 s, each track with at least
    40 requests in it: a 1% canary beside a 1% stable passes (40 requests hold 0 or 1 errors
    most of the time, and 5 points would take 2 or more more than stable), a 20% one fails."""
    return {
        "interval": "3s",
        "failureLimit": 2,
        "metrics": [
            {
                "name": "errors-vs-stable",
                "preset": "ErrorRate",
                "prometheus": {"address": prometheus},
                "baseline": {"maxRatio": 1.2, "margin": 0.05, "minSamples": 40, "window": "20s"},
            }
        ],
    }


def service(version: str, error_rate: str, prometheus: str) -> dict[str, Any]:
    rollout = {
        "strategy": "Canary",
        "steps": [{"weight": 50, "pause": "20s"}],
        "analysis": baseline_analysis(prometheus),
        "progressDeadlineSeconds": 120,
    }
    return demo_service(
        NAME,
        version,
        env={"ERROR_RATE": error_rate},
        rateLimit={"requestsPerMinute": 1000000},
        rollout=rollout,
    )


def results(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    analysis = status(cluster, namespace, NAME).get("analysis") or {}
    found: list[dict[str, Any]] = analysis.get("results") or []
    return found


def test_a_canary_is_judged_against_stable(
    cluster: Cluster, namespace: str, prometheus: str
) -> None:
    cluster.apply(service("1.0.0", STABLE_ERRORS, prometheus), namespace)
    wait_ready(cluster, namespace, NAME)
    url = service_url(cluster, namespace, NAME)
    wait_serving(url, CLIENT, "1.0.0")
    loop = Traffic(url, CLIENT)
    threading.Thread(target=loop.run, daemon=True).start()
    try:
        judged(cluster, namespace, prometheus, loop)
    finally:
        loop.running = False


def judged(cluster: Cluster, namespace: str, prometheus: str, loop: Traffic) -> None:
    """2.0.0 as healthy as stable, then 3.0.0 failing 20%, under ``loop``'s traffic."""
    # As healthy as stable: compared, passed, promoted.
    cluster.apply(service("2.0.0", STABLE_ERRORS, prometheus), namespace)
    passed: list[dict[str, Any]] = []

    def promoted() -> bool:
        passed.extend(r for r in results(cluster, namespace) if r.get("ok") is True)
        return status(cluster, namespace, NAME).get("stableVersion") == "2.0.0"

    wait_until(promoted, 150, interval=1, message=f"2.0.0 promoted ({results(cluster, namespace)})")
    entry = last_history(cluster, namespace, NAME)
    assert (entry["version"], entry["result"]) == ("2.0.0", "Promoted"), entry
    assert passed, "no analysis run compared the tracks and passed"
    assert all("baseline" in r and "within stable's bounds" in r["message"] for r in passed)
    wait_phase(cluster, namespace, NAME, "Stable", 90)

    # Twenty times stable's errors: rolled back, the reason naming stable's bound.
    cluster.apply(service("3.0.0", "0.2", prometheus), namespace)
    wait_phase(cluster, namespace, NAME, "RolledBack", 150)
    entry = last_history(cluster, namespace, NAME)
    assert (entry["version"], entry["result"]) == ("3.0.0", "RolledBack"), entry
    assert "errors-vs-stable" in entry["reason"] and "above stable" in entry["reason"], entry
    codes = [code for _, code, version in loop.answers if version == "3.0.0"]
    assert codes.count(500) >= 2, codes
