"""TickBatcher: one send per tick, order kept, failures reach every waiter, waits bounded."""

import asyncio
from collections.abc import Sequence

import pytest

from modelops.gateway.batching import Settle, TickBatcher


class Recorder:
    """A ``send`` that records its batches and settles each in a later loop iteration, as a
    reply read off a socket would; while ``held``, batches wait until ``release``."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.held = False
        self.waiting: list[tuple[list[int], Settle[int]]] = []
        self.error: Exception | None = None

    def send(self, items: Sequence[int], settle: Settle[int]) -> None:
        self.batches.append(list(items))
        self.waiting.append((list(items), settle))
        if not self.held:
            asyncio.get_running_loop().call_soon(self.release)

    def release(self) -> None:
        self.held = False
        waiting, self.waiting = self.waiting, []
        for items, settle in waiting:
            settle(self.error if self.error is not None else [item * 10 for item in items])


def run(scenario: object) -> None:
    asyncio.run(asyncio.wait_for(scenario, 10))  # type: ignore[arg-type]


def test_items_of_one_tick_go_out_together_in_order() -> None:
    async def scenario() -> None:
        rec = Recorder()
        batcher: TickBatcher[int, int] = TickBatcher(rec.send)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
        assert results == [0, 10, 20, 30, 40]
        assert rec.batches == [[0, 1, 2, 3, 4]]

    run(scenario())


def test_items_wait_for_the_batch_in_flight_then_go_together() -> None:
    async def scenario() -> None:
        rec = Recorder()
        rec.held = True
        batcher: TickBatcher[int, int] = TickBatcher(rec.send)
        first = batcher.submit(1)
        await asyncio.sleep(0)  # the flush runs: batch [1] is in flight, held
        await asyncio.sleep(0)
        later = [batcher.submit(2)]
        await asyncio.sleep(0)
        later.append(batcher.submit(3))
        assert rec.batches == [[1]]
        rec.release()
        assert await first == 10
        assert await asyncio.gather(*later) == [20, 30]
        assert rec.batches == [[1], [2, 3]]

    run(scenario())


def test_batches_are_cut_at_max_batch() -> None:
    async def scenario() -> None:
        rec = Recorder()
        batcher: TickBatcher[int, int] = TickBatcher(rec.send, max_batch=2)
        assert await asyncio.gather(*(batcher.submit(i) for i in range(5))) == [
            0,
            10,
            20,
            30,
            40,
        ]
        assert rec.batches == [[0, 1], [2, 3], [4]]

    run(scenario())


def test_a_failed_batch_fails_its_items_and_those_queued_behind_it() -> None:
    async def scenario() -> None:
        rec = Recorder()
        rec.held = True
        rec.error = ConnectionError("gone")
        batcher: TickBatcher[int, int] = TickBatcher(rec.send)
        first = batcher.submit(1)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        queued = batcher.submit(2)
        rec.release()
        for future in (first, queued):
            with pytest.raises(ConnectionError):
                await future
        assert rec.batches == [[1]]
        # The batcher recovers: the next item is sent on its own.
        rec.error = None
        assert await batcher.submit(3) == 30

    run(scenario())


def test_posted_items_travel_with_the_others_and_only_failures_are_told() -> None:
    async def scenario() -> None:
        rec = Recorder()
        batcher: TickBatcher[int, int] = TickBatcher(rec.send)
        told: list[Exception] = []
        batcher.post(1, told.append)
        assert await batcher.submit(2) == 20
        assert rec.batches == [[1, 2]]
        assert told == []
        rec.error = ConnectionError("gone")
        batcher.post(3, told.append)
        with pytest.raises(ConnectionError):
            await batcher.submit(4)
        assert [str(e) for e in told] == ["gone"]

    run(scenario())


def test_a_waiter_that_gives_up_does_not_disturb_the_others() -> None:
    async def scenario() -> None:
        rec = Recorder()
        rec.held = True
        batcher: TickBatcher[int, int] = TickBatcher(rec.send)
        impatient, patient = batcher.submit(1), batcher.submit(2)
        await asyncio.sleep(0)
        impatient.cancel()
        rec.release()
        assert await patient == 20
        assert impatient.cancelled()

    run(scenario())


def test_a_wrong_number_of_results_fails_the_batch() -> None:
    def short(items: Sequence[int], settle: Settle[int]) -> None:
        settle(list(items)[1:])

    async def scenario() -> None:
        batcher: TickBatcher[int, int] = TickBatcher(short)
        futures = [batcher.submit(1), batcher.submit(2)]
        for future in futures:
            with pytest.raises(ValueError, match="1 results for 2 items"):
                await future

    run(scenario())


def test_a_send_that_raises_fails_its_batch_and_the_next_goes_out() -> None:
    sent: list[list[int]] = []

    def broken_once(items: Sequence[int], settle: Settle[int]) -> None:
        sent.append(list(items))
        if len(sent) == 1:
            raise OSError("no connection")
        settle([item + 1 for item in items])

    async def scenario() -> None:
        batcher: TickBatcher[int, int] = TickBatcher(broken_once)
        with pytest.raises(OSError, match="no connection"):
            await batcher.submit(1)
        assert await batcher.submit(2) == 3
        assert sent == [[1], [2]]

    run(scenario())


def test_a_batch_settled_twice_counts_once() -> None:
    async def scenario() -> None:
        rec = Recorder()
        rec.held = True
        batcher: TickBatcher[int, int] = TickBatcher(rec.send)
        first = batcher.submit(1)
        await asyncio.sleep(0)
        ((_, settle),) = rec.waiting
        settle([10])
        settle(ConnectionError("late"))  # a late failure must not reach later items
        second = batcher.submit(2)
        await asyncio.sleep(0)
        rec.waiting[1][1]([20])
        assert (await first, await second) == (10, 20)

    run(scenario())


def test_a_cancelled_batch_cancels_its_waiters() -> None:
    async def scenario() -> None:
        rec = Recorder()
        rec.held = True
        batcher: TickBatcher[int, int] = TickBatcher(rec.send)
        waiting = batcher.submit(1)
        await asyncio.sleep(0)
        rec.waiting[0][1](asyncio.CancelledError())
        assert waiting.cancelled()

    run(scenario())


def test_close_waits_for_the_batch_in_flight() -> None:
    async def scenario() -> None:
        rec = Recorder()
        rec.held = True
        batcher: TickBatcher[int, int] = TickBatcher(rec.send)
        sent = batcher.submit(1)
        await asyncio.sleep(0)
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0)
        assert not closing.done()
        rec.release()
        await closing
        assert await sent == 10

    run(scenario())


def test_close_sends_what_is_queued() -> None:
    """A charge posted just before the gateway stops is not dropped: close sends what is
    queued, in batches of at most ``max_batch``, and waits for them."""

    async def scenario() -> None:
        rec = Recorder()
        batcher: TickBatcher[int, int] = TickBatcher(rec.send, max_batch=2)
        told: list[Exception] = []
        for i in range(3):
            batcher.post(i, told.append)
        pending = batcher.submit(3)
        await batcher.close()
        assert rec.batches == [[0, 1], [2, 3]]
        assert await pending == 30
        assert told == []

    run(scenario())


def test_close_fails_what_cannot_be_sent() -> None:
    async def scenario() -> None:
        rec = Recorder()
        rec.error = ConnectionError("gone")
        batcher: TickBatcher[int, int] = TickBatcher(rec.send)
        told: list[Exception] = []
        batcher.post(1, told.append)
        await batcher.close()
        assert rec.batches == [[1]]
        assert [str(e) for e in told] == ["gone"]

    run(scenario())
