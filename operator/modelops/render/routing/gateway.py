"""No mesh, exact weights: the modelops gateway in every pod splits traffic per request.

The main Service selects only the stable pods (render.service); each stable pod's gateway
decides per request whether to answer itself or forward to ``<name>-canary`` (a per-track
Service), from the split this provider renders into the ``<name>-routing`` ConfigMap. Without
a canary the file names stable alone at weight 0: a rollback is in force in every gateway at
once, as the canary's Service is deleted with it (a gateway that cannot reach the canary
serves the request itself).
"""

from typing import Any

import yaml

from modelops.api import spec as api
from modelops.render.context import RenderContext
from modelops.render.forwarding import ROUTING_KEY, routing_name, track_url
from modelops.render.meta import object_meta
from modelops.render.refs import ChildRef, ref_of
from modelops.render.routing.track_services import (
    SERVICE_PORT,
    active_tracks,
    canary_weight,
    track_service_refs,
    track_services,
)


def routing_table(ctx: RenderContext, config: api.GatewayRouting) -> dict[str, Any]:
    """What the gateways read (modelops.gateway.routing.parse_table reads it back)."""
    rollout = ctx.spec.rollout
    table: dict[str, Any] = {
        "canaryWeight": canary_weight(ctx),
        "tracks": {
            track.value: track_url(ctx, track.value, SERVICE_PORT) for track in active_tracks(ctx)
        },
    }
    if ctx.canary_spec is not None:
        # Cohorts differ from one rollout to the next, and hold within one.
        table["seed"] = ctx.canary_spec.model.version
        if ctx.mirror:
            table["mirror"] = ctx.mirror
    if config.sticky_header:
        table["stickyHeader"] = config.sticky_header
    if rollout and rollout.match and ctx.canary_spec is not None:
        table["match"] = [match.to_api() for match in rollout.match]
    return table


class GatewayRouting:
    def __init__(self, config: api.GatewayRouting) -> None:
        self.config = config

    def possible_children(self, ctx: RenderContext) -> list[ChildRef]:
        return sorted([ChildRef("v1", "ConfigMap", routing_name(ctx)), *track_service_refs(ctx)])

    def manifests(self, ctx: RenderContext) -> list[dict[str, Any]]:
        table = yaml.safe_dump(routing_table(ctx, self.config), sort_keys=True)
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta(ctx, routing_name(ctx)),
            "data": {ROUTING_KEY: table},
        }
        return sorted([configmap, *track_services(ctx)], key=ref_of)
