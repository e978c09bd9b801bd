"""Istio routing: a VirtualService with one weighted destination per track.

Destinations name the per-track Services by their cluster FQDN so the VirtualService works
from any namespace (a gateway's, for instance). Without a canary only the stable destination is
rendered, at weight 100: Istio wants the weights of a route to add up to 100, and a destination
whose Service does not exist is flagged by ``istioctl analyze`` even at weight 0.
"""

from typing import Any

from modelops.api import spec as api
from modelops.render.context import RenderContext
from modelops.render.routing.track_services import (
    SERVICE_PORT,
    TrackRouting,
    header_matches,
    weighted_backends,
)


def cluster_host(ctx: RenderContext, service: str) -> str:
    return f"{service}.{ctx.namespace}.svc.cluster.local"


class IstioRouting(TrackRouting):
    api_version = "networking.istio.io/v1"
    kind = "VirtualService"

    def __init__(self, config: api.IstioRouting) -> None:
        self.config = config

    def route_spec(self, ctx: RenderContext) -> dict[str, Any]:
        # Unset hosts: the main Service's name, so in-mesh clients calling it get the split.
        spec: dict[str, Any] = {"hosts": list(self.config.hosts or [cluster_host(ctx, ctx.name)])}
        if self.config.gateways:
            spec["gateways"] = list(self.config.gateways)
        routes = [
            {
                "destination": {"host": cluster_host(ctx, name), "port": {"number": SERVICE_PORT}},
                "weight": weight,
            }
            for name, weight in weighted_backends(ctx)
        ]
        weighted: dict[str, Any] = {"route": routes}
        if ctx.mirror and ctx.canary_spec is not None:
            # A mirror step: Istio sends the copies and discards their answers.
            weighted["mirror"] = routes[-1]["destination"]
            weighted["mirrorPercentage"] = {"value": float(ctx.mirror)}
        spec["http"] = [*self.match_routes(ctx, routes), weighted]
        return spec

    @staticmethod
    def match_routes(ctx: RenderContext, routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rollout.match``: matching requests all to the canary, ahead of the weighted route
        (Istio takes the first http route that matches; match entries are ORed)."""
        matches = header_matches(ctx)
        if not matches:
            return []
        canary = {**routes[-1], "weight": 100}
        return [
            {
                "match": [{"headers": {header: {"exact": value}}} for header, value in matches],
                "route": [canary],
            }
        ]
