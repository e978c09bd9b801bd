"""Sending a request to the model: primary, then fallback, each behind its own breaker.

Failover happens only before anything has been sent to the client: on a connection error, a
timeout waiting for the answer's headers, a 5xx answer (when another upstream is left), or an
open breaker. Once the answer has started, its outcome is reported to the breaker by the
caller through ``Attempt.finish``.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict

from modelops.gateway.breaker import STATE_VALUES, Breaker
from modelops.gateway.metrics import Metrics

# Headers that describe one connection, not the message (RFC 9110 section 7.6.1), plus the
# ones the proxy rewrites itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def forward_headers(headers: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


@dataclass
class Upstream:
    name: str  # "primary" or "fallback": the metric label, never the URL
    base_url: str
    breaker: Breaker = field(default_factory=Breaker)

    def __post_init__(self) -> None:
        self.root = self.base_url.rstrip("/")  # what a request's path is appended to


class UpstreamFailedError(Exception):
    """No upstream gave an answer; ``timed_out`` picks 504 over 503."""

    def __init__(self, reason: str, timed_out: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.timed_out = timed_out
        # Set when every upstream was skipped by an open breaker: when the first probes.
        self.retry_after = retry_after


@dataclass
class Attempt:
    """An answer that has started; ``finish`` must be called exactly once."""

    upstream: Upstream
    response: aiohttp.ClientResponse
    metrics: Metrics
    done: bool = False

    def finish(self, ok: bool | None) -> None:
        """ok: the answer arrived in full and was not a 5xx; None: the client went away."""
        if self.done:
            return
        self.done = True
        self.response.release()
        breaker = self.upstream.breaker
        if ok is None:
            breaker.abandon()
        elif ok:
            breaker.success()
        else:
            breaker.failure(time.monotonic())
            self.metrics.upstream_failures.labels(self.upstream.name, "stream").inc()
        self.metrics.breaker(self.upstream.name).set(STATE_VALUES[breaker.state])


class UpstreamChain:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        upstreams: list[Upstream],
        timeout: float,
        metrics: Metrics,
    ) -> None:
        self.session = session
        self.upstreams = upstreams
        # No total timeout: a streamed answer may run for minutes. The limit is on silence:
        # connecting, waiting for the headers, and each gap between chunks.
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self.metrics = metrics
        for upstream in upstreams:
            metrics.breaker(upstream.name).set(0)

    def _failed(self, upstream: Upstream, reason: str) -> None:
        upstream.breaker.failure(time.monotonic())
        self.metrics.upstream_failures.labels(upstream.name, reason).inc()
        self.metrics.breaker(upstream.name).set(STATE_VALUES[upstream.breaker.state])

    async def open(
        self, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> Attempt:
        reason, timed_out = "all upstream circuit breakers are open", False
        tried = False
        for position, upstream in enumerate(self.upstreams):
            is_last = position == len(self.upstreams) - 1
            if not upstream.breaker.allow(time.monotonic()):
                self.metrics.breaker(upstream.name).set(STATE_VALUES[upstream.breaker.state])
                continue
            tried = True
            try:
                response = await self.session.request(
                    method,
                    upstream.root + path_qs,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    timeout=self.timeout,
                )
            except TimeoutError:
                self._failed(upstream, "timeout")
                reason, timed_out = f"{upstream.name} upstream timed out", True
                continue
            except (aiohttp.ClientError, OSError):
                self._failed(upstream, "connect")
                reason, timed_out = f"{upstream.name} upstream unreachable", False
                continue
            if response.status >= 500 and not is_last:
                response.release()
                self._failed(upstream, f"http_{response.status}")
                reason, timed_out = f"{upstream.name} upstream answered {response.status}", False
                continue
            return Attempt(upstream, response, self.metrics)
        if tried:
            raise UpstreamFailedError(reason, timed_out)
        now = time.monotonic()
        wait = min(u.breaker.opened_at + u.breaker.cooldown - now for u in self.upstreams)
        raise UpstreamFailedError(reason, timed_out, max(wait, 0.0))
