"""manifests/argocd/health.lua, run by a real Lua interpreter against status documents of the
shape the operator writes (tests/cluster/test_argocd_health.py runs it on live ones)."""

from typing import Any

import pytest

from tests.support.argocd import available_actions, health, run_action


def service(
    phase: str | None,
    ready: str = "True",
    up_to_date: str = "True",
    generation: int = 3,
    observed: int | None = 3,
    paused: bool = False,
    annotations: dict[str, str] | None = None,
    **status: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelService",
        "metadata": {
            "name": "m",
            "namespace": "ml",
            "generation": generation,
            "annotations": annotations or {},
        },
        "spec": {"model": {"name": "m", "version": "2.0.0"}, "paused": paused},
    }
    if phase is not None:
        body["status"] = {
            "observedGeneration": observed,
            "phase": phase,
            "conditions": [
                {"type": "Ready", "status": ready, "reason": "R", "message": ""},
                {"type": "UpToDate", "status": up_to_date, "reason": "R", "message": ""},
                {"type": "Degraded", "status": "False", "reason": "R", "message": ""},
            ],
            **status,
        }
    return body


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (service("Stable", stableVersion="2.0.0"), "Healthy"),
        (service("Stable", ready="False"), "Progressing"),  # replicas not ready yet
        (service("Stable", up_to_date="False"), "Progressing"),
        (service("Progressing", up_to_date="False", canaryWeight=25), "Progressing"),
        (service("Stable", observed=2), "Progressing"),  # a new spec not yet seen
        (service(None), "Progressing"),  # no status yet
        (service("Pending", ready="False"), "Progressing"),
        (
            service("RolledBack", up_to_date="False", message="canary 2.0.0: CrashLoopBackOff"),
            "Degraded",
        ),
        (service("Degraded", ready="False"), "Degraded"),
        (service("Failed", ready="False"), "Degraded"),
        (service("Conflict"), "Degraded"),
        (service("Progressing", paused=True), "Suspended"),
        (
            service("Progressing", annotations={"modelops.dev/pause": "abc"}, canaryRevision="abc"),
            "Suspended",
        ),
        # A pause annotation for an earlier canary holds nothing.
        (
            service("Progressing", annotations={"modelops.dev/pause": "old"}, canaryRevision="abc"),
            "Progressing",
        ),
        (
            service(
                "Progressing", annotations={"modelops.dev/pause": "none"}, canaryRevision="abc"
            ),
            "Progressing",
        ),
        (service("RolledBack", paused=True), "Degraded"),  # a failure outranks a pause
    ],
)
def test_health(body: dict[str, Any], want: str) -> None:
    assert health(body)[0] == want


def test_messages_come_from_the_status() -> None:
    status, message = health(service("RolledBack", message="canary 2.0.0: CrashLoopBackOff"))
    assert (status, message) == ("Degraded", "canary 2.0.0: CrashLoopBackOff")
    assert (
        health(service("Stable", observed=2))[1]
        == "Waiting for the operator to observe generation 3"
    )


def test_actions_offered_only_for_a_running_canary() -> None:
    assert available_actions(service("Stable")) == set()
    running = service("Progressing", canaryRevision="abc")
    assert available_actions(running) == {"promote", "abort", "pause"}
    held = service("Progressing", canaryRevision="abc", annotations={"modelops.dev/pause": "abc"})
    assert available_actions(held) == {"promote", "abort", "resume"}


def test_actions_name_the_running_canary() -> None:
    running = service("Progressing", canaryRevision="abc", annotations={"team": "nlp"})
    assert run_action(running, "promote") == {"team": "nlp", "modelops.dev/promote": "abc"}
    assert run_action(running, "abort")["modelops.dev/abort"] == "abc"
    assert run_action(running, "pause")["modelops.dev/pause"] == "abc"
    assert run_action(running, "resume")["modelops.dev/pause"] == "none"
