"""https:// against a real HTTPS server with a certificate made by the test: a download, a
resume after a cut connection (HTTP Range), checksum and size checks, clear failures."""

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelops.fetch import main as fetch
from tests.support.stores import FileServer, https_file_server

WEIGHTS = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    root = tmp_path / "www"
    (root / "models").mkdir(parents=True)
    (root / "models" / "weights.bin").write_bytes(WEIGHTS)
    with https_file_server(root, tmp_path) as running:
        monkeypatch.setenv("SSL_CERT_FILE", str(running.cert))
        yield running


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    log = tmp_path / "termination-log"
    code = fetch([*args, "--termination-log", str(log)])
    return code, log.read_text()


def test_download_with_checksum(server: FileServer, tmp_path: Path) -> None:
    digest = hashlib.sha256(WEIGHTS).hexdigest()
    dest = tmp_path / "models"
    url = f"{server.url}/models/weights.bin"
    code, message = _run(tmp_path, "--uri", url, "--sha256", digest, "--dest", str(dest))
    assert code == 0, message
    assert (dest / "weights.bin").read_bytes() == WEIGHTS
    result = json.loads(message)
    assert (result["origin"], result["bytes"], result["files"]) == ("downloaded", len(WEIGHTS), 1)


def test_a_cut_connection_is_resumed_with_a_range_request(
    server: FileServer, tmp_path: Path
) -> None:
    server.cut_after = 300_000
    dest = tmp_path / "models"
    url = f"{server.url}/models/weights.bin"
    code, message = _run(tmp_path, "--uri", url, "--dest", str(dest))
    assert code == 0, message
    assert (dest / "weights.bin").read_bytes() == WEIGHTS
    assert server.requests == [
        ("/models/weights.bin", None),
        ("/models/weights.bin", "bytes=300000-"),
    ]


def test_a_part_left_by_an_earlier_run_is_resumed(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / "weights.bin.part").write_bytes(WEIGHTS[:1000])
    url = f"{server.url}/models/weights.bin"
    code, message = _run(tmp_path, "--uri", url, "--dest", str(dest))
    assert code == 0, message
    assert (dest / "weights.bin").read_bytes() == WEIGHTS
    assert server.requests == [("/models/weights.bin", "bytes=1000-")]


def test_a_wrong_checksum_fails_and_says_so(server: FileServer, tmp_path: Path) -> None:
    url = f"{server.url}/models/weights.bin"
    code, message = _run(tmp_path, "--uri", url, "--sha256", "0" * 64, "--dest", str(tmp_path))
    assert code == 1
    assert message.startswith(f"https: sha256 mismatch for {url}: expected {'0' * 64}, got ")
    assert not (tmp_path / "weights.bin").exists()


def test_a_missing_file_fails_with_the_status(server: FileServer, tmp_path: Path) -> None:
    url = f"{server.url}/models/nothing.bin"
    code, message = _run(tmp_path, "--uri", url, "--dest", str(tmp_path / "m"))
    assert (code, message) == (1, f"https: 404 Not Found for {url}")


def test_an_untrusted_certificate_fails(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    url = f"{server.url}/models/weights.bin"
    code, message = _run(tmp_path, "--uri", url, "--dest", str(tmp_path / "m"))
    assert code == 1
    assert message.startswith(f"https: cannot reach {url}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert server.requests == []


def test_the_cache_serves_the_second_fetch(server: FileServer, tmp_path: Path) -> None:
    url = f"{server.url}/models/weights.bin"
    cache = ["--cache-dir", str(tmp_path / "cache"), "--cache-key", "k"]
    first = _run(tmp_path, "--uri", url, *cache)
    second = _run(tmp_path, "--uri", url, *cache)
    assert json.loads(first[1])["origin"] == "downloaded"
    assert json.loads(second[1])["origin"] == "cache"
    assert len(server.requests) == 1
    assert (tmp_path / "cache" / "k" / "weights.bin").read_bytes() == WEIGHTS
