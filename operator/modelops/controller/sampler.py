"""Sample a rolling canary's metrics between its analysis runs, on one thread.

A scheduled analysis run comes once per ``analysis.interval``, so a canary that starts failing
just after a run is found on average half an interval later. The sampler asks Prometheus the
same questions every ``analysis.sampleInterval`` and, on a failing answer, wakes the reconcile,
which runs the analysis at once (``analysis_due(sampled_failure=True)``): the decision and the
status stay with the reconcile and the pure rollout machine; a passing sample writes nothing.

One thread asks one question at a time, so however many rollouts are sampled, Prometheus sees
at most one query in flight from it: with many rollouts each is sampled less often, never
more often than its ``sampleInterval``.
"""

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from modelops.metrics import ANALYSIS_SAMPLES

log = logging.getLogger("modelops.sampler")


@dataclass
class _Entry:
    every: float
    due: float
    fails: Callable[[], bool]  # one sample: True when a check fails
    wake: Callable[[], None]  # queue the reconcile that runs the analysis


class Sampler:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._changed = threading.Condition()
        self._entries: dict[Hashable, _Entry] = {}
        self._failed: set[Hashable] = set()
        self._thread: threading.Thread | None = None

    def watch(
        self,
        key: Hashable,
        every: float | None,
        fails: Callable[[], bool],
        wake: Callable[[], None],
    ) -> None:
        """Sample ``key`` every ``every`` seconds from now on (None: stop). Called after each
        reconcile: a sample already due keeps its time, so frequent reconciles (pod events)
        never postpone sampling."""
        if every is None:
            self.forget(key)
            return
        with self._changed:
            due = self._clock() + every
            old = self._entries.get(key)
            if old is not None:
                due = min(due, old.due)
            self._entries[key] = _Entry(every, due, fails, wake)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
                self._thread.start()
            self._changed.notify()

    def forget(self, key: Hashable) -> None:
        with self._changed:
            self._entries.pop(key, None)
            self._failed.discard(key)

    def take_failure(self, key: Hashable) -> bool:
        """Did a sample of ``key`` fail since the last reconcile asked? (Asking clears it.)"""
        with self._changed:
            if key in self._failed:
                self._failed.discard(key)
                return True
            return False

    def sampled(self) -> list[Hashable]:
        with self._changed:
            return list(self._entries)

    def _next(self) -> tuple[Hashable, _Entry]:
        """Wait for the entry due first and hand it out."""
        with self._changed:
            while True:
                if self._entries:
                    key, entry = min(self._entries.items(), key=lambda item: item[1].due)
                    left = entry.due - self._clock()
                    if left <= 0:
                        # Rescheduled as it is handed out: a reconcile meanwhile keeps it.
                        entry.due = self._clock() + entry.every
                        return key, entry
                    self._changed.wait(left)
                else:
                    self._changed.wait()

    def _run(self) -> None:
        while True:
            key, entry = self._next()
            try:
                failing = entry.fails()
            except Exception as error:  # a broken sample must not end sampling for everyone
                log.warning("sample of %s failed: %s: %s", key, type(error).__name__, error)
                failing = False
                ANALYSIS_SAMPLES.labels("error").inc()
            else:
                ANALYSIS_SAMPLES.labels("fail" if failing else "pass").inc()
            if not failing:
                continue
            with self._changed:
                current = self._entries.pop(key, None)
                if current is None:
                    continue  # forgotten while it was being sampled: the rollout ended
                # The reconcile runs the analysis, and says whether sampling goes on.
                self._failed.add(key)
            current.wake()
