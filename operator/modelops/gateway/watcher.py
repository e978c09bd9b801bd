"""Reload the policy when its file changes, without touching requests in flight.

Kubernetes updates a mounted ConfigMap by swapping a symlink, which inotify on the file path
does not see reliably; polling ``stat`` once a second does, and costs nothing. A request reads
``current`` once when it starts and keeps that policy to the end, so swapping it is safe. A
file that does not load keeps the old policy in force (and says so in the log and a metric).
"""

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from modelops.gateway.logs import log
from modelops.gateway.policy import PolicyError, load_policy, open_policy

Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class PolicyWatcher:
    def __init__(
        self, path: Path | None, on_result: Callable[[str], None] = lambda _: None
    ) -> None:
        """Loads the file now; a bad file at start raises ``PolicyError`` (exit, not serve)."""
        self.path = path
        self._on_result = on_result
        self._stamp: Stamp = None
        if path is None:
            self.current = open_policy()
        else:
            self._stamp = _stamp(path)
            self.current = load_policy(path)
        on_result("loaded")

    def check(self) -> bool:
        """Reload if the file changed; True when a new policy is in force."""
        if self.path is None:
            return False
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            policy = load_policy(self.path)
        except PolicyError as err:
            log.error("policy reload failed, keeping the previous policy: %s", err)
            self._on_result("failed")
            return False
        self.current = policy
        log.info("policy reloaded from %s", self.path)
        self._on_result("reloaded")
        return True

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            # Reading a small file blocks briefly; keep it off the event loop anyway.
            await asyncio.to_thread(self.check)
