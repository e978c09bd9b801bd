"""At most ``--max-concurrent-rollouts`` canaries progress at once; the rest wait (status says
so) and start as slots free up.

Held in memory, so two rules keep the cap true of what the API shows, not only of this
process: a slot is *claimed* (checked and taken under one lock) before a rollout may start,
since reconciles of different ModelServices run in parallel worker threads; and it is released
only after the status saying the rollout ended is written. At start the operator seeds the
slots from the statuses (``seed``), so a restart does not let queued rollouts past the ones
already running."""

import threading
from collections.abc import Hashable, Iterable


class RolloutSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit  # 0: no cap
        self._lock = threading.Lock()
        self._held: set[Hashable] = set()

    def claim(self, key: Hashable) -> bool:
        """Take a slot for ``key`` if it holds one or one is free; False when the cap is hit."""
        with self._lock:
            if self.limit > 0 and key not in self._held and len(self._held) >= self.limit:
                return False
            self._held.add(key)
            return True

    def update(self, key: Hashable, active: bool) -> None:
        with self._lock:
            if active:
                self._held.add(key)
            else:
                self._held.discard(key)

    def seed(self, active: Iterable[Hashable]) -> None:
        """The rollouts in flight as the statuses say (at start, before any reconcile)."""
        with self._lock:
            self._held.update(active)

    def held(self) -> int:
        with self._lock:
            return len(self._held)
