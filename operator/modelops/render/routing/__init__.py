"""Traffic routing providers: how the canary's share of traffic is made.

One small interface, one module per provider (as Flagger does): ``replicas`` (no mesh: the
Service spreads over both tracks, the weight is the replica ratio), ``gatewayAPI`` (an
HTTPRoute with weighted backendRefs), ``istio`` (a VirtualService with weighted routes) and
``gateway`` (the modelops gateway in each pod forwards the canary's share: exact weights).
A provider renders the extra objects its routing needs; the Deployments and the main Service
are rendered for every provider.
"""

from typing import Any, Protocol

from modelops.api import spec as api
from modelops.api.spec import TrafficRouting
from modelops.render.context import RenderContext
from modelops.render.refs import ChildRef


class RoutingProvider(Protocol):
    """What a provider must say: which objects it owns, and what they look like now."""

    def possible_children(self, ctx: RenderContext) -> list[ChildRef]:
        """Every object this provider may own for ``ctx`` (to delete what is no longer wanted)."""
        ...

    def manifests(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """The objects to apply for ``ctx.canary_weight`` (0 when no canary runs)."""
        ...


def retired_children(ctx: RenderContext) -> list[ChildRef]:
    """The objects of the provider the spec switched away from (``ctx.retired_routing``)."""
    from modelops.render.routing.gateway import GatewayRouting  # noqa: PLC0415
    from modelops.render.routing.gateway_api import GatewayApiRouting  # noqa: PLC0415
    from modelops.render.routing.istio import IstioRouting  # noqa: PLC0415
    from modelops.render.routing.track_services import TrackRouting  # noqa: PLC0415

    providers: dict[str, type[TrackRouting]] = {
        "gatewayAPI": GatewayApiRouting,
        "istio": IstioRouting,
    }
    if ctx.retired_routing == "gateway":
        return GatewayRouting(api.GatewayRouting()).possible_children(ctx)
    retired = providers.get(ctx.retired_routing or "")
    return retired.possible_children(ctx) if retired else []


def provider_for(routing: TrafficRouting) -> RoutingProvider:
    # Imported here to keep each provider in its own module without import cycles.
    from modelops.render.routing.gateway import GatewayRouting  # noqa: PLC0415
    from modelops.render.routing.gateway_api import GatewayApiRouting  # noqa: PLC0415
    from modelops.render.routing.istio import IstioRouting  # noqa: PLC0415
    from modelops.render.routing.replicas import ReplicaRouting  # noqa: PLC0415

    if routing.gateway is not None:
        return GatewayRouting(routing.gateway)
    if routing.gateway_api is not None:
        return GatewayApiRouting(routing.gateway_api)
    if routing.istio is not None:
        return IstioRouting(routing.istio)
    return ReplicaRouting()
