"""Settings of one gateway process: command-line flags, not policy.

The policy (limits) changes at run time through the ConfigMap; these describe the pod (where
the model listens, how long to wait for it) and change only with a new pod.
"""

from dataclasses import dataclass
from pathlib import Path

from modelops.api.datapath import StaticResponse


@dataclass(frozen=True)
class GatewayConfig:
    upstream: str = "http://127.0.0.1:8080"
    # All interfaces: a sidecar answers on the pod IP.
    host: str = "0.0.0.0"  # noqa: S104  # nosec B104
    port: int = 9000
    fallback_upstream: str | None = None
    policy_path: Path | None = None
    upstream_timeout: float = 120.0
    # Slow clients (a byte a second, slowloris): a connection must complete its request
    # headers within this many seconds of opening (or of its previous answer, when kept
    # alive), and send its whole body within client_body_timeout, or it is closed (408). A
    # client that reads nothing of a streamed answer for client_idle_timeout is cut too.
    # One timer for a request's headers and for keep-alive idleness (as aiohttp had): 75 s (as
    # nginx keeps alive) outlasts the 60 s idle timeout of common load balancers, so they
    # never reuse a connection the gateway has just closed.
    client_idle_timeout: float = 75.0
    client_body_timeout: float = 60.0
    max_body_bytes: int = 10 * 1024 * 1024
    readiness_path: str = "/ready"
    readiness_timeout: float = 2.0
    track: str = "stable"
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0
    policy_poll_interval: float = 1.0
    redis_timeout: float = 0.5
    # The CA that signed Redis' certificate (mounted from the Secret the spec names).
    redis_ca_file: Path | None = None
    shutdown_timeout: float = 30.0
    max_connections: int = 256
    # spec.rateLimit.auth and spec.dataPath (modelops.api.datapath), rendered as flags.
    keys_path: Path | None = None
    # (name, base URL) of each fallback ModelService, in order.
    fallbacks: tuple[tuple[str, str], ...] = ()
    static_response: StaticResponse | None = None
    upstream_connect_timeout: float | None = None  # None: upstream_timeout
    upstream_total_timeout: float | None = None  # None: no limit on a whole answer
    retries: int = 0
    retry_backoff: float = 0.1
    retry_max_backoff: float = 2.0
    max_message_chars: int | None = None
    max_tokens: int | None = None
    # ``gateway`` traffic routing: the split file and the forwarding key (render/forwarding.py).
    routing_path: Path | None = None
    forward_key_path: Path | None = None
    routing_poll_interval: float = 0.25
