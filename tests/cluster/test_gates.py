"""Webhook gates on a real control plane, asking a real HTTP receiver in this process: a
confirm-promotion that says no holds the rollout (and says so) until it says yes; a
pre-rollout that answers 5xx is retried, then fails and rolls back. One ModelService, two
rollouts."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.test_canary import event_reasons
from tests.support.cluster import Cluster, wait_until
from tests.support.moments import FirstMoment, deleted
from tests.support.msvc import status, wait_phase
from tests.support.operator import OperatorProcess
from tests.support.receiver import Receiver
from tests.support.samples import model_service

pytestmark = pytest.mark.cluster


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.stop()


def gated(version: str, url: str) -> dict[str, Any]:
    hooks = [
        {"name": "pre", "type": "pre-rollout", "url": f"{url}/pre", "retries": 2},
        {"name": "approve", "type": "confirm-promotion", "url": f"{url}/confirm"},
        {"name": "tell", "type": "post-rollout", "url": f"{url}/post"},
    ]
    rollout = {
        "strategy": "Canary",
        "steps": [{"weight": 50}],
        "analysis": {"interval": "1s"},
        "gates": {"webhooks": hooks},
    }
    return model_service("gated", version, replicas=2, rollout=rollout)


def gate(current: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in current.get("gates") or [] if g["name"] == name)


def test_webhook_gates_hold_pass_and_roll_back(
    cluster: Cluster, operator: OperatorProcess, namespace: str, receiver: Receiver
) -> None:
    cluster.apply(gated("1.0.0", receiver.url), namespace)
    wait_phase(cluster, namespace, "gated", "Stable", 60)
    assert receiver.posts == []  # no rollout, no gate

    # v2: approval says no twice, then yes.
    receiver.codes["/confirm"] = [403, 403]
    cluster.apply(gated("2.0.0", receiver.url), namespace)

    seen: list[dict[str, Any]] = []

    def held() -> bool:
        current = status(cluster, namespace, "gated")
        waiting = any(
            g["name"] == "approve" and g["phase"] == "Waiting" for g in current.get("gates") or []
        )
        if waiting:
            seen.append(current)
        return waiting

    wait_until(held, 60, interval=0.1, message="the confirmation holds the rollout")
    current = seen[0]
    assert "approve said no (HTTP 403: answer 403)" in current["message"]
    assert current["stage"] == "Canary"
    assert any(c["reason"] == "GateWaiting" for c in current["conditions"])
    wait_phase(cluster, namespace, "gated", "Stable", 60)
    done = status(cluster, namespace, "gated")
    assert done["stableVersion"] == "2.0.0"
    assert gate(done, "approve")["attempt"] == 3
    assert [code for _, code in receiver.calls("/confirm")] == [403, 403, 200]
    (pre,) = receiver.bodies("/pre")
    assert {k: pre[k] for k in ("name", "namespace", "type", "canaryVersion", "stableVersion")} == {
        "name": "gated",
        "namespace": namespace,
        "type": "pre-rollout",
        "canaryVersion": "2.0.0",
        "stableVersion": "1.0.0",
    }
    assert (pre["step"], pre["weight"]) == (1, 0)
    wait_until(lambda: len(receiver.bodies("/post")) == 1, 30, message="post-rollout called")
    assert "GateWaiting" in event_reasons(cluster, namespace, "gated")

    # v3: pre-rollout answers 503 on all three tries: a failed check, rolled back.
    receiver.always["/pre"] = 503
    canary_gone = FirstMoment(
        cluster, "deployments", namespace, "modelops.dev/track=canary", deleted
    )
    try:
        cluster.apply(gated("3.0.0", receiver.url), namespace)
        wait_phase(cluster, namespace, "gated", "RolledBack", 60)
        wait_until(lambda: canary_gone.at, 30, interval=0.1, message="the canary deleted")
    finally:
        canary_gone.stop()
    assert canary_gone.at is not None
    failed_at = receiver.calls("/pre")[-1][0]
    print(f"\nfailed webhook -> 100% on stable: {canary_gone.at - failed_at:.2f}s")
    assert not status(cluster, namespace, "gated").get("canaryWeight")
    current = status(cluster, namespace, "gated")
    assert [code for _, code in receiver.calls("/pre")][-3:] == [503, 503, 503]
    assert "webhook gate pre failed: HTTP 503: answer 503 (after 3 tries)" in current["message"]
    assert gate(current, "pre")["phase"] == "Failed"
    assert current["stableVersion"] == "2.0.0"
    reasons = event_reasons(cluster, namespace, "gated")
    assert "GateFailed" in reasons and "RolledBack" in reasons
    operator.assert_no_tracebacks()
