"""What a rollout gate is given: the Job of a Job gate (``rollout.gates.jobs``), rendered
from its pod template, and the JSON a webhook gate is POSTed.

Pure, like every renderer: the shell (modelops.controller.gate_jobs) creates it, waits for it
and deletes it. The Job is owned by the ModelService, so deleting the ModelService deletes a
Job still running. Its pods carry neither the component nor the track label: no Service of
the model selects them.
"""

import hashlib
from typing import Any

from modelops.api.gates import JobGate, WebhookGate
from modelops.render.context import RenderContext, Track
from modelops.render.forwarding import track_url
from modelops.render.meta import LABEL_INSTANCE, PREVIEW, object_meta
from modelops.render.service import SERVICE_PORT

LABEL_GATE = "modelops.dev/gate"
ANNOTATION_RUN = "modelops.dev/gate-run"


def gate_job_name(ctx: RenderContext, gate: JobGate, run: str, revision: str) -> str:
    """At most 63 characters (the Job's pods carry it as a label), one per run of a revision."""
    digest = hashlib.sha256(f"{revision}/{run}".encode()).hexdigest()[:8]
    return f"{ctx.name[:30]}-{gate.name[:20]}-{digest}"


def canary_url(ctx: RenderContext) -> str:
    """Where a gate reaches the new version: its track's Service, or under blue-green the
    preview Service (the same pods, named for what they are)."""
    canary = PREVIEW if ctx.spec.is_blue_green else Track.CANARY.value
    return track_url(ctx, canary, SERVICE_PORT)


def gate_env(ctx: RenderContext, stable_version: str | None) -> list[dict[str, str]]:
    """What a gate is told about the rollout (also the webhook payload's facts)."""
    return [
        {"name": "MODELSERVICE", "value": ctx.name},
        {"name": "CANARY_URL", "value": canary_url(ctx)},
        {"name": "STABLE_URL", "value": track_url(ctx, Track.STABLE.value, SERVICE_PORT)},
        {"name": "CANARY_VERSION", "value": ctx.spec.model.version},
        {"name": "STABLE_VERSION", "value": stable_version or ""},
    ]


def _with_env(container: dict[str, Any], env: list[dict[str, str]]) -> dict[str, Any]:
    ours = {item["name"] for item in env}
    theirs = [item for item in container.get("env") or [] if item.get("name") not in ours]
    return {**container, "env": theirs + env}


def gate_job(
    ctx: RenderContext,
    gate: JobGate,
    run: str,
    revision: str,
    stable_version: str | None,
) -> dict[str, Any]:
    template = dict(gate.template)
    pod = dict(template.get("spec") or {})
    env = gate_env(ctx, stable_version)
    pod["containers"] = [_with_env(c, env) for c in pod.get("containers") or []]
    pod.setdefault("restartPolicy", "Never")
    labels = {LABEL_INSTANCE: ctx.name, LABEL_GATE: gate.name}
    metadata = dict(template.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    meta = object_meta(ctx, gate_job_name(ctx, gate, run, revision), {LABEL_GATE: gate.name})
    meta["annotations"] = {ANNOTATION_RUN: run}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": gate.active_deadline_seconds,
            "ttlSecondsAfterFinished": 600,
            "template": {"metadata": metadata, "spec": pod},
        },
    }


def webhook_payload(
    ctx: RenderContext,
    hook: WebhookGate,
    point: str,
    weight: int,
    stable_version: str | None,
) -> dict[str, Any]:
    """What a webhook gate is POSTed (Flagger's fields, and the step and weight)."""
    step = int(point.removeprefix("step-")) if point.startswith("step-") else None
    return {
        "name": ctx.name,
        "namespace": ctx.namespace,
        "type": hook.type.value,
        "gate": hook.name,
        "point": point,
        "canaryVersion": ctx.spec.model.version,
        "stableVersion": stable_version,
        "step": step,
        "weight": weight,
        "canaryUrl": canary_url(ctx),
        "stableUrl": track_url(ctx, Track.STABLE.value, SERVICE_PORT),
        "metadata": hook.metadata or {},
    }
