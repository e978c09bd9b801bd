"""Progress lines in the init container's log: how much of how much, at most every few
seconds, so a multi-GB download shows it is alive without flooding the log."""

import logging
import time

log = logging.getLogger("modelops.fetch")

INTERVAL_SECONDS = 5.0


def _mib(count: int) -> str:
    return f"{count / 2**20:.1f} MiB"


class Progress:
    def __init__(self, name: str, total: int | None, done: int = 0) -> None:
        self.name = name
        self.total = total
        self.done = done
        self._started = time.monotonic()
        self._last = self._started

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last >= INTERVAL_SECONDS:
            self._last = now
            self.report()

    def report(self) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        of = f" of {_mib(self.total)}" if self.total is not None else ""
        log.info(
            "%s: %s%s (%.1f MiB/s)", self.name, _mib(self.done), of, self.done / 2**20 / elapsed
        )
