"""``modelops gateway``: command-line flags to a running gateway.

Flags describe the pod (where the model listens, time and size limits, breaker settings); the
limits themselves come from the policy file, which can change while the gateway runs.
"""

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from modelops.api.datapath import StaticResponse
from modelops.gateway.auth import KeysError
from modelops.gateway.config import GatewayConfig
from modelops.gateway.logs import log, setup_logging
from modelops.gateway.policy import PolicyError
from modelops.gateway.server import Gateway


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or GatewayConfig().host, int(port)


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return number


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return number


def _name_url(value: str) -> tuple[str, str]:
    name, sep, url = value.partition("=")
    if not sep or not name or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected NAME=http://HOST:PORT, got {value!r}")
    return name, url


def _static_response(value: str) -> StaticResponse:
    try:
        return StaticResponse.model_validate_json(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a static response: {err}") from err


def _add_data_path_flags(p: argparse.ArgumentParser) -> None:
    """What spec.rateLimit.auth and spec.dataPath render (modelops.render.datapath)."""
    d = GatewayConfig()
    p.add_argument(
        "--keys",
        type=Path,
        default=None,
        help="API keys YAML (reloaded on change); none: unchecked",
    )
    p.add_argument(
        "--fallback",
        type=_name_url,
        action="append",
        default=[],
        help="NAME=URL of a fallback, tried in the order given (repeatable)",
    )
    p.add_argument(
        "--static-response",
        type=_static_response,
        default=None,
        help='JSON {"body", "contentType", "status"}: the answer when every upstream failed',
    )
    p.add_argument(
        "--upstream-connect-timeout",
        type=_positive,
        default=None,
        help="seconds to connect to an upstream (default: --upstream-timeout)",
    )
    p.add_argument(
        "--upstream-total-timeout",
        type=_positive,
        default=None,
        help="seconds for a whole answer, streamed ones included (default: no limit)",
    )
    p.add_argument(
        "--retries",
        type=_non_negative_int,
        default=d.retries,
        help="retries of an upstream after a connect error, 502 or 503",
    )
    p.add_argument(
        "--retry-backoff",
        type=_positive,
        default=d.retry_backoff,
        help="seconds before the first retry, doubled each next one (full jitter)",
    )
    p.add_argument(
        "--retry-max-backoff", type=_positive, default=d.retry_max_backoff, help="backoff cap"
    )
    p.add_argument(
        "--max-message-chars",
        type=_positive_int,
        default=None,
        help="chat completions: most characters of one message -> else 400",
    )
    p.add_argument(
        "--max-tokens",
        type=_positive_int,
        default=None,
        help="chat completions: largest max_tokens -> else 400",
    )


def build_parser() -> argparse.ArgumentParser:
    d = GatewayConfig()
    p = argparse.ArgumentParser(
        prog="modelops gateway",
        description="Rate-limit gateway: a reverse proxy in front of a model server.",
    )
    p.add_argument(
        "--listen",
        type=_host_port,
        default=(d.host, d.port),
        help="HOST:PORT to serve on (default 0.0.0.0:9000)",
    )
    p.add_argument("--upstream", default=d.upstream, help="model server base URL")
    p.add_argument(
        "--fallback-upstream",
        default=None,
        help="base URL tried when the upstream fails or its breaker is open",
    )
    p.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="RateLimit policy YAML (reloaded on change); none: no limits",
    )
    p.add_argument(
        "--upstream-timeout",
        type=_positive,
        default=d.upstream_timeout,
        help="seconds of upstream silence (connect, headers, between chunks) -> 504",
    )
    p.add_argument(
        "--client-idle-timeout",
        type=_positive,
        default=d.client_idle_timeout,
        help="seconds a connection may take to send complete request headers, sit idle, "
        "or read nothing of a streamed answer",
    )
    p.add_argument(
        "--client-body-timeout",
        type=_positive,
        default=d.client_body_timeout,
        help="seconds a client may take to send its request body -> 408",
    )
    p.add_argument(
        "--max-body-bytes", type=int, default=d.max_body_bytes, help="larger request bodies get 400"
    )
    p.add_argument(
        "--readiness-path", default=d.readiness_path, help="upstream path that /readyz asks"
    )
    p.add_argument(
        "--track",
        choices=["stable", "canary"],
        default=os.environ.get("MODELOPS_TRACK", d.track),
        help="metric label (default: $MODELOPS_TRACK or stable)",
    )
    p.add_argument(
        "--breaker-failures",
        type=int,
        default=d.breaker_failures,
        help="consecutive upstream failures that open the breaker",
    )
    p.add_argument(
        "--breaker-cooldown",
        type=_positive,
        default=d.breaker_cooldown,
        help="seconds an open breaker waits before a probe request",
    )
    p.add_argument(
        "--policy-poll-interval",
        type=_positive,
        default=d.policy_poll_interval,
        help="seconds between checks of the policy file",
    )
    p.add_argument(
        "--redis-timeout",
        type=_positive,
        default=d.redis_timeout,
        help="seconds to wait for Redis before failureMode applies",
    )
    p.add_argument(
        "--redis-ca-file",
        type=Path,
        default=None,
        help="PEM CA that signed Redis' certificate (TLS); the ACL user and password come "
        "from $MODELOPS_REDIS_USERNAME and $MODELOPS_REDIS_PASSWORD",
    )
    p.add_argument(
        "--max-connections",
        type=_positive_int,
        default=d.max_connections,
        help="most upstream connections in use at once; a streamed answer holds one for as "
        "long as it lasts, further requests wait for one",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=_positive,
        default=d.shutdown_timeout,
        help="seconds in-flight requests get to finish on SIGTERM",
    )
    p.add_argument(
        "--routing",
        type=Path,
        default=None,
        help="traffic split file of gateway routing (reloaded on change); none: serve all here",
    )
    p.add_argument(
        "--forward-key",
        type=Path,
        default=None,
        help="HMAC key file that marks forwarded requests; none: never forward",
    )
    p.add_argument(
        "--routing-poll-interval",
        type=_positive,
        default=d.routing_poll_interval,
        help="seconds between checks of the routing and key files",
    )
    p.add_argument("--log-level", default="INFO")
    _add_data_path_flags(p)
    return p


def config_from_args(args: argparse.Namespace) -> GatewayConfig:
    host, port = args.listen
    return GatewayConfig(
        upstream=args.upstream,
        host=host,
        port=port,
        fallback_upstream=args.fallback_upstream,
        policy_path=args.policy,
        upstream_timeout=args.upstream_timeout,
        client_idle_timeout=args.client_idle_timeout,
        client_body_timeout=args.client_body_timeout,
        max_body_bytes=args.max_body_bytes,
        readiness_path=args.readiness_path,
        track=args.track,
        breaker_failures=args.breaker_failures,
        breaker_cooldown=args.breaker_cooldown,
        policy_poll_interval=args.policy_poll_interval,
        redis_timeout=args.redis_timeout,
        redis_ca_file=args.redis_ca_file,
        shutdown_timeout=args.shutdown_timeout,
        max_connections=args.max_connections,
        keys_path=args.keys,
        fallbacks=tuple(args.fallback),
        static_response=args.static_response,
        upstream_connect_timeout=args.upstream_connect_timeout,
        upstream_total_timeout=args.upstream_total_timeout,
        retries=args.retries,
        retry_backoff=args.retry_backoff,
        retry_max_backoff=args.retry_max_backoff,
        max_message_chars=args.max_message_chars,
        max_tokens=args.max_tokens,
        routing_path=args.routing,
        forward_key_path=args.forward_key,
        routing_poll_interval=args.routing_poll_interval,
    )


async def serve(config: GatewayConfig, gateway: Gateway) -> None:
    """Serve until SIGTERM or SIGINT, then let requests in flight finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with gateway.serving():
        # What start-up made (modules, the gateway, the policy) lives as long as the process:
        # keep it out of the collector, or each full collection walks all of it and stalls
        # every request in flight for 20-40 ms.
        gc.collect()
        gc.freeze()
        log.info("gateway listening on %s:%d -> %s", config.host, config.port, config.upstream)
        await stop.wait()
        log.info("gateway stopping")


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed: its event loop and transports cost a good part less CPU per
    proxied request than asyncio's own; without it the standard loop serves the same."""
    try:
        import uvloop  # noqa: PLC0415 - optional, so imported only where it is used
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    config = config_from_args(args)
    try:
        gateway = Gateway(config)
    except (PolicyError, KeysError) as err:
        print(f"modelops gateway: {err}", file=sys.stderr)
        return 2
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=event_loop_factory()) as run,
    ):
        run.run(serve(config, gateway))
    return 0
