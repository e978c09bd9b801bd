"""The Service clients call: port 80 -> the pods' ``http`` port, or the rate-limit gateway's
port when ``spec.rateLimit`` puts the gateway in front of the model."""

from typing import Any

from modelops.render.context import RenderContext, Track
from modelops.render.forwarding import uses_gateway_routing
from modelops.render.meta import object_meta, preview_name, service_selector, track_selector
from modelops.render.pod import PORT_NAME
from modelops.render.sidecar import GATEWAY_PORT_NAME

SERVICE_PORT = 80


def service(ctx: RenderContext) -> dict[str, Any]:
    """The main Service: both tracks, so replica-ratio routing needs nothing else. With
    ``gateway`` routing, stable's pods alone: their gateways forward the canary's share.
    Blue-green: one track at a time, both being at full size (see ``serving_track``)."""
    if ctx.spec.is_blue_green:
        return cluster_ip_service(ctx, ctx.name, track_selector(ctx, serving_track(ctx)))
    if uses_gateway_routing(ctx):
        return cluster_ip_service(ctx, ctx.name, track_selector(ctx, Track.STABLE))
    return cluster_ip_service(ctx, ctx.name, service_selector(ctx))


def serving_track(ctx: RenderContext) -> Track:
    """The track the main Service selects under blue-green. Replica-ratio routing cannot
    carry 0% or 100% with both tracks at full size, so the selector names the track that
    takes all traffic: the canary once switched (and under ``replicas`` routing only then);
    stable otherwise, so a rollback pins it to stable before the canary's pods go. The other
    providers weigh per track behind it: ``gateway`` keeps stable's pods (their gateways
    forward), gatewayAPI and istio route past the main Service."""
    switched = ctx.canary_spec is not None and ctx.canary_weight >= 100
    replicas = ctx.spec.routing_provider == "replicas"
    return Track.CANARY if switched and replicas else Track.STABLE


def preview_service(ctx: RenderContext) -> dict[str, Any]:
    """``<name>-preview``: the blue-green canary's pods alone, for gates, analysis and people
    to try the new version before (and after) the switch."""
    return cluster_ip_service(ctx, preview_name(ctx), track_selector(ctx, Track.CANARY))


def cluster_ip_service(
    ctx: RenderContext, name: str, selector: dict[str, str], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """One shape for every Service we own (main and per-track), so their ports never drift."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(ctx, name, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": SERVICE_PORT,
                    "targetPort": GATEWAY_PORT_NAME if ctx.spec.rate_limit else PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }
