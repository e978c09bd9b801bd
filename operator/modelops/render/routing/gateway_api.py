"""Gateway API routing: an HTTPRoute whose backendRefs carry the stable and canary weights.

Without a canary the canary backendRef is left out rather than kept at weight 0: its Service
does not exist then, and a reference to a missing Service makes gateways report the route as
``ResolvedRefs=False`` (BackendNotFound) even though no request would go there.
"""

import copy
from typing import Any

from modelops.api import spec as api
from modelops.render.context import RenderContext
from modelops.render.routing.track_services import (
    SERVICE_PORT,
    TrackRouting,
    header_matches,
    weighted_backends,
)


class GatewayApiRouting(TrackRouting):
    api_version = "gateway.networking.k8s.io/v1"
    kind = "HTTPRoute"

    def __init__(self, config: api.GatewayApiRouting) -> None:
        self.config = config

    def route_spec(self, ctx: RenderContext) -> dict[str, Any]:
        # Copied: the spec model is shared; callers may mutate what we return.
        spec: dict[str, Any] = {"parentRefs": copy.deepcopy(self.config.parent_refs)}
        if self.config.hostnames:
            spec["hostnames"] = list(self.config.hostnames)
        backends = [
            # group and kind are the API server's defaults, written out so that the live
            # object contains exactly what we render (no drift, no needless writes).
            {"group": "", "kind": "Service", "name": name, "port": SERVICE_PORT, "weight": weight}
            for name, weight in weighted_backends(ctx)
        ]
        weighted: dict[str, Any] = {"backendRefs": backends}
        if ctx.mirror and ctx.canary_spec is not None:
            # A mirror step: the RequestMirror filter (its percent field: Gateway API v1.2+).
            mirror_ref = {k: v for k, v in backends[-1].items() if k != "weight"}
            weighted["filters"] = [
                {
                    "type": "RequestMirror",
                    "requestMirror": {"backendRef": mirror_ref, "percent": ctx.mirror},
                }
            ]
        spec["rules"] = [*self.match_rules(ctx, backends), weighted]
        return spec

    @staticmethod
    def match_rules(ctx: RenderContext, backends: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rollout.match``: one rule sending matching requests all to the canary (a rule with
        header matches takes precedence over the rule without)."""
        matches = header_matches(ctx)
        if not matches:
            return []
        canary = {**backends[-1], "weight": 1}
        return [
            {
                "matches": [
                    {"headers": [{"type": "Exact", "name": header, "value": value}]}
                    for header, value in matches
                ],
                "backendRefs": [canary],
            }
        ]
