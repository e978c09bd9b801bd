"""The two things ``gateway`` routing needs from the operator beyond applied children.

The forwarding key: a Secret created once per ModelService with a random key (POST; a 409
means it exists). The operator never reads it back (its RBAC grants only ``create`` on
Secrets), so no Secret value ever passes through the operator's memory after creation, its
cache or its logs; the ownerReference deletes it with the ModelService.

The split's speed: after the routing ConfigMap changes, each pod gets an annotation with the
new split's digest. The kubelet syncs a pod whose object changed, refreshing its ConfigMap
volumes, so every gateway reads the new split within about a second instead of after the
kubelet's periodic sync (a minute or more). A rollback does not wait even for that: the
canary's Service goes with the canary, and a gateway that cannot reach it answers itself.
"""

import secrets

from kubernetes.client.exceptions import ApiException

from modelops.kube.client import Kube
from modelops.metrics import API_WRITES
from modelops.render import RenderContext
from modelops.render.forwarding import (
    ANNOTATION_ROUTING,
    key_secret,
    routing_digest,
    routing_name,
    uses_gateway_routing,
)
from modelops.render.meta import service_selector

# Keys created by this process: one POST per ModelService per operator start, not per reconcile.
_created: set[tuple[str, str, str]] = set()


def ensure_key(kube: Kube, ctx: RenderContext) -> None:
    if not uses_gateway_routing(ctx):
        return
    ident = (ctx.namespace, ctx.name, ctx.uid)
    if ident in _created:
        return
    try:
        kube.create(key_secret(ctx, secrets.token_hex(32)))
        API_WRITES.labels("create", "Secret").inc()
    except ApiException as error:
        if error.status != 409:
            raise
    _created.add(ident)


def routing_applied(ctx: RenderContext, applied: list[str]) -> bool:
    return f"ConfigMap/{routing_name(ctx)}" in applied


def announce_split(kube: Kube, ctx: RenderContext, routing: dict[str, object]) -> int:
    """Annotate the pods with the new split's digest; how many were written."""
    digest = routing_digest(routing)
    written = 0
    for pod in kube.list("Pod", ctx.namespace, service_selector(ctx)):
        meta = pod.get("metadata", {})
        if (
            meta.get("deletionTimestamp")
            or (meta.get("annotations") or {}).get(ANNOTATION_ROUTING) == digest
        ):
            continue
        try:
            kube.patch_metadata(
                "Pod", ctx.namespace, meta["name"], {"annotations": {ANNOTATION_ROUTING: digest}}
            )
        except ApiException as error:
            if error.status != 404:  # a pod that went meanwhile needs nothing
                raise
            continue
        API_WRITES.labels("patch", "Pod").inc()
        written += 1
    return written
