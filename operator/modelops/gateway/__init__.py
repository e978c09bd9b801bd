"""The rate-limit gateway: a sidecar reverse proxy in front of each model server.

It limits requests and LLM tokens per client, tier and globally over a sliding window (in
memory, or shared through Redis), protects the model (body size, timeouts, circuit breaker,
fallback upstream) and exposes health, readiness and Prometheus metrics. ``limiter``,
``breaker``, ``policy`` and ``usage`` are pure; ``server`` and the backends do the I/O.
"""

from modelops.gateway.app import main

__all__ = ["main"]
