"""At most ``--max-concurrent-rollouts`` canaries progress at once; the rest wait (status says
so) and start as slots free up. Held in memory: after an operator restart, running rollouts
take their slots back on their first reconcile."""

import threading
from collections.abc import Hashable


class RolloutSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit  # 0: no cap
        self._lock = threading.Lock()
        self._held: set[Hashable] = set()

    def may_start(self, key: Hashable) -> bool:
        with self._lock:
            return self.limit <= 0 or key in self._held or len(self._held) < self.limit

    def update(self, key: Hashable, active: bool) -> None:
        with self._lock:
            if active:
                self._held.add(key)
            else:
                self._held.discard(key)
