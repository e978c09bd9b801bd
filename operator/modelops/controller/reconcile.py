"""One level-based reconcile of one ModelService, whatever event woke it.

Reads the object and its children, renders what should exist (pure), applies only what
differs (so a steady state makes zero writes), deletes owned children no longer wanted,
computes the status (pure) and writes it only when it changed.

A reconcile that raises is reported by the controller (modelops.controller.manager) through
``record_failure``: a ``Reconciled=False`` condition, reason ``ReconcileError``, which the
next status written by a successful reconcile no longer carries.
"""

import json
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
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
from modelops.controller.gate_calls import gate_calls
from modelops.controller.gates import Call
from modelops.controller.gateway_routing import announce_split, ensure_key, routing_applied
from modelops.controller.slots import RolloutSlots
from modelops.health.analysis import run_analysis
from modelops.kube.client import Kube, RejectedError
from modelops.metrics import API_WRITES
from modelops.render import RenderContext, Track, desired_children, possible_children
from modelops.render.context import DEFAULT_GATEWAY_IMAGE
from modelops.render.drift import in_sync
from modelops.render.forwarding import routing_name
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
from modelops.rollout.gate_io import GateOutcome
from modelops.rollout.gates import in_flight, post_runs
from modelops.rollout.observe import WorkloadObservation, observe_deployment
from modelops.rollout.plan import Plan, plan, rolling_out
from modelops.rollout.transitions import Commands, advance
from modelops.rollout.verdict import analysis_due, sampling_interval

# Present in status only while reconciles of the ModelService fail.
RECONCILED = "Reconciled"
RECONCILE_ERROR = "ReconcileError"
# Longest error text carried into the condition and the Event.
ERROR_CHARS = 1024
# While a new ModelService's first deployment converges, replica counts and messages move
# with every pod event. Within this many seconds of the status' last change of state (a
# condition's status or reason), a change of counts and messages alone is written when the
# time is up (a timer wakes the reconcile), not at once: a first deployment ready within it
# costs two status writes (Progressing, then Stable), not one more per Deployment status
# update. Phases, conditions, the rollout's own fields and observedGeneration are always
# written at once, and nothing is held during a rollout.
PROGRESS_QUIET_SECONDS = 5.0
_PROGRESS_FIELDS = frozenset({"message", "replicas", "readyReplicas", "ready", "conditions"})
# Counts that move no replica closer to serving (pods created, none more ready: only the
# "updated" figure in the messages moves) are no news at all: held until a write that is
# (a pod ready, a change of state), with no timer. On a loaded API server a first deployment
# took longer than the quiet time in 4% of 1,000 ModelServices, and each paid a status write
# for "1/1 updated, 0 ready".
HELD_UNTIL_NEWS = math.inf
_COUNTS_OF_NEWS = ("replicas", "readyReplicas", "ready")


@dataclass
class ReconcileResult:
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
    # Rollout gate runs to have in flight (modelops.controller.gates), by run id; the
    # post-rollout webhooks a rollout's end asked for.
    gate_calls: dict[str, Call] = field(default_factory=dict)
    post_calls: dict[str, Call] = field(default_factory=dict)


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


def _sync_children(kube: Kube, ctx: RenderContext, result: ReconcileResult) -> dict[ChildRef, Any]:
    desired = {ref_of(manifest): manifest for manifest in desired_children(ctx)}
    ensure_key(kube, ctx)
    applied_before = len(result.applied)
    lives = _apply_children(kube, ctx, desired, result)
    routing = desired.get(ChildRef("v1", "ConfigMap", routing_name(ctx)))
    if routing is not None and routing_applied(ctx, result.applied[applied_before:]):
        announce_split(kube, ctx, routing)
    return lives


def _apply_children(
    kube: Kube, ctx: RenderContext, desired: dict[ChildRef, Any], result: ReconcileResult
) -> dict[ChildRef, Any]:
    lives: dict[ChildRef, Any] = {}
    unwanted: list[tuple[ChildRef, str]] = []
    for ref in possible_children(ctx):
        manifest = desired.get(ref)
        live = kube.lookup(ref.kind, ctx.namespace, ref.name, wanted=manifest is not None)
        if live is not None and not owned_by(live, ctx.uid):
            # Someone else's object holds the name: never overwrite or delete it.
            if manifest is not None:
                result.conflicts.append(f"{ref.kind}/{ref.name}")
            continue
        if manifest is None:
            if live is not None:
                unwanted.append((ref, live["metadata"]["uid"]))
            continue
        if live is None or not in_sync(manifest, live):
            if live is not None:
                _hand_over_replicas(kube, manifest, live)
            live = kube.apply(manifest)
            API_WRITES.labels("apply", ref.kind).inc()
            result.applied.append(f"{ref.kind}/{ref.name}")
        lives[ref] = live
    # Deleted once the rest is applied: a rollback's routing (a Service's selector, a route's
    # weights) points away from the canary before its pods start terminating, so no request
    # meets a Service left with no ready endpoint.
    for ref, uid in unwanted:
        kube.delete(ref.kind, ctx.namespace, ref.name, uid)
        API_WRITES.labels("delete", ref.kind).inc()
        result.deleted.append(f"{ref.kind}/{ref.name}")
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


def describe_error(error: BaseException) -> str:
    """One line for a condition, an Event and a log: the type and message, and for an API
    error its code and the API server's message (never the response headers, which change
    from one try to the next)."""
    if isinstance(error, ApiException):
        detail = error.reason or ""
        try:
            message = json.loads(error.body or "{}").get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            detail = f"{detail}: {message}" if detail else str(message)
        text = f"ApiException: {error.status} {detail}".rstrip()
    else:
        text = f"{type(error).__name__}: {error}".rstrip(": ")
    return text[:ERROR_CHARS]


def _without_failure(status: ModelServiceStatus) -> ModelServiceStatus:
    """A reconcile that got as far as writing status succeeded: the failure condition goes."""
    conditions = status.conditions or []
    if not any(condition.type == RECONCILED for condition in conditions):
        return status
    kept = [condition for condition in conditions if condition.type != RECONCILED]
    return status.model_copy(update={"conditions": kept or None})


def record_failure(kube: Kube, body: dict[str, Any], message: str, now: str) -> bool:
    """Say in status that reconciles fail, and why; True if the status changed (a failure
    already reported the same way writes nothing)."""
    before = previous_status(body)
    conditions = set_conditions(
        before.conditions,
        [Wanted(RECONCILED, False, RECONCILE_ERROR, message)],
        now=now,
        generation=int(body["metadata"].get("generation", 0)),
    )
    after = before.model_copy(update={"conditions": conditions})
    return _patch_status(kube, body, before, after)


def _state(status: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The conditions without their messages: what a change of state changes."""
    return [
        (c.get("type"), c.get("status"), c.get("reason"), c.get("lastTransitionTime"))
        for c in status.get("conditions") or []
    ]


def progress_held(before: ModelServiceStatus, after: ModelServiceStatus, now: datetime) -> float:
    """Seconds to hold back writing ``after`` (0: write now; HELD_UNTIL_NEWS: until a write
    that is news): a first deployment (nothing was ever Stable, no rollout stage), only
    counts and messages moved, within PROGRESS_QUIET_SECONDS of the last change of state.
    Never during a rollout: a canary's steps move on the status written (held counts slowed
    a canary's steps several-fold)."""
    if before.stable_revision is not None or before.stage is not None or after.stage is not None:
        return 0.0
    old, new = before.to_api(), _without_failure(after).to_api()
    patch = status_patch(old, new)
    if not patch or not set(patch) <= _PROGRESS_FIELDS or _state(old) != _state(new):
        return 0.0
    if not any(key in patch for key in _COUNTS_OF_NEWS):
        return HELD_UNTIL_NEWS
    stamps = [c.last_transition_time for c in before.conditions or [] if c.last_transition_time]
    if not stamps:
        return 0.0
    since = (now - max(datetime.fromisoformat(stamp) for stamp in stamps)).total_seconds()
    return max(0.0, PROGRESS_QUIET_SECONDS - since)


def _write_status(
    kube: Kube, body: dict[str, Any], before: ModelServiceStatus, after: ModelServiceStatus
) -> bool:
    """The status a reconcile computed, written if it changed; True if it was."""
    return _patch_status(kube, body, before, _without_failure(after))


def _patch_status(
    kube: Kube, body: dict[str, Any], before: ModelServiceStatus, after: ModelServiceStatus
) -> bool:
    patch = status_patch(before.to_api(), after.to_api())
    if not patch:
        return False
    meta = body["metadata"]
    kube.patch_status(KIND, meta["namespace"], meta["name"], patch)
    API_WRITES.labels("patch", f"{KIND}/status").inc()
    return True


def _invalid(
    kube: Kube, body: dict[str, Any], message: str, now: str, reason: str
) -> ReconcileResult:
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
    result = ReconcileResult(phase=Phase.FAILED)
    result.status_written = _write_status(kube, body, before, after)
    if result.status_written:
        result.events.append(Event("Warning", reason, message))
    return result


def _context(service: ModelService, chosen: Plan, sidecar_image: str) -> RenderContext:
    return RenderContext.for_service(
        service,
        chosen.stable_spec,
        chosen.canary_spec,
        chosen.weight,
        sidecar_image,
        mirror=chosen.mirror,
        canary_replicas=chosen.canary_replicas,
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
    sidecar_image: str = DEFAULT_GATEWAY_IMAGE,
    slots: RolloutSlots | None = None,
    *,
    sampled_failure: bool = False,
    gate_outcomes: Mapping[str, GateOutcome] | None = None,
) -> ReconcileResult:
    """``sampled_failure``: a sample of the canary's metrics failed since the last reconcile
    (modelops.controller.sampler), so the analysis may run before its interval is up.
    ``gate_outcomes``: the gate runs that finished, by id (modelops.controller.gates)."""
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
            sidecar_image=sidecar_image,
            slots=slots,
            sampled_failure=sampled_failure,
            gate_outcomes=gate_outcomes or {},
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
    sidecar_image: str,
    slots: RolloutSlots | None,
    sampled_failure: bool,
    gate_outcomes: Mapping[str, GateOutcome],
) -> ReconcileResult:
    before = previous_status(body)
    chosen = plan(service.spec, before)
    ctx = _context(service, chosen, sidecar_image)
    result = ReconcileResult()
    lives = _sync_children(kube, ctx, result)
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
        conflicts=result.conflicts,
        now=now,
        gate_outcomes=gate_outcomes,
    )
    stable_version = step.status.stable_version
    result.gate_calls = gate_calls(
        kube, ctx, in_flight(step.status, step.gate_runs), stable_version
    )
    result.post_calls = gate_calls(kube, ctx, post_runs(step.gate_runs), stable_version)
    following = plan(service.spec, step.status)
    if following != chosen and not result.conflicts:
        # Act on the decision now (a rollback takes the canary away at once).
        _sync_children(kube, _context(service, following, sidecar_image), result)
    result.phase = step.status.phase
    wake_after = step.wake_after
    held = progress_held(before, step.status, now)
    if held == HELD_UNTIL_NEWS:
        pass  # the next pod event that is news wakes the reconcile
    elif held:
        wake_after = held if wake_after is None else min(wake_after, held)
    else:
        result.status_written = _write_status(kube, body, before, step.status)
    if slots is not None:
        # After the write: a slot is free only once the status says the rollout ended.
        queued = step.status.stage is Stage.QUEUED
        result.wake = slots.update(key, holds_slot(step.status), queued=queued)
    # A new ModelService's first status is no news (its next phase is): Warnings only.
    first = before.phase is None
    result.events = [e for e in step.events if not first or e.type == "Warning"]
    result.wake_after = wake_after
    result.sample_every = sampling_interval(service.spec, step.status, canary.rolled_out)
    result.spec = service.spec
    result.status = step.status.to_api()
    return result


def holds_slot(status: ModelServiceStatus) -> bool:
    """A rollout in flight (not queued) counts against --max-concurrent-rollouts."""
    return status.stage in {Stage.CANARY, Stage.PROMOTING}


def _deployment_ref(ctx: RenderContext, track: Track) -> ChildRef:
    return ChildRef("apps/v1", "Deployment", deployment_name(ctx, track))
