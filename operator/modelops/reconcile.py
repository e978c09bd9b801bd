"""One level-based reconcile of one ModelService, whatever event woke it.

Reads the object and its children, renders what should exist (pure), applies only what
differs (so a steady state makes zero writes), deletes owned children no longer wanted,
computes the status (pure) and writes it only when it changed.
"""

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from modelops.api import (
    KIND,
    ModelService,
    ModelServiceSpec,
    ModelServiceStatus,
    format_validation_error,
)
from modelops.api.base import k8s_time
from modelops.api.status import Phase, Stage
from modelops.health.analysis import run_analysis
from modelops.kube.client import Kube, RejectedError
from modelops.metrics import API_WRITES
from modelops.render import RenderContext, Track, desired_children, possible_children
from modelops.render.context import DEFAULT_GATEWAY_IMAGE
from modelops.render.drift import in_sync
from modelops.render.meta import (
    ANNOTATION_ABORT,
    ANNOTATION_PAUSE,
    ANNOTATION_PROMOTE,
    ANNOTATION_REVISION,
    deployment_name,
    track_selector,
)
from modelops.render.refs import ChildRef, ref_of
from modelops.rollout.conditions import Wanted, set_conditions
from modelops.rollout.events import Event
from modelops.rollout.observe import WorkloadObservation, observe_deployment
from modelops.rollout.plan import Plan, plan, rolling_out
from modelops.rollout.transitions import Commands, advance
from modelops.rollout.verdict import analysis_due, sampling_interval
from modelops.slots import RolloutSlots


@dataclass
class Outcome:
    """What one reconcile did, for logs, Events and tests."""

    applied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    status_written: bool = False
    phase: Phase | None = None
    wake_after: float | None = None
    status: dict[str, Any] | None = None
    wake: list[Hashable] = field(default_factory=list)  # queued rollouts a freed slot may start
    # Seconds between samples of the canary's metrics until the next reconcile; None: none.
    sample_every: float | None = None
    spec: ModelServiceSpec | None = None  # the spec reconciled (what a sample checks)


def owned_by(live: dict[str, Any], uid: str) -> bool:
    refs = live.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def previous_status(body: dict[str, Any]) -> ModelServiceStatus:
    """The status as last written; anything unreadable there is rewritten from scratch."""
    try:
        return ModelServiceStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return ModelServiceStatus()


def status_patch(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch from ``before`` to ``after``: removed keys become null."""
    patch: dict[str, Any] = {key: None for key in before if key not in after}
    patch.update({key: value for key, value in after.items() if before.get(key) != value})
    return patch


def _sync_children(kube: Kube, ctx: RenderContext, outcome: Outcome) -> dict[ChildRef, Any]:
    desired = {ref_of(manifest): manifest for manifest in desired_children(ctx)}
    lives: dict[ChildRef, Any] = {}
    for ref in possible_children(ctx):
        manifest = desired.get(ref)
        live = kube.lookup(ref.kind, ctx.namespace, ref.name, wanted=manifest is not None)
        if live is not None and not owned_by(live, ctx.uid):
            # Someone else's object holds the name: never overwrite or delete it.
            if manifest is not None:
                outcome.conflicts.append(f"{ref.kind}/{ref.name}")
            continue
        if manifest is None:
            if live is not None:
                kube.delete(ref.kind, ctx.namespace, ref.name, live["metadata"]["uid"])
                API_WRITES.labels("delete", ref.kind).inc()
                outcome.deleted.append(f"{ref.kind}/{ref.name}")
            continue
        if live is None or not in_sync(manifest, live):
            if live is not None:
                _hand_over_replicas(kube, manifest, live)
            live = kube.apply(manifest)
            API_WRITES.labels("apply", ref.kind).inc()
            outcome.applied.append(f"{ref.kind}/{ref.name}")
        lives[ref] = live
    return lives


def _hand_over_replicas(kube: Kube, manifest: dict[str, Any], live: dict[str, Any]) -> None:
    """A Deployment now applied without ``replicas`` (autoscaling added: the HPA's from now
    on) keeps the replicas it runs. Dropped from the operator's apply, the field would reset
    to 1: stable down to one pod at the next template change (a promotion), until the HPA
    scales it back to minReplicas."""
    replicas = (live.get("spec") or {}).get("replicas")
    if manifest["kind"] != "Deployment" or "replicas" in manifest["spec"] or replicas is None:
        return
    meta = manifest["metadata"]
    kube.hand_over(
        {
            "apiVersion": manifest["apiVersion"],
            "kind": manifest["kind"],
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "spec": {"replicas": replicas},
        }
    )
    API_WRITES.labels("handover", manifest["kind"]).inc()


def _observe_track(
    kube: Kube, ctx: RenderContext, track: Track, deployment: dict[str, Any] | None
) -> WorkloadObservation:
    autoscaling = ctx.spec.autoscaling
    at_least = autoscaling.min_replicas if autoscaling and track is Track.STABLE else 0
    observed = observe_deployment(deployment, [], ANNOTATION_REVISION, at_least)
    if not observed.exists or observed.rolled_out:
        return observed
    # Only a track that is not all ready looks at pods: why they do not serve.
    pods = kube.list("Pod", ctx.namespace, track_selector(ctx, track))
    return observe_deployment(deployment, pods, ANNOTATION_REVISION, at_least)


def _write_status(
    kube: Kube, body: dict[str, Any], before: ModelServiceStatus, after: ModelServiceStatus
) -> bool:
    patch = status_patch(before.to_api(), after.to_api())
    if not patch:
        return False
    meta = body["metadata"]
    kube.patch_status(KIND, meta["namespace"], meta["name"], patch)
    API_WRITES.labels("patch", f"{KIND}/status").inc()
    return True


def _invalid(kube: Kube, body: dict[str, Any], message: str, now: str, reason: str) -> Outcome:
    """A spec the API server accepted but the operator cannot act on (an older CRD, or a
    child the API server refuses): a Degraded condition and a Warning Event, never an
    exception loop."""
    before = previous_status(body)
    generation = int(body["metadata"].get("generation", 0))
    conditions = set_conditions(
        before.conditions,
        [Wanted("Ready", False, reason, message), Wanted("Degraded", True, reason, message)],
        now=now,
        generation=generation,
    )
    after = before.model_copy(
        update={
            "observed_generation": generation,
            "phase": Phase.FAILED,
            "message": message,
            "conditions": conditions,
        }
    )
    outcome = Outcome(phase=Phase.FAILED)
    outcome.status_written = _write_status(kube, body, before, after)
    if outcome.status_written:
        outcome.events.append(Event("Warning", reason, message))
    return outcome


def _context(service: ModelService, chosen: Plan, gateway_image: str) -> RenderContext:
    return RenderContext.for_service(
        service, chosen.stable_spec, chosen.canary_spec, chosen.weight, gateway_image
    )


def _observe_canary(kube: Kube, ctx: RenderContext, deployment: Any) -> WorkloadObservation:
    """The canary's pods are always listed: restarts count even when they recover."""
    if deployment is None:
        return WorkloadObservation()
    pods = kube.list("Pod", ctx.namespace, track_selector(ctx, Track.CANARY))
    return observe_deployment(deployment, pods, ANNOTATION_REVISION)


def _commands(service: ModelService, before: ModelServiceStatus, may_start: bool) -> Commands:
    """Requests made through annotations, each naming the canary it is meant for."""
    annotations = service.metadata.annotations or {}
    canary = before.canary_revision

    def asked(annotation: str) -> bool:
        return bool(canary) and annotations.get(annotation) == canary

    return Commands(
        promote=asked(ANNOTATION_PROMOTE),
        abort=asked(ANNOTATION_ABORT),
        pause=asked(ANNOTATION_PAUSE),
        may_start=may_start,
    )


def reconcile(
    kube: Kube,
    body: dict[str, Any],
    gateway_image: str = DEFAULT_GATEWAY_IMAGE,
    slots: RolloutSlots | None = None,
    *,
    sampled_failure: bool = False,
) -> Outcome:
    """``sampled_failure``: a sample of the canary's metrics failed since the last reconcile
    (modelops.sampler), so the analysis may run before its interval is up."""
    now = datetime.now(UTC)
    try:
        service = ModelService.model_validate(body)
    except ValidationError as error:
        message = "; ".join(format_validation_error(error).messages)
        return _invalid(kube, body, message, k8s_time(now), "InvalidSpec")
    try:
        return _reconcile_valid(
            kube,
            body,
            service,
            now,
            gateway_image=gateway_image,
            slots=slots,
            sampled_failure=sampled_failure,
        )
    except RejectedError as error:
        # Retrying cannot help; the next change of the spec is the next try.
        return _invalid(
            kube, body, f"the API server refused a child: {error}", k8s_time(now), "ChildRejected"
        )


def _reconcile_valid(
    kube: Kube,
    body: dict[str, Any],
    service: ModelService,
    now: datetime,
    *,
    gateway_image: str,
    slots: RolloutSlots | None,
    sampled_failure: bool,
) -> Outcome:
    before = previous_status(body)
    chosen = plan(service.spec, before)
    ctx = _context(service, chosen, gateway_image)
    outcome = Outcome()
    lives = _sync_children(kube, ctx, outcome)
    stable = _observe_track(kube, ctx, Track.STABLE, lives.get(_deployment_ref(ctx, Track.STABLE)))
    canary = _observe_canary(kube, ctx, lives.get(_deployment_ref(ctx, Track.CANARY)))
    due = analysis_due(
        service.spec, before, canary.rolled_out, now, sampled_failure=sampled_failure
    )
    metrics = run_analysis(service.spec, ctx.namespace, ctx.name) if due else None
    key = (ctx.namespace, ctx.name)
    # Claimed only by a service whose spec asks for a canary: a steady one never holds a slot.
    wants_slot = slots is not None and rolling_out(service.spec, before)
    commands = _commands(service, before, slots.claim(key) if slots and wants_slot else True)
    step = advance(
        service.spec,
        before,
        commands=commands,
        generation=int(service.metadata.generation or 0),
        stable=stable,
        canary=canary,
        metrics=metrics,
        conflicts=outcome.conflicts,
        now=now,
    )
    following = plan(service.spec, step.status)
    if following != chosen and not outcome.conflicts:
        # Act on the decision now (a rollback takes the canary away at once).
        _sync_children(kube, _context(service, following, gateway_image), outcome)
    outcome.phase = step.status.phase
    outcome.status_written = _write_status(kube, body, before, step.status)
    if slots is not None:
        # After the write: a slot is free only once the status says the rollout ended.
        queued = step.status.stage is Stage.QUEUED
        outcome.wake = slots.update(key, holds_slot(step.status), queued=queued)
    outcome.events = step.events
    outcome.wake_after = step.wake_after
    outcome.sample_every = sampling_interval(service.spec, step.status, canary.rolled_out)
    outcome.spec = service.spec
    outcome.status = step.status.to_api()
    return outcome


def holds_slot(status: ModelServiceStatus) -> bool:
    """A rollout in flight (not queued) counts against --max-concurrent-rollouts."""
    return status.stage in {Stage.CANARY, Stage.PROMOTING}


def _deployment_ref(ctx: RenderContext, track: Track) -> ChildRef:
    return ChildRef("apps/v1", "Deployment", deployment_name(ctx, track))
