"""The running side of ``gateway`` routing: the split in force, the key, and the way out.

The routing file and the key file are polled (stat, as the policy is) every
``routing_poll_interval`` seconds; a file that does not load keeps the previous table in force.
Forwarded requests go through their own connection pool, with a short connect timeout and a
breaker per track: a slow canary cannot take the connections the local model needs, and a
canary that is gone (rolled back, its Service deleted) costs at most the connect timeout
before the gateway serves the request itself, then nothing while the breaker is open.
"""

import asyncio
from collections.abc import Mapping
from pathlib import Path

from multidict import CIMultiDict
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from modelops.gateway.breaker import Breaker
from modelops.gateway.http_client import ConnectionPool, Timeouts
from modelops.gateway.logs import log
from modelops.gateway.mark import MARK_HEADER, sign
from modelops.gateway.metrics import LATENCY_BUCKETS, PREFIX, Metrics
from modelops.gateway.mirror import Mirror
from modelops.gateway.routing import (
    CANARY,
    STABLE,
    RoutingError,
    RoutingTable,
    Spreader,
    choose_track,
    load_table,
)
from modelops.gateway.upstream import Upstream, UpstreamChain, UpstreamFailedError
from modelops.gateway.watcher import Stamp
from modelops.gateway.watcher import _stamp as file_stamp

CONNECT_TIMEOUT = 1.0


class ForwardMetrics:
    """Requests this gateway forwarded, by the track that answered them (that track's gateway
    counts them in the per-track request metrics, so they are not counted twice)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.forwarded = Counter(
            PREFIX + "forwarded",
            "Requests forwarded to another track's gateway, by track and status code.",
            ["track", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            PREFIX + "forwarded_duration_seconds",
            "Time from request to the end of a forwarded answer, hop included.",
            ["track"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.fallbacks = Counter(
            PREFIX + "forward_fallbacks",
            "Requests for another track served here because that track could not be reached.",
            ["track"],
            registry=registry,
        )
        self.table = Counter(
            PREFIX + "routing_reloads",
            "Routing file loads, by result.",
            ["result"],
            registry=registry,
        )
        self.weight = Gauge(
            PREFIX + "routing_canary_weight",
            "The canary's percent in the split in force here (-1: no canary).",
            registry=registry,
        )


class Router:
    def __init__(  # noqa: PLR0917 - the gateway's settings, passed once
        self,
        routing_path: Path,
        key_path: Path | None,
        own_track: str,
        metrics: Metrics,
        upstream_timeout: float,
        mirror_cap: int = 32,
    ) -> None:
        self.routing_path = routing_path
        self.key_path = key_path
        self.own_track = own_track
        self.metrics = metrics
        self.stats = ForwardMetrics(metrics.registry)
        self.upstream_timeout = upstream_timeout
        self.table = RoutingTable(tracks={STABLE: ""})
        self.key: bytes | None = None
        self.spreader = Spreader()
        self.mirror_spreader = Spreader()
        self.mirror = Mirror(metrics.registry, mirror_cap, upstream_timeout)
        self._stamps: tuple[Stamp, Stamp] = (None, None)
        self._pool: ConnectionPool | None = None
        self._chains: dict[str, UpstreamChain] = {}
        self.check()

    # -- files ----------------------------------------------------------------------------

    def check(self) -> None:
        """Reload what changed: the table, the key."""
        stamps = (
            file_stamp(self.routing_path),
            file_stamp(self.key_path) if self.key_path else None,
        )
        if stamps == self._stamps:
            return
        if stamps[0] != self._stamps[0] and stamps[0] is not None:
            try:
                self.table = load_table(self.routing_path)
                self.stats.table.labels("loaded").inc()
                in_force = -1 if self.table.canary_url is None else self.table.canary_weight
                self.stats.weight.set(in_force)
            except RoutingError as err:
                log.error("routing reload failed, keeping the previous split: %s", err)
                self.stats.table.labels("failed").inc()
        if stamps[1] != self._stamps[1] and self.key_path is not None:
            self.key = self._read_key(self.key_path)
        self._stamps = stamps

    @staticmethod
    def _read_key(path: Path) -> bytes | None:
        try:
            key = path.read_bytes().strip()
        except OSError:
            return None
        # Too short a key proves nothing: forward nothing, trust no mark.
        return key if len(key) >= 16 else None

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(self.check)

    # -- decisions ------------------------------------------------------------------------

    def target(self, headers: Mapping[str, str], client_key: str | None) -> str | None:
        """The track to forward to, or None to answer here (also: no key, nothing proven)."""
        if self.key is None:
            return None
        track = choose_track(self.table, headers, client_key, self.spreader)
        if track == self.own_track or not (self.table.tracks or {}).get(track):
            return None
        return track

    def mirror_copy(
        self, tier: str, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> None:
        """Shadow the mirror step's share of what this (stable) gateway answers itself."""
        table, key = self.table, self.key
        url = table.canary_url
        if key is None or url is None or not table.mirror or self.own_track == CANARY:
            return
        if not self.mirror_spreader.next_is_canary(min(table.mirror, 100)):
            return
        marked = CIMultiDict(headers)
        marked[MARK_HEADER] = sign(key, tier, method, path_qs, body, mirrored=True)
        self.mirror.send(self._started(), url, (method, path_qs, marked, body))

    def _started(self) -> ConnectionPool:
        if self._pool is None:
            raise RuntimeError("the router was not started")
        return self._pool

    # -- the way out ----------------------------------------------------------------------

    async def start(self, max_connections: int) -> None:
        self._pool = ConnectionPool(max_connections)

    async def stop(self) -> None:
        await self.mirror.stop()
        if self._pool is not None:
            await self._pool.close()

    def chain(self, track: str) -> UpstreamChain:
        url = (self.table.tracks or {})[track]
        chain = self._chains.get(url)
        if chain is None:
            try:
                upstream = Upstream(f"track-{track}", url, Breaker(5, 10.0))
            except ValueError as err:  # not an http(s) URL: answered here, as unreachable
                raise UpstreamFailedError(f"track {track}: {err}", timed_out=False) from err
            chain = UpstreamChain(self._started(), [upstream], self.upstream_timeout, self.metrics)
            chain.timeouts = Timeouts(
                connect=CONNECT_TIMEOUT,
                read=self.upstream_timeout,
                # DNS and the pool wait included: a Service that is gone fails fast.
                acquire=2 * CONNECT_TIMEOUT,
            )
            self._chains[url] = chain
        return chain
