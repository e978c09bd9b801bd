"""The ``<name>-ratelimit`` ConfigMap: the policy the modelops gateway enforces, and the same
limits in the envoyproxy/ratelimit format for clusters that already run Envoy."""

from typing import Any

import yaml

from modelops.api.spec import RateLimit
from modelops.render.context import RenderContext
from modelops.render.meta import object_meta, ratelimit_name

POLICY_KEY = "policy.yaml"
ENVOY_KEY = "envoy-ratelimit.yaml"


def _envoy_limit(requests_per_minute: int | None) -> dict[str, Any]:
    if requests_per_minute is None:
        return {}
    return {"rate_limit": {"unit": "minute", "requests_per_unit": requests_per_minute}}


def envoy_config(domain: str, policy: RateLimit) -> dict[str, Any]:
    """Request limits as envoyproxy/ratelimit descriptors: a per-client descriptor under each
    tier, and one for clients in no tier. Envoy's service counts requests, not tokens, so the
    token limits exist only in the gateway's policy."""
    descriptors: list[dict[str, Any]] = [
        {
            "key": "tier",
            "value": tier.name,
            "descriptors": [{"key": "client_id", **_envoy_limit(tier.requests_per_minute)}],
        }
        for tier in policy.tiers or ()
    ]
    descriptors.append({"key": "client_id", **_envoy_limit(policy.requests_per_minute)})
    if policy.global_requests_per_minute is not None:
        descriptors.append(
            {
                "key": "generic_key",
                "value": "global",
                **_envoy_limit(policy.global_requests_per_minute),
            }
        )
    return {"domain": domain, "descriptors": descriptors}


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False)


def dump_policy(policy: RateLimit) -> str:
    """The ConfigMap value the gateway reads back (modelops.gateway.policy.parse_policy)."""
    return _dump(policy.to_api())


def ratelimit_configmap(ctx: RenderContext, policy: RateLimit) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(ctx, ratelimit_name(ctx)),
        "data": {
            POLICY_KEY: dump_policy(policy),
            ENVOY_KEY: _dump(envoy_config(f"{ctx.namespace}.{ctx.name}", policy)),
        },
    }
