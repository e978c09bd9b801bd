"""The Event objects the operator posts for a ModelService."""

from datetime import UTC, datetime

from modelops.kube.events import MESSAGE_LIMIT, event_manifest
from modelops.rollout.events import Event

OWNER = {"metadata": {"name": "chat", "namespace": "ml", "uid": "u-1"}}


def test_event_points_at_the_model_service() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    manifest = event_manifest(OWNER, Event("Warning", "RolledBack", "version 2 rolled back"), now)
    assert manifest["metadata"] == {"generateName": "chat.", "namespace": "ml"}
    assert manifest["involvedObject"] == {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelService",
        "name": "chat",
        "namespace": "ml",
        "uid": "u-1",
    }
    assert (manifest["type"], manifest["reason"]) == ("Warning", "RolledBack")
    assert manifest["firstTimestamp"] == manifest["lastTimestamp"] == "2026-01-02T03:04:05Z"
    assert manifest["source"] == {"component": "modelops"}


def test_long_messages_are_cut_to_the_limit() -> None:
    manifest = event_manifest(OWNER, Event("Normal", "X", "m" * 5000), datetime.now(UTC))
    assert len(manifest["message"]) == MESSAGE_LIMIT
