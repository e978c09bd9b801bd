"""Delivery of notifications: a thread with its own asyncio loop, so no reconcile ever waits.

``Notifier.notify`` is called by a reconcile worker right after it posts the Events; it hands
the notifications to the loop (``call_soon_threadsafe``) and returns. On the loop one router
resolves each notification's receivers in order (the operator's; a ModelService's ConfigMap,
read through the API in an executor thread) and puts it on each receiver's queue; one task per
receiver posts its queue in order, retrying a timeout, a refused connection, 429 and 5xx with
doubling delays, then counting a failure. Metrics: ``modelops_notifications_total`` by result
(delivered, failed, dropped: a receiver's backlog full) and the delay from the Event's time to
the receiver's 2xx answer. Logs name receivers, never their URLs (a Slack URL is its token).
Best effort, as Events are: what is queued when the process stops is not sent.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from modelops.metrics import NOTIFICATION_SECONDS, NOTIFICATIONS
from modelops.notify.payloads import Notification, payload
from modelops.notify.receivers import Receiver, ReceiversError, parse_config_map

log = logging.getLogger("modelops.notify")

# (namespace, ConfigMap name) -> its data, or None when there is no such ConfigMap.
ReadConfigMap = Callable[[str, str], dict[str, str] | None]


@dataclass(frozen=True)
class Retries:
    attempts: int = 4  # in all, the first one included
    first_delay: float = 0.5  # seconds before the second attempt; doubling after
    timeout: float = 5.0  # per attempt
    backlog: int = 256  # notifications waiting per receiver; more are dropped (counted)


class _RetryableError(Exception):
    """A try that may succeed later (timeout, connection, 429, 5xx)."""


class Notifier:
    def __init__(
        self,
        receivers: list[Receiver],
        read_config_map: ReadConfigMap,
        retries: Retries | None = None,
    ) -> None:
        self.receivers = receivers
        self._read_config_map = read_config_map
        self._retries = retries or Retries()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- the reconcile's side (any thread) ------------------------------------------------

    def notify(self, notes: list[Notification], config_map: str | None) -> None:
        """Hand ``notes`` over for delivery; returns at once."""
        loop = self._loop
        if not notes or loop is None:
            return
        loop.call_soon_threadsafe(self._route_later, notes, config_map)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):  # a loop already gone has nothing to stop
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = None

    # -- the loop's side --------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._routing: asyncio.Queue[tuple[list[Notification], str | None]] = asyncio.Queue()
        self._queues: dict[tuple[Any, ...], asyncio.Queue[Notification]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._keep(loop.create_task(self._router()))
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        """Cancel the router and the deliveries and let them end (the session closes)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _keep(self, task: "asyncio.Task[None]") -> None:
        self._tasks.add(task)  # a task nobody holds may be collected mid-flight
        task.add_done_callback(self._tasks.discard)

    def _route_later(self, notes: list[Notification], config_map: str | None) -> None:
        self._routing.put_nowait((notes, config_map))

    async def _router(self) -> None:
        async with aiohttp.ClientSession() as session:
            self._session = session
            while True:
                notes, config_map = await self._routing.get()
                receivers = [(("operator",), r) for r in self.receivers]
                if config_map is not None:
                    receivers += await self._config_map_receivers(notes[0], config_map)
                for source, receiver in receivers:
                    for note in notes:
                        if receiver.wants(note.kind):
                            self._enqueue((*source, receiver), receiver, note)

    async def _config_map_receivers(
        self, note: Notification, config_map: str
    ) -> list[tuple[tuple[Any, ...], Receiver]]:
        where = f"ConfigMap {note.namespace}/{config_map}"
        try:
            data = await asyncio.to_thread(self._read_config_map, note.namespace, config_map)
            if data is None:
                raise ReceiversError(f"{where} does not exist")
            found = parse_config_map(data, where)
        except Exception as error:  # the API or the list: either way nobody of it is told
            log.warning("notifications of %s/%s: %s", note.namespace, note.name, error)
            NOTIFICATIONS.labels("failed").inc()
            return []
        return [((note.namespace, config_map), receiver) for receiver in found]

    def _enqueue(self, key: tuple[Any, ...], receiver: Receiver, note: Notification) -> None:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue(maxsize=self._retries.backlog)
            self._keep(asyncio.get_running_loop().create_task(self._deliver_all(receiver, queue)))
        try:
            queue.put_nowait(note)
        except asyncio.QueueFull:
            NOTIFICATIONS.labels("dropped").inc()
            log.warning("notification %s to %s dropped: backlog full", note.kind, receiver.name)

    async def _deliver_all(self, receiver: Receiver, queue: "asyncio.Queue[Notification]") -> None:
        while True:
            note = await queue.get()
            try:
                await self._deliver(receiver, note)
            except Exception as error:  # one bad notification must not silence the receiver
                NOTIFICATIONS.labels("failed").inc()
                # The type only: an error's text may hold the URL, which may be its token.
                log.error(
                    "notification %s to %s failed: %s",
                    note.kind,
                    receiver.name,
                    type(error).__name__,
                )

    async def _deliver(self, receiver: Receiver, note: Notification) -> None:
        retries = self._retries
        why = ""
        for attempt in range(retries.attempts):
            if attempt:
                await asyncio.sleep(retries.first_delay * 2 ** (attempt - 1))
            try:
                await self._post(receiver, note)
            except _RetryableError as error:
                why = str(error)
                continue
            except ReceiversError as error:
                why = str(error)
                break
            NOTIFICATIONS.labels("delivered").inc()
            NOTIFICATION_SECONDS.observe((datetime.now(UTC) - note.time).total_seconds())
            return
        NOTIFICATIONS.labels("failed").inc()
        log.warning(
            "notification %s of %s/%s to %s failed: %s",
            note.kind,
            note.namespace,
            note.name,
            receiver.name,
            why,
        )

    async def _post(self, receiver: Receiver, note: Notification) -> None:
        url = receiver.address()
        timeout = aiohttp.ClientTimeout(total=self._retries.timeout)
        try:
            async with self._session.post(
                url, json=payload(note, receiver.format), timeout=timeout
            ) as answer:
                await answer.read()
                status = answer.status
        except (TimeoutError, aiohttp.ClientError) as error:
            raise _RetryableError(type(error).__name__) from None
        if status == 429 or status >= 500:
            raise _RetryableError(f"answered {status}")
        if not 200 <= status < 300:
            raise ReceiversError(f"answered {status}")
