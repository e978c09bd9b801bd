"""What runs now: the spec each track runs and the canary's traffic weight.

The plan reads status; it never decides. The machine (``transitions``) moves a rollout by
writing status (the step, its hash and the weight), and the plan renders what status says:
the weight applied and the weight reported have one source, and the plan never indexes
``rollout.steps`` with a step that status recorded for other steps.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from modelops.api.datapath import DataPath
from modelops.api.spec import (
    BlueGreen,
    CanaryStep,
    ModelServiceSpec,
    ModelSpec,
    PodTemplate,
    Probes,
    Rollout,
    Strategy,
)
from modelops.api.status import ModelServiceStatus, Stage
from modelops.render.pod import revision


@dataclass(frozen=True)
class Plan:
    """What should run now: the spec each track runs, and the canary's traffic weight."""

    stable_spec: ModelServiceSpec
    canary_spec: ModelServiceSpec | None = None
    weight: int = 0
    mirror: int = 0  # percent of stable's requests shadowed to the canary (gateway routing)
    # The canary's pods when they do not follow the weight (blue-green: full size).
    canary_replicas: int | None = None


PROGRESSIVE = frozenset({Strategy.CANARY, Strategy.BLUE_GREEN})


def progressive(spec: ModelServiceSpec) -> bool:
    """The spec's new versions roll out beside stable (Canary or BlueGreen), not in place."""
    return spec.rollout is not None and spec.rollout.strategy in PROGRESSIVE


def blue_green_of(spec: ModelServiceSpec) -> BlueGreen:
    """The spec's blue-green settings, their defaults when ``rollout.blueGreen`` is unset."""
    return (spec.rollout.blue_green if spec.rollout else None) or BlueGreen()


def full_size(spec: ModelServiceSpec, status: ModelServiceStatus) -> int:
    """As many pods as stable runs: ``replicas``, or with an HPA what it scaled stable to
    (status.replicas), within its bounds. Once switched, never fewer than at the switch: the
    HPA then scales an idle stable down, which the version taking all traffic must not
    follow."""
    autoscaling = spec.autoscaling
    if autoscaling is None:
        return spec.replicas
    scaled = max(autoscaling.min_replicas, status.replicas or 0, status.switched_replicas or 0)
    return min(scaled, autoscaling.max_replicas)


def rollout_of(spec: ModelServiceSpec) -> Rollout:
    """The rollout section of a spec that is rolling out by canary (callers check first): an
    exception rather than an assert, which ``python -O`` would strip."""
    if spec.rollout is None:
        raise ValueError("a canary step needs spec.rollout")
    return spec.rollout


def steps_of(spec: ModelServiceSpec) -> list[CanaryStep]:
    """The spec's canary steps (``rollout.steps``); never empty under strategy Canary."""
    return list(spec.rollout.steps or []) if spec.rollout else []


def step_hash(spec: ModelServiceSpec) -> str:
    """A short hash of the canary steps, as Argo Rollouts' ``currentStepHash``."""
    steps = [step.to_api() for step in steps_of(spec)]
    return hashlib.sha256(json.dumps(steps, sort_keys=True).encode()).hexdigest()[:10]


def rolling_out(spec: ModelServiceSpec, status: ModelServiceStatus) -> bool:
    """A canary (or blue-green) rollout of the spec's revision is (or should be) under way."""
    rev = revision(spec)
    return (
        progressive(spec)
        and status.stable_template is not None
        and rev not in {status.stable_revision, status.failed_revision}
    )


def steps_changed(spec: ModelServiceSpec, status: ModelServiceStatus) -> bool:
    """The steps of a canary under way were edited, or no longer reach the step status
    records: the step under way means nothing any more. A status written before step hashes
    existed (none recorded) keeps its step while that step exists."""
    if status.canary_revision != revision(spec) or status.stage is not Stage.CANARY:
        return False
    if spec.is_blue_green:
        # No steps; but a weight no blue-green phase has (the strategy was Canary a moment
        # ago) is no preview and no switch: it restarts as a preview.
        return (status.canary_weight or 0) != (100 if status.switched_at else 0)
    if (status.current_step or 0) >= len(steps_of(spec)):
        return True
    return status.step_hash is not None and status.step_hash != step_hash(spec)


def with_shaping(spec: ModelServiceSpec, template: dict[str, Any]) -> ModelServiceSpec:
    """``spec`` running the pods described by ``template`` (status.stableTemplate, written by
    ``render.pod.shaping``)."""
    pod = template.get("podTemplate")
    probes = template.get("probes")
    data_path = template.get("dataPath")
    return spec.model_copy(
        update={
            "model": ModelSpec.model_validate(template["model"]),
            "pod_template": PodTemplate.model_validate(pod) if pod else None,
            "probes": Probes.model_validate(probes) if probes else None,
            "data_path": DataPath.model_validate(data_path) if data_path else None,
        }
    )


def plan(spec: ModelServiceSpec, status: ModelServiceStatus) -> Plan:
    """What runs, given the spec and the status last written."""
    if status.stable_template is None or not progressive(spec):
        # First deployment, or Immediate: stable runs the spec (a rolling update).
        return Plan(stable_spec=spec)
    stable = with_shaping(spec, status.stable_template)
    if not rolling_out(spec, status):
        # Steady, or a rolled-back revision: stable keeps what it ran.
        return Plan(stable_spec=spec if revision(spec) == status.stable_revision else stable)
    same_rollout = status.canary_revision == revision(spec)
    if same_rollout and status.stage is Stage.QUEUED:
        return Plan(stable_spec=stable)
    weight = status.canary_weight or 0
    if spec.is_blue_green:
        # Full size from the start, at the weight status records: 0 (preview) or 100.
        size = full_size(spec, status)
        promoting = same_rollout and status.stage is Stage.PROMOTING
        return Plan(
            stable_spec=spec if promoting else stable,
            canary_spec=spec,
            weight=weight if same_rollout else 0,
            canary_replicas=size,
        )
    if same_rollout and status.stage is Stage.PROMOTING:
        # Stable takes the new template; the canary keeps serving until stable is ready.
        return Plan(stable_spec=spec, canary_spec=spec, weight=weight)
    # A rollout under way runs at the weight status records (the machine moves it, and
    # restarts it when the steps change); one yet to start, at its first step.
    steps = steps_of(spec)
    index = (status.current_step or 0) if same_rollout else 0
    # The step status records, while it belongs to these steps (a change restarts them).
    recorded = same_rollout and status.step_hash == step_hash(spec) and index < len(steps)
    mirror = steps[index].mirror if recorded else None
    return Plan(
        stable_spec=stable,
        canary_spec=spec,
        weight=weight if same_rollout else steps[0].weight,
        mirror=mirror or 0,
    )
