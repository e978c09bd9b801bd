"""A process's memory and CPU from /proc (Linux), sampled in a thread: peak RSS (the kernel's
own high-water mark, VmHWM), CPU seconds (user + system) and an RSS time series for plots."""

import os
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


class Sampler:
    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.pid = pid
        self.interval = interval
        self.started = time.time()
        self.series: list[tuple[float, float, float]] = []  # (seconds, RSS MB, CPU s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def sample(self) -> tuple[float, float, float]:
        return (
            time.time() - self.started,
            memory_mb(self.pid)["VmRSS"],
            cpu_seconds(self.pid),
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.series.append(self.sample())
            except (FileNotFoundError, ProcessLookupError):
                return
            self._stop.wait(self.interval)

    def peak_rss_mb(self) -> float:
        return memory_mb(self.pid)["VmHWM"]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
