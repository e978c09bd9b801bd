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


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat's first line."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def components_cpu(pid_dir: Path) -> dict[str, float]:
    """CPU seconds of each local control-plane component (hack/cluster-up.sh records their
    pids in .cluster/pids); empty for a cluster this machine does not run."""
    found = {}
    for pidfile in sorted(pid_dir.glob("*.pid")) if pid_dir.is_dir() else []:
        try:
            found[pidfile.stem] = cpu_seconds(int(pidfile.read_text().strip()))
        except (ValueError, FileNotFoundError, ProcessLookupError):
            continue
    return found


class CpuWindow:
    """Where the machine's CPU went between ``start`` and ``stop``: each control-plane
    component's CPU seconds, the operator's, and how busy all CPUs were (0..1)."""

    def __init__(self, pid_dir: Path, operator_pid: int | None = None) -> None:
        self._pid_dir, self._operator = pid_dir, operator_pid
        self._ticks = machine_ticks()
        self._components = self._read()

    def _read(self) -> dict[str, float]:
        seen = components_cpu(self._pid_dir)
        if self._operator is not None:
            seen["operator"] = cpu_seconds(self._operator)
        return seen

    def stop(self) -> dict[str, object]:
        busy, total = machine_ticks()
        now = self._read()
        spent = {k: round(now[k] - v, 2) for k, v in self._components.items() if k in now}
        cpus = os.cpu_count() or 1
        window = (total - self._ticks[1]) / TICKS / cpus
        return {
            "busy_fraction": round((busy - self._ticks[0]) / max(total - self._ticks[1], 1), 3),
            "cpu_seconds": spent,
            "window_seconds": round(window, 1),
        }
