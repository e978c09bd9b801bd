"""What the pods need for ``gateway`` routing: the split as a file, and the forwarding key.

The split lives in the ``<name>-routing`` ConfigMap (rendered by the ``gateway`` provider),
mounted beside the rate-limit policy; the gateway polls it. The HMAC key that proves a
request was forwarded by a pod of this ModelService lives in the ``<name>-gateway-key``
Secret, which the operator creates once with a random key and never reads (its RBAC has only
``create`` on Secrets): only the kubelet and the pods see the key. Both volumes are optional,
so a pod starts before they exist; without the key its gateway never forwards and trusts no
mark, so it serves every request itself.
"""

import hashlib
from typing import Any

from modelops.render.context import RenderContext
from modelops.render.meta import object_meta

ROUTING_KEY = "routing.yaml"
ROUTING_VOLUME = "gateway-routing"
ROUTING_DIR = "/etc/modelops/routing"
KEY_FIELD = "key"
KEY_VOLUME = "gateway-key"
KEY_DIR = "/etc/modelops/gateway-key"


def routing_name(ctx: RenderContext) -> str:
    return f"{ctx.name}-routing"


def key_secret_name(ctx: RenderContext) -> str:
    return f"{ctx.name}-gateway-key"


def uses_gateway_routing(ctx: RenderContext) -> bool:
    return ctx.spec.routing_provider == "gateway" and ctx.spec.rate_limit is not None


def track_url(ctx: RenderContext, track: str, port: int) -> str:
    """A track's Service by its fully qualified name (trailing dot: no DNS search list, so a
    deleted Service fails at once instead of after a query per search domain)."""
    host = f"{ctx.name}-{track}.{ctx.namespace}.svc.cluster.local."
    return f"http://{host}:{port}"


def forwarding_args() -> list[str]:
    return ["--routing", f"{ROUTING_DIR}/{ROUTING_KEY}", "--forward-key", f"{KEY_DIR}/{KEY_FIELD}"]


def forwarding_mounts() -> list[dict[str, Any]]:
    return [
        {"name": ROUTING_VOLUME, "mountPath": ROUTING_DIR, "readOnly": True},
        {"name": KEY_VOLUME, "mountPath": KEY_DIR, "readOnly": True},
    ]


def forwarding_volumes(ctx: RenderContext) -> list[dict[str, Any]]:
    return [
        {"name": ROUTING_VOLUME, "configMap": {"name": routing_name(ctx), "optional": True}},
        {
            "name": KEY_VOLUME,
            "secret": {"secretName": key_secret_name(ctx), "optional": True},
        },
    ]


# On the pods: the split their gateway should have (a digest of the routing file). Writing it
# makes the kubelet sync the pod, which refreshes its ConfigMap volumes at once instead of at
# its next periodic sync (a minute or more): the new split is in force within about a second.
ANNOTATION_ROUTING = "modelops.dev/routing"


def routing_digest(routing_configmap: dict[str, Any]) -> str:
    data = routing_configmap.get("data", {}).get(ROUTING_KEY, "")
    return hashlib.sha256(str(data).encode()).hexdigest()[:12]


def key_secret(ctx: RenderContext, key: str) -> dict[str, Any]:
    """The forwarding key's Secret, created once (never applied, never read back)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(ctx, key_secret_name(ctx)),
        "type": "Opaque",
        "stringData": {KEY_FIELD: key},
    }
