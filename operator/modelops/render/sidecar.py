"""The rate-limit gateway sidecar: with ``spec.rateLimit`` set, every model pod gets the
modelops gateway in front of the model container. The Service then targets the gateway, the
policy comes from the ``<name>-ratelimit`` ConfigMap as a file (reloaded when it changes), and
Prometheus scrapes the gateway's per-track metrics (what the canary analysis presets query)."""

from typing import Any

from modelops.api.spec import ModelServiceSpec
from modelops.render.context import RenderContext, Track
from modelops.render.datapath import gateway_extras, keys_volume
from modelops.render.meta import ratelimit_name
from modelops.render.ratelimit import POLICY_KEY
from modelops.render.redis_secrets import redis_ca_args, redis_ca_mounts, redis_env

GATEWAY_CONTAINER = "gateway"
GATEWAY_PORT = 9000
GATEWAY_PORT_NAME = "gateway"
POLICY_VOLUME = "ratelimit-policy"
POLICY_DIR = "/etc/modelops/ratelimit"


def gateway_container(
    ctx: RenderContext, spec: ModelServiceSpec, track: Track, security: dict[str, Any]
) -> dict[str, Any]:
    readiness = spec.probes.readiness.path if spec.probes and spec.probes.readiness else "/"
    extra_args, extra_mounts = gateway_extras(ctx, spec)
    redis = spec.rate_limit.redis if spec.rate_limit else None
    container: dict[str, Any] = {
        "name": GATEWAY_CONTAINER,
        "image": ctx.gateway_image,
        "command": ["modelops", "gateway"],
        "args": [
            "--listen",
            f"0.0.0.0:{GATEWAY_PORT}",
            "--upstream",
            f"http://127.0.0.1:{spec.model.port}",
            "--policy",
            f"{POLICY_DIR}/{POLICY_KEY}",
            "--readiness-path",
            readiness,
            "--track",
            track.value,
            *extra_args,
            *redis_ca_args(redis),
        ],
        "ports": [{"name": GATEWAY_PORT_NAME, "containerPort": GATEWAY_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": GATEWAY_PORT_NAME},
            "periodSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": GATEWAY_PORT_NAME},
            "periodSeconds": 10,
        },
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {**security, "readOnlyRootFilesystem": True},
        "volumeMounts": [
            {"name": POLICY_VOLUME, "mountPath": POLICY_DIR, "readOnly": True},
            *extra_mounts,
            *redis_ca_mounts(redis),
        ],
    }
    env = redis_env(redis)
    if env:
        container["env"] = env
    return container


def policy_volume(ctx: RenderContext) -> dict[str, Any]:
    return {"name": POLICY_VOLUME, "configMap": {"name": ratelimit_name(ctx)}}


def gateway_volumes(ctx: RenderContext, spec: ModelServiceSpec) -> list[dict[str, Any]]:
    """The policy ConfigMap, and the API keys' Secret when ``rateLimit.auth`` names one."""
    return [policy_volume(ctx), *keys_volume(spec)]
