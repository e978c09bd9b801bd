"""At most ``--max-concurrent-rollouts`` canaries progress at once; the rest wait (status says
so) and start as slots free up.

Held in memory, so two rules keep the cap true of what the API shows, not only of this
process: a slot is *claimed* (checked and taken under one lock) before a rollout may start,
since reconciles of different ModelServices run in parallel worker threads; and it is released
only after the status saying the rollout ended is written. At start the operator seeds the
slots from the statuses (``seed``), so a restart does not let queued rollouts past the ones
already running.

Queued rollouts wait in line (first come, first served): releasing a slot names the next one
to wake, so a queue of hundreds costs no polling; their own timer is only a fallback."""

import threading
from collections.abc import Hashable, Iterable


class RolloutSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit  # 0: no cap
        self._lock = threading.Lock()
        self._held: set[Hashable] = set()
        self._waiting: dict[Hashable, None] = {}  # insertion-ordered: the line

    def claim(self, key: Hashable) -> bool:
        """Take a slot for ``key`` if it holds one, or one is free and no rollout queued
        earlier waits for it; else ``key`` joins the line and False is returned."""
        with self._lock:
            if key in self._held or self.limit <= 0:
                self._held.add(key)
                return True
            first = next(iter(self._waiting), key)
            if len(self._held) < self.limit and first == key:
                self._waiting.pop(key, None)
                self._held.add(key)
                return True
            self._waiting.setdefault(key, None)
            return False

    def update(self, key: Hashable, active: bool, queued: bool = False) -> list[Hashable]:
        """Record whether ``key``'s rollout is in flight (or still queued); returns the queued
        keys to wake now that slots are free (the head of the line, one per free slot)."""
        with self._lock:
            if active:
                self._held.add(key)
            else:
                self._held.discard(key)
            if not queued:
                # In flight, done, or no longer asking: out of the line, never blocking it.
                self._waiting.pop(key, None)
            free = self.limit - len(self._held) if self.limit > 0 else 0
            return list(self._waiting)[: max(free, 0)]

    def forget(self, key: Hashable) -> list[Hashable]:
        """``key`` is gone (deleted): out of the slots and out of the line."""
        return self.update(key, active=False)

    def seed(self, active: Iterable[Hashable]) -> None:
        """The rollouts in flight as the statuses say (at start, before any reconcile)."""
        with self._lock:
            self._held.update(active)

    def held(self) -> int:
        with self._lock:
            return len(self._held)
