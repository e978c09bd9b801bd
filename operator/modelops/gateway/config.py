"""Settings of one gateway process: command-line flags, not policy.

The policy (limits) changes at run time through the ConfigMap; these describe the pod (where
the model listens, how long to wait for it) and change only with a new pod.
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GatewayConfig:
    upstream: str = "http://127.0.0.1:8080"
    host: str = "0.0.0.0"  # noqa: S104 - a sidecar must answer on the pod IP
    port: int = 9000
    fallback_upstream: str | None = None
    policy_path: Path | None = None
    upstream_timeout: float = 120.0
    max_body_bytes: int = 10 * 1024 * 1024
    readiness_path: str = "/ready"
    readiness_timeout: float = 2.0
    track: str = "stable"
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0
    policy_poll_interval: float = 1.0
    redis_timeout: float = 0.5
    shutdown_timeout: float = 30.0
    max_connections: int = 256
