"""Deployments (one per track), the HorizontalPodAutoscaler and the PodDisruptionBudget."""

from typing import Any

from modelops.api.spec import Autoscaling, ModelServiceSpec
from modelops.render.context import RenderContext, Track
from modelops.render.meta import (
    ANNOTATION_REVISION,
    LABEL_TRACK,
    LABEL_VERSION,
    deployment_name,
    object_meta,
    service_selector,
    track_selector,
)
from modelops.render.pod import pod_template, revision


def deployment(
    ctx: RenderContext, spec: ModelServiceSpec, track: Track, replicas: int | None
) -> dict[str, Any]:
    """One track's Deployment. ``replicas`` None leaves the field to the HPA."""
    progress_deadline = ctx.spec.rollout.progress_deadline_seconds if ctx.spec.rollout else 600
    body: dict[str, Any] = {
        "selector": {"matchLabels": track_selector(ctx, track)},
        "template": pod_template(ctx, spec, track),
        # Never take a serving pod away before its replacement is ready.
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        },
        "progressDeadlineSeconds": progress_deadline,
        "revisionHistoryLimit": 3,
    }
    if replicas is not None:
        body["replicas"] = replicas
    meta = object_meta(
        ctx,
        deployment_name(ctx, track),
        {LABEL_TRACK: track.value, LABEL_VERSION: spec.model.version},
    )
    meta["annotations"] = {ANNOTATION_REVISION: revision(spec)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": body}


def _metrics(autoscaling: Autoscaling) -> list[dict[str, Any]]:
    metrics = []
    targets = (
        ("cpu", autoscaling.target_cpu_utilization_percentage),
        ("memory", autoscaling.target_memory_utilization_percentage),
    )
    for resource, percent in targets:
        if percent is not None:
            metrics.append(
                {
                    "type": "Resource",
                    "resource": {
                        "name": resource,
                        "target": {"type": "Utilization", "averageUtilization": percent},
                    },
                }
            )
    metrics.extend(autoscaling.metrics or ())
    return metrics


def horizontal_pod_autoscaler(ctx: RenderContext, autoscaling: Autoscaling) -> dict[str, Any]:
    """autoscaling/v2 HPA on the stable Deployment; with no metric given, Kubernetes' own
    default (80% CPU) applies."""
    body: dict[str, Any] = {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment_name(ctx, Track.STABLE),
        },
        "minReplicas": autoscaling.min_replicas,
        "maxReplicas": autoscaling.max_replicas,
    }
    metrics = _metrics(autoscaling)
    if metrics:
        body["metrics"] = metrics
    if autoscaling.behavior:
        body["behavior"] = autoscaling.behavior
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta(ctx, ctx.name),
        "spec": body,
    }


def pod_disruption_budget(ctx: RenderContext) -> dict[str, Any]:
    """Voluntary disruptions (node drains) take at most one pod at a time by default; with
    ``minAvailable`` set, that many stay. Never minAvailable 1 with one replica by default,
    which would block every drain."""
    body: dict[str, Any] = {"selector": {"matchLabels": service_selector(ctx)}}
    if ctx.spec.min_available is not None:
        body["minAvailable"] = ctx.spec.min_available
    else:
        body["maxUnavailable"] = 1
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(ctx, ctx.name),
        "spec": body,
    }
