"""Rollout notifications to a real HTTP receiver in this process, from the real operator
(``modelops run --notify``, the URL in a file as a mounted Secret gives it) and from a
ModelService's ConfigMap; KWOK runs the pods. Every notification must match an Event of the
ModelService, reason and message; the delay from the Event's time to receipt is printed."""

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from modelops.notify.receivers import NOTIFIED
from tests.cluster.test_canary import canary_service, modelops_cli
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status, wait_phase
from tests.support.operator import OperatorProcess, install_crd, metric_total, paused
from tests.support.receiver import Receiver, receiving

pytestmark = pytest.mark.cluster

NAME = "announced"
STEPS = [{"weight": 25, "pause": "1s"}, {"weight": 50, "pause": "1s"}]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


@pytest.fixture
def notifying(cluster: Cluster, receiver: Receiver, tmp_path: Path) -> Iterator[OperatorProcess]:
    """The only operator while the test runs, telling receiver ``ops`` everything (JSON)."""
    (tmp_path / "ops").write_text(f"{receiver.url}/ops\n")
    install_crd(cluster)
    with paused():
        own = OperatorProcess(cluster, "--notify", "ops", "--notify-url-dir", str(tmp_path))
        try:
            yield own
        finally:
            own.stop()


def events(cluster: Cluster, namespace: str) -> list[tuple[str, str]]:
    found = cluster.get(
        "events", "-n", namespace, "--field-selector", f"involvedObject.name={NAME}"
    )
    return [(e["reason"], e["message"]) for e in found["items"]]


def test_rollout_milestones_reach_the_receivers(
    cluster: Cluster, namespace: str, notifying: OperatorProcess, receiver: Receiver
) -> None:
    hooks = f"- {{name: team, url: '{receiver.url}/team', format: slack, events: [RolledBack]}}"
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "hooks"},
            "data": {"receivers.yaml": hooks},
        },
        namespace,
    )
    told = {"notifications": {"configMap": "hooks"}}
    cluster.apply(canary_service(NAME, "1.0.0", STEPS, rollout=told), namespace)
    wait_phase(cluster, namespace, NAME, "Stable", 60)
    cluster.apply(canary_service(NAME, "2.0.0", STEPS, rollout=told), namespace)
    wait_until(
        lambda: status(cluster, namespace, NAME).get("stableVersion") == "2.0.0",
        60,
        message="2.0.0 promoted",
    )
    paused_at_step = {**told, "steps": [{"weight": 25, "pause": "10m"}]}
    held = canary_service(NAME, "3.0.0", [], rollout=paused_at_step)
    held["spec"]["paused"] = True
    cluster.apply(held, namespace)
    wait_until(
        lambda: "Paused" in [kind for kind, _ in kinds(receiver, "/ops")],
        60,
        message=f"Paused received ({receiver.received})",
    )
    modelops_cli(cluster, "abort", NAME, "-n", namespace)
    wait_phase(cluster, namespace, NAME, "RolledBack", 30)
    wait_until(lambda: len(receiver.delivered("/team")) == 1, 30, message="the rollback to team")

    ops = receiver.delivered("/ops")
    assert [(b["kind"], b["version"]) for b in ops] == [
        ("Started", "2.0.0"),
        ("StepAdvanced", "2.0.0"),
        ("Promoted", "2.0.0"),
        ("Started", "3.0.0"),
        ("Paused", "3.0.0"),
        ("RolledBack", "3.0.0"),
    ], ops
    assert ops[1]["step"] == 2 and ops[1]["canaryWeight"] == 50
    [team] = receiver.delivered("/team")
    assert team["text"].startswith(f":rotating_light: *{namespace}/{NAME}* RolledBack: ")
    # Every notification is one of the ModelService's Events, word for word.
    posted = events(cluster, namespace)
    reasons = {kind: reason for reason, kind in NOTIFIED.items()}
    for body in ops:
        assert (reasons[body["kind"]], body["message"]) in posted, (body, posted)
    assert metric_total(notifying.metrics(), "modelops_notifications_total") == 7
    delays = [
        got.at - datetime.fromisoformat(got.body["time"]).timestamp()
        for got in receiver.received
        if got.path == "/ops"
    ]
    print(f"\nnotification delays, Event time to receipt (s): {[round(d, 4) for d in delays]}")


def kinds(receiver: Receiver, path: str) -> list[tuple[str, Any]]:
    return [(b["kind"], b.get("version")) for b in receiver.delivered(path)]
