"""``gateway`` routing on the real node: every request enters a stable pod through the
Service's ClusterIP and that pod's gateway serves it or forwards it to the canary's Service.

One ModelService for the module, taken through its two steps: at each step the canary's share
over 2,000 users is within 3 points of the weight, every user sees one version throughout
(and users only move to the canary as the weight rises), the header route always reaches the
canary, and the new split is in force in the stable pod's gateway within 2 s of the status
saying so (measured on the gateway's own gauge). The second step is an A/B hold, which
ends when ``kubectl modelops promote`` says so.
"""

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.cluster.test_canary import modelops_cli
from tests.e2e.support import (
    CLIENT_HEADER,
    OPENER,
    chat_body,
    demo_service,
    error_rate_analysis,
    pods,
    service_url,
    wait_phase,
    wait_ready,
    wait_serving,
)
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status

pytestmark = pytest.mark.cluster

NAME = "ab"
USERS = [f"user-{i}" for i in range(2000)]
STICKY = USERS[:200]
GATEWAY_PORT = 9000
PROPAGATION_BOUND = 2.0
# Parallel callers: 2,000 users one after another took ~20 s of the step's pause.
CALLERS = 16


def spec(version: str) -> dict[str, Any]:
    rollout = {
        "strategy": "Canary",
        "steps": [{"weight": 20, "pause": "40s"}, {"weight": 50, "hold": True}],
        "trafficRouting": {"gateway": {"stickyHeader": "X-User-ID"}},
        "match": [{"header": "X-Model-Version", "value": "canary"}],
        "analysis": {"interval": "5s"},
        "progressDeadlineSeconds": 120,
    }
    return demo_service(NAME, version, rateLimit={"requestsPerMinute": 1000000}, rollout=rollout)


def version_for(url: str, headers: dict[str, str]) -> str:
    request = urllib.request.Request(
        f"{url}/v1/chat/completions",
        data=json.dumps(chat_body()).encode(),
        headers={"Content-Type": "application/json", CLIENT_HEADER: "traffic", **headers},
        method="POST",
    )
    with OPENER.open(request, timeout=10) as response:
        assert response.status == 200
        response.read()
        return str(response.headers.get("X-Model-Version", ""))


def versions(url: str, users: list[str]) -> dict[str, str]:
    with ThreadPoolExecutor(CALLERS) as pool:
        seen = pool.map(lambda user: version_for(url, {"X-User-ID": user}), users)
        return dict(zip(users, seen, strict=True))


def canary_share(seen: dict[str, str]) -> float:
    return 100 * sum(v == "2.0.0" for v in seen.values()) / len(seen)


def gateway_weight(pod_ip: str) -> float | None:
    with OPENER.open(f"http://{pod_ip}:{GATEWAY_PORT}/metrics", timeout=2) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("modelops_gateway_routing_canary_weight "):
                return float(line.split()[1])
    return None


def stable_pod_ips(cluster: Cluster, namespace: str) -> list[str]:
    found = pods(cluster, namespace, NAME, "stable")
    return [p["status"]["podIP"] for p in found if not p["metadata"].get("deletionTimestamp")]


def ready_canary(cluster: Cluster, namespace: str, weight: int) -> bool:
    ready = [
        p
        for p in pods(cluster, namespace, NAME, "canary")
        if all(c["ready"] for c in p["status"].get("containerStatuses") or [{"ready": 0}])
    ]
    return status(cluster, namespace, NAME).get("canaryWeight") == weight and bool(ready)


def test_exact_sticky_split_with_header_route(cluster: Cluster, namespace: str) -> None:
    cluster.apply(spec("1.0.0"), namespace)
    wait_ready(cluster, namespace, NAME)
    url = service_url(cluster, namespace, NAME)
    wait_serving(url, "traffic", "1.0.0")
    cluster.apply(spec("2.0.0"), namespace)
    wait_until(lambda: ready_canary(cluster, namespace, 20), 90, message="canary at 20%, ready")
    # The canary's Service answers once its endpoint is in kube-proxy's rules.
    wait_until(
        lambda: version_for(url, {"X-Model-Version": "canary"}) == "2.0.0",
        20,
        message="the header route reaching the canary",
    )

    at_20 = versions(url, USERS)
    assert abs(canary_share(at_20) - 20) <= 3, canary_share(at_20)
    again = versions(url, STICKY)
    assert again == {user: at_20[user] for user in STICKY}, "a user changed version"
    stable_users = [u for u in STICKY if at_20[u] == "1.0.0"][:20]
    routed = {version_for(url, {"X-User-ID": u, "X-Model-Version": "canary"}) for u in stable_users}
    assert routed == {"2.0.0"}

    # The next step: time from the status saying 50 to the stable gateway using 50.
    ips = stable_pod_ips(cluster, namespace)
    seen_status = wait_until(
        lambda: status(cluster, namespace, NAME).get("canaryWeight") == 50 and time.monotonic(),
        90,
        interval=0.1,
        message="the second step",
    )
    wait_until(
        lambda: all(gateway_weight(ip) == 50 for ip in ips),
        10,
        interval=0.05,
        message="the stable gateways at 50",
    )
    took = time.monotonic() - seen_status
    print(f"\nsplit in force in {len(ips)} stable gateway(s) {took:.2f}s after the status")
    assert took <= PROPAGATION_BOUND, took

    at_50 = versions(url, USERS)
    assert abs(canary_share(at_50) - 50) <= 3, canary_share(at_50)
    moved_back = [u for u in USERS if at_20[u] == "2.0.0" and at_50[u] != "2.0.0"]
    assert not moved_back, moved_back[:10]

    # An A/B hold: still at 50% long after any pause, until a person promotes.
    held = status(cluster, namespace, NAME)
    assert (held.get("canaryWeight"), held.get("currentStep")) == (50, 1), held
    assert "held until promoted" in held.get("message", ""), held
    modelops_cli(cluster, "promote", NAME, "-n", namespace)
    final = wait_phase(cluster, namespace, NAME, "Stable", 120)
    assert final["stableVersion"] == "2.0.0"


def test_a_failing_canary_seen_only_in_shadow_is_rolled_back(
    cluster: Cluster, namespace: str, prometheus: str
) -> None:
    """A shadow step copies every request stable answers to a canary that fails half of
    them; the ErrorRate preset (the operator's pod asking the real Prometheus) rolls it back,
    and no client ever receives a canary answer or an error."""
    name = "shadow"
    analysis = error_rate_analysis(prometheus)
    rollout = {
        "strategy": "Canary",
        "steps": [{"mirror": 100, "pause": "5m"}, {"weight": 50}],
        "trafficRouting": {"gateway": {}},
        "analysis": analysis,
        "progressDeadlineSeconds": 120,
    }
    limits = {"rateLimit": {"requestsPerMinute": 1000000}, "rollout": rollout}
    cluster.apply(demo_service(name, "1.0.0", **limits), namespace)
    wait_ready(cluster, namespace, name)
    url = service_url(cluster, namespace, name)
    wait_serving(url, "traffic", "1.0.0")
    failing = demo_service(name, "2.0.0", env={"ERROR_RATE": "0.5"}, **limits)
    cluster.apply(failing, namespace)
    answers: Counter[tuple[int, str]] = Counter()

    def rolled_back() -> bool:
        for _ in range(10):
            request = urllib.request.Request(
                f"{url}/v1/chat/completions",
                data=json.dumps(chat_body()).encode(),
                headers={"Content-Type": "application/json", CLIENT_HEADER: "traffic"},
                method="POST",
            )
            try:
                with OPENER.open(request, timeout=10) as response:
                    response.read()
                    answers[response.status, response.headers.get("X-Model-Version", "")] += 1
            except urllib.error.HTTPError as error:
                answers[error.code, error.headers.get("X-Model-Version", "")] += 1
        return status(cluster, namespace, name).get("phase") == "RolledBack"

    wait_until(rolled_back, 180, interval=0.1, message=f"{name} RolledBack ({answers})")
    entry = status(cluster, namespace, name)["history"][-1]
    assert (entry["version"], entry["result"]) == ("2.0.0", "RolledBack"), entry
    assert "error-rate" in entry["reason"], entry
    assert set(answers) == {(200, "1.0.0")}, answers
    print(f"\nshadowed canary rolled back; clients saw only {dict(answers)}")
