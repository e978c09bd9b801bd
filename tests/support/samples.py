"""ModelService documents for tests."""

import copy
from typing import Any


def model_service(name: str, version: str = "1.0.0", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": {
            "name": "demo-model",
            "version": version,
            "image": f"registry.invalid/demo:{version}",
            "port": 8080,
        },
        "replicas": 2,
    }
    body.update(copy.deepcopy(spec))
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name},
        "spec": body,
    }


def full_model_service(name: str, version: str = "1.0.0") -> dict[str, Any]:
    """Autoscaling, probes and rate limits: every child kind."""
    return model_service(
        name,
        version,
        autoscaling={"minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 70},
        probes={"readiness": {"path": "/ready"}, "liveness": {"path": "/health"}},
        rateLimit={
            "requestsPerMinute": 100,
            "tiers": [{"name": "free", "requestsPerMinute": 10, "tokensPerMinute": 1000}],
            "defaultTier": "free",
            # More than one replica: the counts must be shared (admission refuses otherwise).
            "redis": {"address": "redis.invalid:6379"},
        },
    )
