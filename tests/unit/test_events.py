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


def test_phase_gauge_has_one_series_at_one_and_forgets_deleted_services() -> None:
    from prometheus_client import REGISTRY  # noqa: PLC0415

    from modelops.metrics import forget, set_phase  # noqa: PLC0415

    def value(phase: str) -> float | None:
        labels = {"namespace": "ml", "name": "chat", "phase": phase}
        return REGISTRY.get_sample_value("modelops_modelservice_phase", labels)

    set_phase("ml", "chat", "Progressing")
    set_phase("ml", "chat", "RolledBack")
    assert value("RolledBack") == 1
    assert value("Progressing") == 0
    forget("ml", "chat")
    assert value("RolledBack") is None
    forget("ml", "chat")  # already gone: no error
