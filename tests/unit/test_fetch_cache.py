"""The shared model cache: one download per key however many fetchers ask at once, hits
that touch the entry, least-recently-used eviction, sizes as Kubernetes writes them."""

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from modelops.fetch.cache import evict, fetch_cached, fetch_direct, parse_size
from modelops.fetch.result import Origin


def _slow_download(into: Path) -> tuple[int, int]:
    # Each call leaves a trace beside the cache, so the test counts downloads.
    (into.parents[3] / f"download-{os.getpid()}").write_text("x")
    time.sleep(0.5)
    (into / "weights.bin").write_bytes(b"w" * 1000)
    return 1000, 1


def _fetch_once(cache: str, results: "multiprocessing.Queue[str]") -> None:
    result = fetch_cached(Path(cache), "model-a", None, _slow_download)
    results.put(result.origin.value)


def test_concurrent_fetchers_download_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_fetch_once, args=(str(cache), results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    origins = sorted(results.get(timeout=5) for _ in workers)
    assert origins == ["cache", "cache", "cache", "downloaded"]
    assert len(list(tmp_path.glob("download-*"))) == 1
    assert (cache / "model-a" / "weights.bin").read_bytes() == b"w" * 1000


def test_a_hit_marks_the_entry_used(tmp_path: Path) -> None:
    entry = tmp_path / "model-a"
    entry.mkdir()
    (entry / "f").write_bytes(b"12345")
    os.utime(entry, (1, 1))
    result = fetch_cached(tmp_path, "model-a", None, _fail)
    assert (result.origin, result.bytes, result.files) == (Origin.CACHE, 5, 1)
    assert entry.stat().st_mtime > 1


def _fail(into: Path) -> tuple[int, int]:
    raise AssertionError(f"downloaded into {into}")


def _entry(cache: Path, key: str, size: int, used: float) -> None:
    (cache / key).mkdir()
    (cache / key / "f").write_bytes(b"x" * size)
    os.utime(cache / key, (used, used))


def test_eviction_removes_least_recently_used_first(tmp_path: Path) -> None:
    _entry(tmp_path, "old", 400, 100)
    _entry(tmp_path, "wanted", 400, 50)  # older, but the one being fetched
    _entry(tmp_path, "middle", 400, 200)
    _entry(tmp_path, "new", 400, 300)
    assert evict(tmp_path, keep="wanted", max_bytes=1000) == ["old", "middle"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".modelops") == [
        "new",
        "wanted",
    ]


def test_a_failed_download_leaves_no_entry_and_is_resumed_from_staging(tmp_path: Path) -> None:
    def broken(into: Path) -> tuple[int, int]:
        (into / "weights.bin.part").write_bytes(b"half")
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        fetch_cached(tmp_path, "model-b", None, broken)
    assert not (tmp_path / "model-b").exists()

    def resumed(into: Path) -> tuple[int, int]:
        assert (into / "weights.bin.part").read_bytes() == b"half"
        (into / "weights.bin").write_bytes(b"whole")
        return 5, 1

    assert fetch_cached(tmp_path, "model-b", None, resumed).origin is Origin.DOWNLOADED
    assert (tmp_path / "model-b" / "weights.bin").read_bytes() == b"whole"


def test_direct_fetch_runs_once_per_volume(tmp_path: Path) -> None:
    def once(into: Path) -> tuple[int, int]:
        (into / "f").write_bytes(b"abc")
        return 3, 1

    assert fetch_direct(tmp_path, once).origin is Origin.DOWNLOADED
    again = fetch_direct(tmp_path, _fail)
    assert (again.origin, again.bytes, again.files) == (Origin.CACHE, 3, 1)


@pytest.mark.parametrize(
    ("text", "size"),
    [("20Gi", 20 * 2**30), ("500M", 500 * 10**6), ("1024", 1024), ("1.5Ki", 1536), ("2k", 2000)],
)
def test_sizes_parse(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_a_bad_size_is_refused() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")
