"""Canary rollouts of real pods: a good version promoted while the answers show the split, and
three bad ones rolled back by what really happens to them: the kubelet's CrashLoopBackOff, a
readiness probe that never passes (the progress deadline), and 500s under traffic (the
ErrorRate preset through a real Prometheus, queried by the operator's pod).

Replica-ratio routing with one stable replica: a canary step puts one canary pod beside it,
so the Service (kube-proxy picks an endpoint per connection) splits about half and half.
"""

import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from modelops.api.spec import MetricPreset
from modelops.health.presets import preset_query
from tests.e2e.support import (
    Traffic,
    chat,
    demo_service,
    deployments,
    error_rate_analysis,
    last_history,
    pods,
    promql_value,
    service_url,
    version_of,
    wait_phase,
    wait_ready,
    wait_serving,
)
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status

pytestmark = pytest.mark.cluster

CLIENT = "rollout-tests"
# Generous limits: the gateway (and its per-track metrics) sits in front of the model, and
# nothing here is refused.
OPEN_LIMITS = {"requestsPerMinute": 1000000}


def canary(
    name: str,
    version: str,
    *,
    env: dict[str, str] | None = None,
    pause: str = "60s",
    deadline: int = 120,
    analysis: dict[str, Any] | None = None,
) -> dict[str, Any]:
    rollout = {
        "strategy": "Canary",
        "steps": [{"weight": 50, "pause": pause}],
        # failureLimit stays the API's default (2): one restart alone does not roll back.
        "analysis": analysis or {"interval": "2s"},
        "progressDeadlineSeconds": deadline,
    }
    return demo_service(name, version, env=env, rateLimit=OPEN_LIMITS, rollout=rollout)


def deploy_stable(cluster: Cluster, namespace: str, name: str, **options: Any) -> str:
    """Version 1.0.0 Ready and answering through the Service; returns the Service's URL."""
    cluster.apply(canary(name, "1.0.0", **options), namespace)
    wait_ready(cluster, namespace, name)
    url = service_url(cluster, namespace, name)
    wait_serving(url, CLIENT, "1.0.0")
    return url


@pytest.fixture
def traffic() -> Iterator[list[Traffic]]:
    """Loops started with ``start(loops, url)``; every one is stopped at the end."""
    loops: list[Traffic] = []
    yield loops
    for loop in loops:
        loop.running = False


def start(loops: list[Traffic], url: str) -> Traffic:
    loop = Traffic(url, CLIENT)
    loops.append(loop)
    threading.Thread(target=loop.run, daemon=True).start()
    return loop


def stable_only(url: str, version: str, count: int = 20) -> None:
    """``count`` answers in a row, all 200 and all from ``version``."""
    answers = [chat(url, CLIENT) for _ in range(count)]
    seen = Counter((a.status, version_of(a)) for a in answers)
    assert seen == {(200, version): count}, seen


def test_good_version_promoted_and_answers_show_the_split(cluster: Cluster, namespace: str) -> None:
    name = "promo"
    url = deploy_stable(cluster, namespace, name)
    cluster.apply(canary(name, "2.0.0", pause="25s"), namespace)

    def in_step() -> bool:
        current = status(cluster, namespace, name)
        canary_pods = pods(cluster, namespace, name, "canary")
        ready = [
            p
            for p in canary_pods
            if all(c["ready"] for c in p["status"].get("containerStatuses") or [{"ready": 0}])
        ]
        return current.get("canaryWeight") == 50 and bool(ready)

    wait_until(in_step, 90, interval=0.5, message="canary at 50% with a ready pod")
    # kube-proxy adds the canary's endpoint within a second or two of the pod turning ready.
    wait_serving(url, CLIENT, "2.0.0", timeout=15)
    # Both tracks serve now: kube-proxy spreads new connections over their two pods.
    during: Counter[str] = Counter()
    for _ in range(40):
        answer = chat(url, CLIENT)
        assert answer.status == 200, (answer.status, answer.body)
        during[version_of(answer)] += 1
        time.sleep(0.05)
    assert status(cluster, namespace, name).get("canaryWeight") == 50, "the step ended early"
    total = sum(during.values())
    assert set(during) == {"1.0.0", "2.0.0"}, during
    assert 0.2 <= during["2.0.0"] / total <= 0.8, during

    final = wait_phase(cluster, namespace, name, "Stable", 90)
    assert final["stableVersion"] == "2.0.0"
    entry = last_history(cluster, namespace, name)
    assert (entry["version"], entry["result"]) == ("2.0.0", "Promoted"), entry
    wait_until(
        lambda: set(deployments(cluster, namespace, name)) == {"stable"}, 60, message="no canary"
    )
    wait_serving(url, CLIENT, "2.0.0")
    # Old pods may still be draining for a moment after the canary goes.
    wait_until(
        lambda: (
            {
                p["metadata"]["labels"]["app.kubernetes.io/version"]
                for p in pods(cluster, namespace, name)
                if not p["metadata"].get("deletionTimestamp")
            }
            == {"2.0.0"}
        ),
        60,
        message="only 2.0.0 pods",
    )
    time.sleep(2)  # kube-proxy drops the removed endpoints
    stable_only(url, "2.0.0")


def test_crash_on_start_is_rolled_back(cluster: Cluster, namespace: str) -> None:
    name = "crashy"
    url = deploy_stable(cluster, namespace, name)
    applied = time.monotonic()
    cluster.apply(canary(name, "2.0.0", env={"CRASH_ON_START": "1"}), namespace)
    wait_phase(cluster, namespace, name, "RolledBack", 90)
    took = time.monotonic() - applied
    entry = last_history(cluster, namespace, name)
    assert (entry["version"], entry["result"]) == ("2.0.0", "RolledBack"), entry
    # The kubelet's own waiting reason, read from the real pod's status.
    assert "CrashLoopBackOff" in entry["reason"], entry
    print(f"\ncrash-looping canary rolled back {took:.1f}s after the apply")
    wait_until(
        lambda: "canary" not in deployments(cluster, namespace, name), 60, message="no canary"
    )
    assert status(cluster, namespace, name)["stableVersion"] == "1.0.0"
    stable_only(url, "1.0.0")


TIMESTAMP_RESOLUTION = 1.0


def test_failing_readiness_is_rolled_back_at_the_deadline(cluster: Cluster, namespace: str) -> None:
    name = "unready"
    deadline = 15
    url = deploy_stable(cluster, namespace, name, deadline=deadline)
    applied = time.monotonic()
    cluster.apply(canary(name, "2.0.0", env={"FAIL_READINESS": "1"}, deadline=deadline), namespace)
    # Running but never ready: the Service never sends it a request meanwhile.
    wait_until(
        lambda: any(
            p["status"].get("phase") == "Running" for p in pods(cluster, namespace, name, "canary")
        ),
        60,
        message="the canary pod running",
    )
    stable_only(url, "1.0.0", count=10)
    wait_phase(cluster, namespace, name, "RolledBack", deadline + 60)
    took = time.monotonic() - applied
    # Status times have one-second resolution (RFC 3339 without fractions): the rollout's start
    # is recorded up to a second early, so "at the deadline" means no earlier than deadline - 1.
    earliest = deadline - TIMESTAMP_RESOLUTION
    assert took >= earliest, f"rolled back after {took:.1f}s, before the {deadline}s deadline"
    entry = last_history(cluster, namespace, name)
    assert (entry["version"], entry["result"]) == ("2.0.0", "RolledBack"), entry
    assert re.search(r"progress deadline|not ready within", entry["reason"]), entry
    wait_until(
        lambda: "canary" not in deployments(cluster, namespace, name), 60, message="no canary"
    )
    stable_only(url, "1.0.0")


def test_error_rate_under_traffic_is_rolled_back_through_prometheus(
    cluster: Cluster, namespace: str, prometheus: str, traffic: list[Traffic]
) -> None:
    """The operator's pod asks the Prometheus on the node link for the ErrorRate preset of the
    canary, whose model answers half its requests with 500s."""
    name = "flaky"
    analysis = error_rate_analysis(prometheus)
    url = deploy_stable(cluster, namespace, name, analysis=analysis)
    loop = start(traffic, url)
    cluster.apply(canary(name, "2.0.0", env={"ERROR_RATE": "0.5"}, analysis=analysis), namespace)
    # What the operator sees, seen here too: the canary's error rate in Prometheus.
    query = preset_query(MetricPreset.ERROR_RATE, namespace, name, track="canary")
    rates: list[float] = []

    def rolled_back() -> bool:
        rate = promql_value(prometheus, query)
        if rate is not None and not math.isnan(rate):  # NaN: no canary requests yet
            rates.append(rate)
        return status(cluster, namespace, name).get("phase") == "RolledBack"

    wait_until(rolled_back, 120, interval=1, message=f"{name} RolledBack (error rates {rates})")
    entry = last_history(cluster, namespace, name)
    assert (entry["version"], entry["result"]) == ("2.0.0", "RolledBack"), entry
    assert "error-rate" in entry["reason"], entry
    assert rates and max(rates) > 0.2, (query, rates)
    seen = Counter((code, version) for _, code, version in loop.answers)
    assert any(code >= 500 for code, _ in seen), seen
    assert not any(code >= 500 and version == "1.0.0" for code, version in seen), seen
    wait_until(
        lambda: "canary" not in deployments(cluster, namespace, name), 60, message="no canary"
    )
    loop.running = False
    time.sleep(2)  # kube-proxy drops the removed endpoint
    stable_only(url, "1.0.0")
