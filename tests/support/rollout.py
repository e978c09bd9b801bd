"""Driving the pure rollout machine by hand: specs, observations and one tick at a time."""

from datetime import UTC, datetime, timedelta
from typing import Any

from modelops.api.spec import ModelServiceSpec
from modelops.api.status import MetricResult, ModelServiceStatus, Phase
from modelops.manifests import parse_model_service
from modelops.render.pod import revision
from modelops.rollout.gate_io import GateOutcome
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.plan import plan
from modelops.rollout.transitions import Commands, Transition, advance
from tests.support.samples import model_service

T0 = datetime(2026, 1, 1, tzinfo=UTC)
METRIC = {
    "name": "errors",
    "max": 0.05,
    "prometheus": {"address": "http://prometheus:9090", "query": "x"},
}


def spec(
    version: str, steps: list[dict[str, Any]] | None = None, **rollout: Any
) -> ModelServiceSpec:
    body = {"strategy": "Canary", "steps": steps or [{"weight": 20}, {"weight": 60}], **rollout}
    return parse_model_service(model_service("m", version, rollout=body)).spec


def ready(spec_: ModelServiceSpec, desired: int = 2, **fields: Any) -> WorkloadObservation:
    base: dict[str, Any] = {
        "exists": True,
        "desired": desired,
        "replicas": desired,
        "updated": desired,
        "ready": desired,
        "available": desired,
        "generation": 1,
        "observed_generation": 1,
        "revision": revision(spec_),
    }
    base.update(fields)
    return WorkloadObservation(**base)


def tick(
    spec_: ModelServiceSpec,
    status: ModelServiceStatus,
    stable: WorkloadObservation,
    canary: WorkloadObservation | None = None,
    metrics: list[MetricResult] | None = None,
    at: float = 0.0,
    commands: Commands | None = None,
    generation: int = 1,
    gates: dict[str, GateOutcome] | None = None,
) -> Transition:
    return advance(
        spec_,
        status,
        generation=generation,
        stable=stable,
        canary=canary or WorkloadObservation(),
        metrics=metrics,
        conflicts=[],
        now=T0 + timedelta(seconds=at),
        commands=commands,
        gate_outcomes=gates,
    )


def deployed(version: str = "1.0.0") -> tuple[ModelServiceSpec, ModelServiceStatus]:
    """A service whose first version is Stable."""
    first = spec(version)
    assert plan(first, ModelServiceStatus()).canary_spec is None  # no canary for the first one
    step = tick(first, ModelServiceStatus(), ready(first))
    assert step.status.phase is Phase.STABLE
    assert step.status.stable_template is not None
    return first, step.status
