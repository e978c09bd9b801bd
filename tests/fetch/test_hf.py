"""hf:// with the real huggingface_hub client against a local stand-in for the Hub (which is
unreachable here) serving the Hub's file layout: a revision, a private repo with a token,
the endpoint (HF_ENDPOINT) and the cache, and the reasons a user sees."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelops.fetch import main as fetch
from tests.support.fakehub import FakeHub, HubRepo, fake_hub

MAIN = "a" * 40
V2 = "b" * 40


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    # The fetcher sets these for its own process: each test starts without them.
    for variable in ("HF_ENDPOINT", "HF_HOME", "HF_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(os, "environ", os.environ.copy())
    repos = {
        "org/demo": HubRepo(
            files={"config.json": b'{"labels": 2}', "weights/model.bin": b"w" * 70_000},
            revisions={"main": MAIN, "v2": V2},
        ),
        "org/private": HubRepo(
            files={"model.bin": b"secret"}, revisions={"main": MAIN}, token="hf_good"
        ),
    }
    with fake_hub(repos) as running:
        yield running


def _run(hub: FakeHub, tmp_path: Path, uri: str, *args: str) -> tuple[int, str]:
    log = tmp_path / "termination-log"
    code = fetch(["--uri", uri, "--endpoint", hub.url, *args, "--termination-log", str(log)])
    return code, log.read_text()


def test_a_repo_at_a_revision_is_downloaded(hub: FakeHub, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    code, message = _run(hub, tmp_path, "hf://org/demo", "--revision", "v2", "--dest", str(dest))
    assert code == 0, message
    assert (dest / "config.json").read_bytes() == b'{"labels": 2}'
    assert (dest / "weights" / "model.bin").read_bytes() == b"w" * 70_000
    assert json.loads(message)["files"] == 2
    assert sorted(hub.file_gets("org/demo")) == [
        f"GET /org/demo/resolve/{V2}/config.json",
        f"GET /org/demo/resolve/{V2}/weights/model.bin",
    ]


def test_a_private_repo_needs_its_token(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = ["--dest", str(tmp_path / "m")]
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    code, message = _run(hub, tmp_path, "hf://org/private", *dest)
    assert (code, message) == (
        1,
        "hf: repository org/private not found, or the token has no access to it",
    )
    assert "hf_wrong" not in message
    monkeypatch.setenv("HF_TOKEN", "hf_good")
    code, message = _run(hub, tmp_path, "hf://org/private", *dest)
    assert code == 0, message
    assert (tmp_path / "m" / "model.bin").read_bytes() == b"secret"


def test_an_unknown_revision_says_so(hub: FakeHub, tmp_path: Path) -> None:
    code, message = _run(
        hub, tmp_path, "hf://org/demo", "--revision", "v9", "--dest", str(tmp_path)
    )
    assert (code, message) == (1, "hf: org/demo has no revision v9")


def test_the_cache_serves_the_second_fetch(hub: FakeHub, tmp_path: Path) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache"), "--cache-key", "demo"]
    first = _run(hub, tmp_path, "hf://org/demo", *cache)
    second = _run(hub, tmp_path, "hf://org/demo", *cache)
    assert json.loads(first[1])["origin"] == "downloaded"
    assert json.loads(second[1])["origin"] == "cache"
    assert len(hub.file_gets("org/demo")) == 2
    assert (tmp_path / "cache" / "demo" / "config.json").exists()


def test_hf_endpoint_in_the_environment_is_honoured(hub: FakeHub, tmp_path: Path) -> None:
    """A mirror named by HF_ENDPOINT alone (no endpoint in the spec), in a fresh process as
    in the init container: `modelops fetch` through the command line."""
    log = tmp_path / "termination-log"
    env = {"PATH": os.environ["PATH"], "HF_ENDPOINT": hub.url, "HOME": str(tmp_path)}
    argv = ["-m", "modelops.cli", "fetch", "--uri", "hf://org/demo", "--dest", str(tmp_path / "m")]
    done = subprocess.run(
        [sys.executable, *argv, "--termination-log", str(log)],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(log.read_text())["origin"] == "downloaded"
    assert f"GET /org/demo/resolve/{MAIN}/config.json" in hub.file_gets("org/demo")
    assert b"fetched:" in done.stderr
