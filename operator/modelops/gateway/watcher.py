"""Reload the policy (or the API keys) when its file changes, without touching requests in flight.

Kubernetes updates a mounted ConfigMap by swapping a symlink, which inotify on the file path
does not see reliably; polling ``stat`` once a second does, and costs nothing. A request reads
``current`` once when it starts and keeps that policy to the end, so swapping it is safe. A
file that does not load keeps the old policy in force (and says so in the log and a metric).
"""

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from modelops.gateway.logs import log
from modelops.gateway.policy import Policy, PolicyError, load_policy, open_policy

Stamp = tuple[int, int, int] | None
T = TypeVar("T")


def _stamp(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class FileWatcher(Generic[T]):
    """A file loaded by ``load`` (which raises ``error`` on a bad file), reloaded on change."""

    def __init__(
        self,
        path: Path,
        load: Callable[[Path], T],
        error: type[Exception],
        on_result: Callable[[str], None] = lambda _: None,
    ) -> None:
        """Loads the file now; a bad file at start raises ``error`` (exit, not serve)."""
        self.path: Path | None = path
        self._load = load
        self._error = error
        self._on_result = on_result
        self._stamp: Stamp = _stamp(path)
        self.current: T = load(path)
        on_result("loaded")

    def check(self) -> bool:
        """Reload if the file changed; True when a new version is in force."""
        if self.path is None:
            return False
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            loaded = self._load(self.path)
        except self._error as err:
            log.error("reload of %s failed, keeping the previous one: %s", self.path, err)
            self._on_result("failed")
            return False
        self.current = loaded
        log.info("reloaded %s", self.path)
        self._on_result("reloaded")
        return True

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            # Reading a small file blocks briefly; keep it off the event loop anyway.
            await asyncio.to_thread(self.check)


class PolicyWatcher(FileWatcher[Policy]):
    def __init__(
        self, path: Path | None, on_result: Callable[[str], None] = lambda _: None
    ) -> None:
        """Loads the file now; a bad file at start raises ``PolicyError`` (exit, not serve).
        No file: no limits (``open_policy``), never reloaded."""
        if path is None:
            self.path = None
            self._stamp = None
            self.current = open_policy()
            on_result("loaded")
            return
        super().__init__(path, load_policy, PolicyError, on_result)
