"""Shadow traffic: a copy of a request stable answers, sent to the canary and its answer
discarded.

The copy goes out as a task after the real request has been admitted and read, so it never
delays or fails the real one, and it is never counted against the client's limits (the mark
tells the canary's gateway it was counted already, and that it is a mirrored copy). At most
``cap`` copies are in flight: past that, copies are skipped (and counted), so a slow canary
cannot pile up work in the stable pod. A copy is sent once; nothing retries it.
"""

import asyncio

from multidict import CIMultiDict
from prometheus_client import CollectorRegistry, Counter

from modelops.gateway.http_client import ConnectionPool, HttpClientError, Timeouts, split_url
from modelops.gateway.metrics import PREFIX


class Mirror:
    def __init__(self, registry: CollectorRegistry, cap: int, timeout: float) -> None:
        self.cap = cap
        self.timeouts = Timeouts(connect=1.0, total=timeout)
        self.in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = Counter(
            PREFIX + "mirrored",
            "Mirrored copies this gateway sent, by result: answered (any status below 500), "
            "failed (5xx), unreachable, skipped (concurrency cap).",
            ["result"],
            registry=registry,
        )
        self.received = Counter(
            PREFIX + "mirrored_answers",
            "Mirrored copies this gateway answered (also in its per-track request metrics), "
            "by status code.",
            ["code"],
            registry=registry,
        )

    def send(
        self,
        pool: ConnectionPool,
        url: str,
        request: tuple[str, str, CIMultiDict[str], bytes],
    ) -> None:
        """Start one copy (method, path, headers with the mark, body), unless at the cap."""
        if self.in_flight >= self.cap:
            self.sent.labels("skipped").inc()
            return
        self.in_flight += 1
        task = asyncio.create_task(self._send(pool, url, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(
        self,
        pool: ConnectionPool,
        url: str,
        request: tuple[str, str, CIMultiDict[str], bytes],
    ) -> None:
        method, path_qs, headers, body = request
        result = "unreachable"
        try:
            origin, prefix = split_url(url)
            answer = await pool.request(
                origin, method, prefix + path_qs, headers, body, self.timeouts
            )
            try:
                await answer.read()  # discarded: only the canary's metrics matter
            finally:
                answer.release()
            result = "answered" if answer.status < 500 else "failed"
        except (TimeoutError, HttpClientError, OSError, ValueError):
            pass
        finally:
            self.in_flight -= 1
            self.sent.labels(result).inc()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
