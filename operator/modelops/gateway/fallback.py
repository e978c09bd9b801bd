"""The fallback chain: the model first, then other ModelServices, then a static answer.

Each link is an ``Upstream`` with its own breaker, so a fallback that is failing itself is
skipped like the model is. A request sent to a fallback carries ``FALLBACK_HEADER``: the
fallback's own gateway then tries only its model, so two services that fall back to each
other never pass a request around. ``UPSTREAM_HEADER`` on every answer names the link that
gave it.
"""

from collections.abc import Callable

from multidict import istr

from modelops.api.datapath import StaticResponse
from modelops.gateway.breaker import Breaker
from modelops.gateway.config import GatewayConfig
from modelops.gateway.http_exchange import Response
from modelops.gateway.upstream import FALLBACK_HEADER, Upstream

__all__ = [
    "FALLBACK_HEADER",
    "PRIMARY",
    "STATIC",
    "UPSTREAM_HEADER",
    "chain_upstreams",
    "static_answer",
]

# An istr (the multidict's folded key): set on every answer's headers.
UPSTREAM_HEADER = istr("X-Modelops-Upstream")
PRIMARY = "primary"
STATIC = "static"


def chain_upstreams(config: GatewayConfig, breaker: Callable[[], Breaker]) -> list[Upstream]:
    """The model, the --fallback-upstream URL if any, then each fallback ModelService."""
    upstreams = [Upstream(PRIMARY, config.upstream, breaker())]
    if config.fallback_upstream:
        upstreams.append(Upstream("fallback", config.fallback_upstream, breaker()))
    upstreams.extend(Upstream(name, url, breaker()) for name, url in config.fallbacks)
    return upstreams


def static_answer(static: StaticResponse, headers: dict[str, str]) -> Response:
    """The chain's last link. Limit headers go along: the request was counted."""
    return Response(
        status=static.status,
        body=static.body.encode(),
        headers={**headers, "Content-Type": static.content_type, UPSTREAM_HEADER: STATIC},
    )
