"""Run one reconcile per object at a time, and fold a burst of wake-ups into one more run.

Child events arrive in bursts (a Deployment's status moves as each pod gets ready). Any number
of wake-ups while a reconcile runs leads to exactly one more reconcile afterwards, which sees
the latest state: level based, so nothing is lost by skipping the intermediate ones.
"""

import threading
from collections.abc import Callable, Hashable


class Coalescer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[Hashable] = set()
        self._dirty: set[Hashable] = set()

    def run(self, key: Hashable, work: Callable[[], None]) -> bool:
        """Run ``work`` now, or mark ``key`` dirty if a run is under way. True if it ran."""
        with self._lock:
            if key in self._running:
                self._dirty.add(key)
                return False
            self._running.add(key)
        try:
            while True:
                work()
                with self._lock:
                    # Checked and released under one lock: a wake-up arriving in between
                    # would otherwise mark the key dirty after its last run and be lost.
                    if key not in self._dirty:
                        self._running.discard(key)
                        return True
                    self._dirty.discard(key)
        except BaseException:
            with self._lock:
                self._running.discard(key)
            raise
