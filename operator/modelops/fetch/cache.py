"""The shared model cache on a ReadWriteMany volume, keyed by URI and revision.

Layout under the volume's root::

    <key>/                    a complete model (renamed into place when its download ends)
    .modelops/locks/<key>     flock(2): one fetcher downloads a key, the others wait for it
    .modelops/staging/<key>/  a download under way; a fetcher that died leaves it for the
                              next one to resume
    .modelops/evict.lock      one fetcher evicts at a time

Least recently used: a hit sets the entry's modification time. Before a download, with a
maximum size, the oldest entries other than the one wanted are removed until the cache is
under it. A pod that already runs a removed model keeps the files it opened; one that
restarts downloads it again.
"""

import fcntl
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from modelops.fetch.result import FetchResult, Origin

log = logging.getLogger("modelops.fetch")

WORK_DIR = ".modelops"
# A download into a directory; returns (bytes, files).
Downloader = Callable[[Path], tuple[int, int]]

_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
}


def parse_size(quantity: str) -> int:
    """Bytes in a Kubernetes quantity such as ``20Gi`` or ``500M``."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([kMGTP]i?|Ki)?", quantity.strip())
    if match is None or (match.group(2) or "") not in _UNITS:
        raise ValueError(f"{quantity!r} is not a size (e.g. 20Gi)")
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


@contextmanager
def exclusive(path: Path, waiting: str) -> Iterator[None]:
    """Hold an flock on ``path``, saying in the log when another holder makes us wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("%s", waiting)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tree_size(root: Path) -> tuple[int, int]:
    """(bytes, files) of the regular files under ``root``."""
    sizes = [path.stat().st_size for path in root.rglob("*") if path.is_file()]
    return sum(sizes), len(sizes)


def entries(cache: Path) -> list[Path]:
    """Complete models in the cache, least recently used first."""
    found = [path for path in cache.iterdir() if path.is_dir() and path.name != WORK_DIR]
    return sorted(found, key=lambda path: path.stat().st_mtime)


def evict(cache: Path, keep: str, max_bytes: int) -> list[str]:
    """Remove least recently used entries (never ``keep``) until the cache is under
    ``max_bytes``; returns the keys removed."""
    with exclusive(cache / WORK_DIR / "evict.lock", "waiting for another fetcher's eviction"):
        sized = [(path, tree_size(path)[0]) for path in entries(cache)]
        total = sum(size for _, size in sized)
        removed = []
        for path, size in sized:
            if total <= max_bytes:
                break
            if path.name == keep:
                continue
            log.info("cache: evicting %s (%d bytes, least recently used)", path.name, size)
            shutil.rmtree(path, ignore_errors=True)
            total -= size
            removed.append(path.name)
        return removed


def fetch_cached(cache: Path, key: str, max_bytes: int | None, download: Downloader) -> FetchResult:
    """The model ``key`` from the cache, downloading it first if no fetcher did."""
    started = time.monotonic()
    entry = cache / key
    lock = cache / WORK_DIR / "locks" / key
    with exclusive(lock, f"cache: another fetcher is downloading {key}; waiting for it"):
        if entry.is_dir():
            os.utime(entry)
            size, files = tree_size(entry)
            log.info("cache: %s is cached (%d files, %d bytes)", key, files, size)
            return FetchResult(Origin.CACHE, time.monotonic() - started, size, files)
        if max_bytes is not None:
            evict(cache, key, max_bytes)
        staging = cache / WORK_DIR / "staging" / key
        staging.mkdir(parents=True, exist_ok=True)
        size, files = download(staging)
        staging.rename(entry)
    return FetchResult(Origin.DOWNLOADED, time.monotonic() - started, size, files)


def fetch_direct(dest: Path, download: Downloader) -> FetchResult:
    """No cache: into the pod's own volume. A marker makes a second run in the same pod (its
    init container run again) find the files instead of fetching them again."""
    started = time.monotonic()
    marker = dest / WORK_DIR / "complete"
    if marker.exists():
        size, files = (int(part) for part in marker.read_text(encoding="utf-8").split())
        return FetchResult(Origin.CACHE, time.monotonic() - started, size, files)
    size, files = download(dest)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{size} {files}", encoding="utf-8")
    return FetchResult(Origin.DOWNLOADED, time.monotonic() - started, size, files)
