"""Sending a request to the model: primary, then the fallbacks, each behind its own breaker.

Failover happens only before anything has been sent to the client: on a connection error, a
timeout waiting for the answer's headers, a 5xx answer (when another upstream is left), or an
open breaker. Before failing over, connect errors and 502/503 answers are retried on the same
upstream as ``RetryPolicy`` says (modelops.gateway.retry). Once the answer has started, its
outcome is reported to the breaker by the caller through ``Attempt.finish``.
"""

import asyncio
import time
from dataclasses import dataclass, field

from multidict import CIMultiDict, istr

from modelops.gateway.breaker import STATE_VALUES, Breaker
from modelops.gateway.http_client import (
    Answer,
    ConnectError,
    ConnectionPool,
    ConnectTimeoutError,
    HttpClientError,
    Timeouts,
    split_url,
)
from modelops.gateway.metrics import Metrics
from modelops.gateway.retry import RETRYABLE_STATUSES, RetryPolicy

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


# Marks a request sent to a fallback: that gateway then tries only its own model.
# An istr (the multidict's folded key): looked up in every request's headers.
FALLBACK_HEADER = istr("X-Modelops-Fallback")


# The same names as keys the multidict compares without folding their case again.
_HOP_BY_HOP_KEYS = tuple(istr(name) for name in sorted(HOP_BY_HOP))


def forward_headers(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    """A copy without the hop-by-hop headers. Copied in C, then the few to drop taken out,
    each looked up by its ``istr`` (the multidict's hashed, case-folded key): lower-casing
    every header's name instead cost three times as much, rebuilding it header by header
    in Python six."""
    forwarded = headers.copy()
    for name in _HOP_BY_HOP_KEYS:
        if name in forwarded:
            del forwarded[name]  # every header of that name
    return forwarded


@dataclass
class Upstream:
    # "primary", "fallback" or a fallback ModelService's name: the metric label and the
    # X-Modelops-Upstream answer header, never the URL.
    name: str
    base_url: str
    breaker: Breaker = field(default_factory=Breaker)

    def __post_init__(self) -> None:
        # Where to connect, and the path a request's own is appended to.
        self.origin, self.prefix = split_url(self.base_url)


class UpstreamFailedError(Exception):
    """No upstream gave an answer; ``timed_out`` picks 504 over 503."""

    def __init__(self, reason: str, timed_out: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.timed_out = timed_out
        # Set when every upstream was skipped by an open breaker: when the first probes.
        self.retry_after = retry_after


class Attempt:
    """An answer that has started; ``finish`` must be called exactly once. A plain class, as
    ``server.Exchange`` (one per request: no ``__init__`` written by ``dataclasses``)."""

    def __init__(self, upstream: Upstream, response: Answer, metrics: Metrics) -> None:
        self.upstream = upstream
        self.response = response
        self.metrics = metrics
        self.done = False

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
        self.metrics.show_breaker(self.upstream.name, STATE_VALUES[breaker.state])


class UpstreamChain:
    def __init__(
        self,
        pool: ConnectionPool,
        upstreams: list[Upstream],
        timeout: float,
        metrics: Metrics,
        *,
        connect_timeout: float | None = None,
        total_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        answer_follows: bool = False,
    ) -> None:
        """``answer_follows``: the caller has an answer of its own (a static response) when
        the chain fails, so even the last upstream's 5xx is a failure to pass over."""
        self.pool = pool
        self.upstreams = upstreams
        # No total timeout unless asked: a streamed answer may run for minutes. The limit is
        # on silence: connecting, waiting for the headers, and each gap between chunks.
        self.timeouts = Timeouts(
            connect=timeout if connect_timeout is None else connect_timeout,
            read=timeout,
            total=total_timeout,
        )
        self.metrics = metrics
        self.retry = retry or RetryPolicy()
        self.answer_follows = answer_follows
        for upstream in upstreams:
            metrics.show_breaker(upstream.name, 0)

    def _failed(self, upstream: Upstream, reason: str) -> None:
        upstream.breaker.failure(time.monotonic())
        self.metrics.upstream_failures.labels(upstream.name, reason).inc()
        self.metrics.show_breaker(upstream.name, STATE_VALUES[upstream.breaker.state])

    async def open(
        self,
        method: str,
        path_qs: str,
        headers: CIMultiDict[str],
        body: bytes,
        *,
        primary_only: bool = False,
    ) -> Attempt:
        """The first answer whose status line arrived; ``primary_only``: no fallbacks (the
        request is itself another gateway's fallback, so chains never loop)."""
        reason, timed_out = "all upstream circuit breakers are open", False
        tried = False
        upstreams = self.upstreams[:1] if primary_only else self.upstreams
        for position, upstream in enumerate(upstreams):
            is_last = position == len(upstreams) - 1 and (primary_only or not self.answer_follows)
            sent = headers
            if position:
                sent = headers.copy()
                sent[FALLBACK_HEADER] = "1"
            for retry in range(self.retry.attempts + 1):
                if retry:
                    await asyncio.sleep(self.retry.delay(retry - 1))
                if not upstream.breaker.allow(time.monotonic()):
                    self.metrics.show_breaker(upstream.name, STATE_VALUES[upstream.breaker.state])
                    break
                tried = True
                try:
                    response = await self.pool.request(
                        upstream.origin,
                        method,
                        upstream.prefix + path_qs,
                        sent,
                        body,
                        self.timeouts,
                    )
                except ConnectTimeoutError:
                    self._failed(upstream, "timeout")
                    reason, timed_out = f"{upstream.name} upstream timed out", True
                    continue  # never connected: the request was not sent, retry
                except TimeoutError:
                    self._failed(upstream, "timeout")
                    reason, timed_out = f"{upstream.name} upstream timed out", True
                    break  # sent, and maybe being worked on: not retried
                except ConnectError:
                    self._failed(upstream, "connect")
                    reason, timed_out = f"{upstream.name} upstream unreachable", False
                    continue
                except (HttpClientError, OSError):
                    self._failed(upstream, "connect")
                    reason, timed_out = f"{upstream.name} upstream unreachable", False
                    break
                status = response.status
                retryable = status in RETRYABLE_STATUSES and retry < self.retry.attempts
                if retryable or (status >= 500 and not is_last):
                    response.release()
                    self._failed(upstream, f"http_{status}")
                    reason, timed_out = f"{upstream.name} upstream answered {status}", False
                    if retryable:
                        continue
                    break
                return Attempt(upstream, response, self.metrics)
        if tried:
            raise UpstreamFailedError(reason, timed_out)
        now = time.monotonic()
        wait = min(u.breaker.opened_at + u.breaker.cooldown - now for u in upstreams)
        raise UpstreamFailedError(reason, timed_out, max(wait, 0.0))
