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

from aiohttp import web

from modelops.gateway.config import GatewayConfig
from modelops.gateway.logs import log, setup_logging
from modelops.gateway.policy import PolicyError
from modelops.gateway.server import Gateway

LISTEN_BACKLOG = 4096


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or GatewayConfig.host, int(port)


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return number


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
        "--max-body-bytes", type=int, default=d.max_body_bytes, help="larger request bodies get 413"
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
        "--shutdown-timeout",
        type=_positive,
        default=d.shutdown_timeout,
        help="seconds in-flight requests get to finish on SIGTERM",
    )
    p.add_argument("--log-level", default="INFO")
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
    )


async def serve(config: GatewayConfig, gateway: Gateway) -> None:
    """Serve until SIGTERM or SIGINT, then let requests in flight finish."""
    runner = web.AppRunner(
        gateway.app(),
        access_log=None,
        shutdown_timeout=config.shutdown_timeout,
        # aiohttp closes a connection still without a complete request after this long:
        # the bound on slow-header clients (its default is an hour).
        keepalive_timeout=config.client_idle_timeout,
    )
    await runner.setup()
    # A burst of new client connections while the loop is busy must wait in the accept queue,
    # not be dropped: a dropped SYN is retried after a second (aiohttp's default is 128).
    await web.TCPSite(runner, config.host, config.port, backlog=LISTEN_BACKLOG).start()
    # What start-up made (modules, the app, the policy) lives as long as the process: keep it
    # out of the collector, or each full collection walks all of it and stalls every request
    # in flight for 20-40 ms.
    gc.collect()
    gc.freeze()
    log.info("gateway listening on %s:%d -> %s", config.host, config.port, config.upstream)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("gateway stopping")
        await runner.cleanup()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
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
    except PolicyError as err:
        print(f"modelops gateway: {err}", file=sys.stderr)
        return 2
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=_loop_factory()) as run,
    ):
        run.run(serve(config, gateway))
    return 0
