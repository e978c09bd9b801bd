"""Run wake-ups on a pool of threads, each ModelService queued at most once.

Watch threads must never block on a reconcile, so they only queue a wake. A burst of child
events for one ModelService (pods and Deployment status move together) queues one run; wakes
that arrive while it runs are folded by the Coalescer into one more run afterwards.

Two lanes: a ModelService already reconciled once (its children exist; a wake is usually one
status patch at most) goes before one never seen. Thousands created at once then become Ready
one after another, instead of all after the last one got its children.

Nothing runs until ``start``: wakes queued before it wait for the workers.
"""

import itertools
import queue
import threading
from collections.abc import Callable, Hashable

URGENT, NEW = 0, 1


class WakeQueue:
    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._queued: set[Hashable] = set()
        self._order = itertools.count()  # first in, first out within a lane
        self._lanes: queue.PriorityQueue[tuple[int, int, Hashable, Callable[[], None]]] = (
            queue.PriorityQueue()
        )

    def start(self) -> None:
        """Start the worker threads (once)."""
        with self._lock:
            if self._threads:
                return
            self._threads = [
                threading.Thread(target=self._work, name=f"reconcile-{index}", daemon=True)
                for index in range(self._workers)
            ]
        for thread in self._threads:
            thread.start()

    def wake(self, key: Hashable, work: Callable[[], None], known: bool = True) -> None:
        """Run ``work`` on the pool unless a run for ``key`` is already waiting to start;
        ``known=False`` queues it behind the wakes of objects seen before."""
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)
        self._lanes.put((URGENT if known else NEW, next(self._order), key, work))

    def _work(self) -> None:
        while True:
            _, _, key, work = self._lanes.get()
            with self._lock:
                self._queued.discard(key)
            work()
