"""Names, labels and owner references shared by every child object."""

from typing import Any

from modelops.api.spec import GROUP, KIND, VERSION
from modelops.render.context import RenderContext, Track

MANAGED_BY = "modelops"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TRACK = "modelops.dev/track"
ANNOTATION_REVISION = "modelops.dev/revision"
# Set by `kubectl modelops promote|abort` to the canary's revision: acts on that canary only,
# so it never needs clearing and never touches a later rollout.
ANNOTATION_PROMOTE = "modelops.dev/promote"
ANNOTATION_ABORT = "modelops.dev/abort"
# Holds the canary at its step while it names the canary's revision (`modelops resume` sets it
# to "none": it stays present, so its change wakes the operator like the others).
ANNOTATION_PAUSE = "modelops.dev/pause"
COMPONENT = "model-server"
PREVIEW = "preview"


def deployment_name(ctx: RenderContext, track: Track) -> str:
    return f"{ctx.name}-{track.value}"


def preview_name(ctx: RenderContext) -> str:
    """The blue-green preview Service: the new version alone, before and after the switch."""
    return f"{ctx.name}-{PREVIEW}"


def ratelimit_name(ctx: RenderContext) -> str:
    return f"{ctx.name}-ratelimit"


def common_labels(ctx: RenderContext) -> dict[str, str]:
    """Labels on every child: who owns it and which model it serves."""
    return {
        LABEL_NAME: ctx.spec.model.name,
        LABEL_INSTANCE: ctx.name,
        LABEL_COMPONENT: COMPONENT,
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def service_selector(ctx: RenderContext) -> dict[str, str]:
    """Pods of both tracks: with replica-ratio routing the Service spreads over all of them."""
    return {LABEL_INSTANCE: ctx.name, LABEL_COMPONENT: COMPONENT}


def track_selector(ctx: RenderContext, track: Track) -> dict[str, str]:
    """A Deployment's selector. Immutable in Kubernetes, so it never holds the version."""
    return {**service_selector(ctx), LABEL_TRACK: track.value}


def owner_reference(ctx: RenderContext) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": ctx.name,
        "uid": ctx.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(
    ctx: RenderContext, name: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": ctx.namespace,
        "labels": {**common_labels(ctx), **(labels or {})},
        "ownerReferences": [owner_reference(ctx)],
    }
