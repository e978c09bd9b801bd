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

``send`` is a plain function that is told how to settle its batch, not a coroutine: the flush
hands a batch over in the same tick, and whoever reads the answer settles it in the tick the
answer arrives. A task per batch and a future between it and the answer cost two more loop
iterations per batch (each an ``epoll_wait`` here) and about 10k instructions
(``bench/gateway_instructions.py``), paid by every request when batches are small.
"""

import asyncio
from collections.abc import Callable, Sequence
from typing import Final, Generic, TypeVar

from modelops.gateway.kept_loop import KeptLoop

Item = TypeVar("Item")
Result = TypeVar("Result")
# Told of the error of the batch that carried an item posted without a future.
Failed = Callable[[Exception], None]
# How a batch ends: one result per item, in order, or the error every item fails with
# (``CancelledError``: the gateway is stopping, and waiting items are cancelled).
Settle = Callable[[Sequence[Result] | BaseException], None]
# Sends a batch and, then or later, settles it exactly once.
Send = Callable[[Sequence[Item], Settle[Result]], None]
# Per item: the future its submitter awaits, or what to tell if a posted item fails.
Waiter = asyncio.Future[Result] | Failed
# Read per waiter: a module-level final, where ``asyncio.Future`` compiled is a lookup on the
# asyncio module each time.
_FUTURE: Final = asyncio.Future


class _Flight(Generic[Result]):
    """The batch in flight: its waiters, told once however often ``settle`` is called."""

    def __init__(
        self,
        landed: "Callable[[list[Waiter[Result]], Sequence[Result] | BaseException], None]",
        waiters: "list[Waiter[Result]]",
    ) -> None:
        self._landed = landed
        self._waiters = waiters
        self.settled = False

    def settle(self, ending: "Sequence[Result] | BaseException") -> None:
        if not self.settled:
            self.settled = True
            self._landed(self._waiters, ending)


class TickBatcher(Generic[Item, Result]):
    """``send`` gets a list of items and settles it with one result per item, in order, or
    with an error every item of that batch fails with."""

    def __init__(self, send: Send[Item, Result], max_batch: int = 256) -> None:
        self._send = send
        self._max_batch = max_batch
        self._items: list[Item] = []
        self._waiters: list[Waiter[Result]] = []
        self._scheduled = False
        self._in_flight = False
        # Resolved when the batch in flight lands, for ``close`` (made only when it waits).
        self._landing: asyncio.Future[None] | None = None
        self._loop = KeptLoop()  # a batcher serves one loop

    def submit(self, item: Item) -> asyncio.Future[Result]:
        """Queue one item; the future holds its result (or the batch's error)."""
        future: asyncio.Future[Result] = self._loop.get().create_future()
        self._queue(item, future)
        return future

    def post(self, item: Item, failed: Failed) -> None:
        """Queue one item whose result nobody waits for; ``failed`` hears of its batch's
        error. No future, no callback on success: the cheap way for fire-and-forget work."""
        self._queue(item, failed)

    def _queue(self, item: Item, waiter: "Waiter[Result]") -> None:
        self._items.append(item)
        self._waiters.append(waiter)
        if not self._scheduled and not self._in_flight:
            self._scheduled = True
            self._loop.get().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self._in_flight or not self._items:
            return
        cut = self._max_batch
        items, waiters = self._items[:cut], self._waiters[:cut]
        del self._items[:cut], self._waiters[:cut]
        self._in_flight = True
        flight = _Flight(self._landed, waiters)
        try:
            self._send(items, flight.settle)
        except Exception as err:  # a send that could not even start fails its batch
            flight.settle(err)

    def _landed(
        self,
        waiters: "list[Waiter[Result]]",
        ending: "Sequence[Result] | BaseException",
    ) -> None:
        if not isinstance(ending, BaseException) and len(ending) != len(waiters):
            ending = ValueError(f"{len(ending)} results for {len(waiters)} items")
        if isinstance(ending, asyncio.CancelledError):
            for waiter in waiters:
                if isinstance(waiter, _FUTURE):
                    waiter.cancel()
        elif isinstance(ending, BaseException):
            # Items queued behind a failed batch fail with it at once: the next batch would
            # most likely wait out the same timeout, and waits must stay bounded.
            error = ending if isinstance(ending, Exception) else RuntimeError(repr(ending))
            waiters += self._waiters
            self._items.clear()
            self._waiters.clear()
            for waiter in waiters:
                if not isinstance(waiter, _FUTURE):
                    waiter(error)
                elif not waiter.done():
                    waiter.set_exception(error)
        else:
            for waiter, result in zip(waiters, ending, strict=True):
                # A waiter that gave up (timeout, client gone) has a cancelled future.
                if isinstance(waiter, _FUTURE) and not waiter.done():
                    waiter.set_result(result)
        self._in_flight = False
        if self._landing is not None and not self._landing.done():
            self._landing.set_result(None)
        if self._items and not self._scheduled:
            # After the waiters just woken have run: what they submit joins this batch.
            self._scheduled = True
            self._loop.get().call_soon(self._flush)

    async def close(self) -> None:
        """Wait for the batch in flight, then send what is still queued and wait for it: a
        charge posted as the gateway stops is not dropped. What cannot be sent fails as a
        batch does."""
        while self._in_flight or self._items:
            if self._in_flight:
                landing = self._landing = self._loop.get().create_future()
                await asyncio.gather(landing, return_exceptions=True)
            else:
                self._flush()
