"""ModelServices routed by Gateway API or Istio, and RenderContexts with a canary at a weight."""

import dataclasses
from typing import Any

from modelops.manifests import parse_model_service
from modelops.render import RenderContext
from tests.support.samples import model_service

GATEWAY_API = {
    "gatewayAPI": {
        "parentRefs": [{"name": "public", "namespace": "gateways"}],
        "hostnames": ["sentiment.example.com"],
    }
}
ISTIO = {"istio": {"gateways": ["istio-system/public"]}}


def routed_context(
    routing: dict[str, Any],
    weight: int | None,
    name: str = "sentiment",
    namespace: str = "ml",
    uid: str = "uid-1",
) -> RenderContext:
    """``weight`` None: no canary runs; otherwise a canary (version 2.0.0) at that weight."""
    document = model_service(
        name,
        rollout={"steps": [{"weight": 10}, {"weight": 50}], "trafficRouting": routing},
    )
    document["metadata"].update(namespace=namespace, uid=uid)
    steady = RenderContext.steady(parse_model_service(document))
    if weight is None:
        return steady
    canary = parse_model_service(model_service(name, "2.0.0")).spec
    return dataclasses.replace(steady, canary_spec=canary, canary_weight=weight)
