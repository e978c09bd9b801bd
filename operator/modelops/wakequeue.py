"""Run wake-ups on a pool of threads, each ModelService queued at most once.

Watch threads must never block on a reconcile, so they only queue a wake. A burst of child
events for one ModelService (pods and Deployment status move together) queues one run; wakes
that arrive while it runs are folded by the Coalescer into one more run afterwards.
"""

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor


class WakeQueue:
    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="reconcile")
        self._lock = threading.Lock()
        self._queued: set[Hashable] = set()

    def wake(self, key: Hashable, work: Callable[[], None]) -> None:
        """Run ``work`` on the pool unless a run for ``key`` is already waiting to start."""
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)
        self._pool.submit(self._run, key, work)

    def _run(self, key: Hashable, work: Callable[[], None]) -> None:
        with self._lock:
            self._queued.discard(key)
        work()
