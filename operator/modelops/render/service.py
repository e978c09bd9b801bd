"""The Service clients call: port 80 -> the pods' ``http`` port, or the rate-limit gateway's
port when ``spec.rateLimit`` puts the gateway in front of the model."""

from typing import Any

from modelops.render.context import RenderContext, Track
from modelops.render.forwarding import uses_gateway_routing
from modelops.render.meta import object_meta, service_selector, track_selector
from modelops.render.pod import PORT_NAME
from modelops.render.sidecar import GATEWAY_PORT_NAME

SERVICE_PORT = 80


def service(ctx: RenderContext) -> dict[str, Any]:
    """The main Service: both tracks, so replica-ratio routing needs nothing else. With
    ``gateway`` routing, stable's pods alone: their gateways forward the canary's share."""
    if uses_gateway_routing(ctx):
        return cluster_ip_service(ctx, ctx.name, track_selector(ctx, Track.STABLE))
    return cluster_ip_service(ctx, ctx.name, service_selector(ctx))


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
