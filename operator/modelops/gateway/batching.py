"""Coalesce work submitted during one event-loop tick into one call (auto-pipelining).

A gateway under load runs many request handlers per loop iteration, and each wants one Redis
round trip. Sent one by one, every check pays a command's encoding, a write and a read system
call, and a wake-up of its own; this is where the Redis backend spent most of its CPU. Here
the first ``submit`` of a tick schedules a flush at the end of that tick (``call_soon`` runs
after every handler already woken), so all items of the tick go out in one ``send``.

One batch is in flight at a time, and items are sent in the order submitted: work a process
issued earlier (a token charge) is always applied before work it issued later (the next
check), as with the in-memory backend. While a batch is in flight new items wait and go out
together as soon as it returns, so the batches grow with the load and the round trip stays
one per batch, not one per request.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
# Told of the error of the batch that carried an item posted without a future.
Failed = Callable[[Exception], None]


class TickBatcher(Generic[Item, Result]):
    """``send`` gets a list of items and returns one result per item, in order; when it
    raises, every item of that batch fails with the same error."""

    def __init__(
        self,
        send: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        max_batch: int = 256,
    ) -> None:
        self._send = send
        self._max_batch = max_batch
        self._items: list[Item] = []
        # Per item: the future its submitter awaits, or what to tell if a posted item fails.
        self._waiters: list[asyncio.Future[Result] | Failed] = []
        self._scheduled = False
        self._in_flight: asyncio.Task[None] | None = None
        # The loop of the first submit, kept: a batcher serves one loop, and asking asyncio
        # for it costs a getpid system call on Python 3.11, once or twice a request here.
        self._loop: asyncio.AbstractEventLoop | None = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def submit(self, item: Item) -> asyncio.Future[Result]:
        """Queue one item; the future holds its result (or the batch's error)."""
        future: asyncio.Future[Result] = self._running_loop().create_future()
        self._queue(item, future)
        return future

    def post(self, item: Item, failed: Failed) -> None:
        """Queue one item whose result nobody waits for; ``failed`` hears of its batch's
        error. No future, no callback on success: the cheap way for fire-and-forget work."""
        self._queue(item, failed)

    def _queue(self, item: Item, waiter: "asyncio.Future[Result] | Failed") -> None:
        self._items.append(item)
        self._waiters.append(waiter)
        if not self._scheduled and self._in_flight is None:
            self._scheduled = True
            self._running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self._in_flight is not None or not self._items:
            return
        cut = self._max_batch
        items, waiters = self._items[:cut], self._waiters[:cut]
        del self._items[:cut], self._waiters[:cut]
        self._in_flight = self._running_loop().create_task(self._run(items, waiters))

    async def _run(
        self, items: list[Item], waiters: "list[asyncio.Future[Result] | Failed]"
    ) -> None:
        try:
            results = await self._send(items)
            if len(results) != len(items):
                raise ValueError(f"{len(results)} results for {len(items)} items")
        except asyncio.CancelledError:
            for waiter in waiters:
                if isinstance(waiter, asyncio.Future):
                    waiter.cancel()
            raise
        except Exception as err:  # every waiter gets the batch's error
            # Items queued behind a failed batch fail with it at once: the next batch would
            # most likely wait out the same timeout, and waits must stay bounded.
            waiters += self._waiters
            self._items.clear()
            self._waiters.clear()
            for waiter in waiters:
                if not isinstance(waiter, asyncio.Future):
                    waiter(err)
                elif not waiter.done():
                    waiter.set_exception(err)
        else:
            for waiter, result in zip(waiters, results, strict=True):
                # A waiter that gave up (timeout, client gone) has a cancelled future.
                if isinstance(waiter, asyncio.Future) and not waiter.done():
                    waiter.set_result(result)
        finally:
            self._in_flight = None
            if self._items and not self._scheduled:
                # After the waiters just woken have run: what they submit joins this batch.
                self._scheduled = True
                self._running_loop().call_soon(self._flush)

    async def close(self) -> None:
        """Wait for the batch in flight; items not yet sent are cancelled."""
        if self._in_flight is not None:
            await asyncio.gather(self._in_flight, return_exceptions=True)
        for waiter in self._waiters:
            if isinstance(waiter, asyncio.Future):
                waiter.cancel()
        self._items.clear()
        self._waiters.clear()
