"""Wake a ModelService's reconcile after a delay: only while time itself is the trigger (a
pause ends, the next analysis is due, a deadline passes). Nothing is scheduled for a service
at rest, so thousands of idle ModelServices cost no timers."""

import threading
from collections.abc import Callable, Hashable


class Timers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._timers: dict[Hashable, threading.Timer] = {}

    def schedule(self, key: Hashable, delay: float, wake: Callable[[], None]) -> None:
        """Wake ``key`` after ``delay`` seconds, replacing any earlier schedule for it."""
        timer = threading.Timer(delay, self._fire, args=(key, wake))
        timer.daemon = True
        with self._lock:
            old = self._timers.pop(key, None)
            self._timers[key] = timer
        if old is not None:
            old.cancel()
        timer.start()

    def cancel(self, key: Hashable) -> None:
        with self._lock:
            old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()

    def _fire(self, key: Hashable, wake: Callable[[], None]) -> None:
        with self._lock:
            self._timers.pop(key, None)
        wake()


class Backoff:
    """Per-key retry delays that double from ``first`` up to ``limit`` while failures go on."""

    def __init__(self, first: float, limit: float) -> None:
        self._first = first
        self._limit = limit
        self._lock = threading.Lock()
        self._failures: dict[Hashable, int] = {}

    def failed(self, key: Hashable) -> float:
        with self._lock:
            count = self._failures.get(key, 0)
            self._failures[key] = count + 1
        return float(min(self._first * 2**count, self._limit))

    def succeeded(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)
