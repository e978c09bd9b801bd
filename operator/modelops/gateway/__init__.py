"""The rate-limit gateway: a sidecar reverse proxy in front of each model server.

It limits requests and LLM tokens per client, tier and globally over a sliding window (in
memory, or shared through Redis), protects the model (body size, timeouts, circuit breaker,
fallback upstream) and exposes health, readiness and Prometheus metrics. ``limiter``,
``breaker``, ``policy`` and ``usage`` are pure; ``server`` and the backends do the I/O.

Importing this package loads no HTTP or Redis library, so the operator can use
``modelops.gateway.policy`` (the ConfigMap format) without them.
"""


def main(argv: list[str] | None = None) -> int:
    """``modelops gateway``: parse flags and serve until SIGTERM."""
    from modelops.gateway.app import main as run  # noqa: PLC0415 - keep aiohttp out of importers

    return run(argv)


__all__ = ["main"]
