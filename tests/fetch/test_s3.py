"""s3:// against a real S3-compatible server (moto's, with authentication on): a prefix
downloaded, a ranged resume, the MD5 check, the cache, and the reasons a user sees."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelops.fetch import main as fetch
from tests.support.s3store import S3Store, s3_store

WEIGHTS = bytes(range(256)) * 2048  # 512 KiB


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    with s3_store(tmp_path_factory.mktemp("moto")) as running:
        client: Any = running.client()
        client.create_bucket(Bucket="models")
        client.put_object(Bucket="models", Key="demo/v1/weights.bin", Body=WEIGHTS)
        client.put_object(Bucket="models", Key="demo/v1/tokenizer/words.txt", Body=b"a\nb\n")
        client.put_object(Bucket="models", Key="demo/v10/other.bin", Body=b"not this one")
        yield running


@pytest.fixture
def credentials(store: S3Store, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", store.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", store.secret_key)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return store


def _run(store: S3Store, tmp_path: Path, uri: str, *where: str) -> tuple[int, str]:
    log = tmp_path / "termination-log"
    argv = ["--uri", uri, "--endpoint", store.endpoint, "--region", "us-east-1", *where]
    code = fetch([*argv, "--termination-log", str(log)])
    return code, log.read_text()


def test_a_prefix_is_downloaded(credentials: S3Store, tmp_path: Path) -> None:
    before = len(credentials.object_gets("models"))
    dest = tmp_path / "m"
    code, message = _run(credentials, tmp_path, "s3://models/demo/v1", "--dest", str(dest))
    assert code == 0, message
    assert (dest / "weights.bin").read_bytes() == WEIGHTS
    assert (dest / "tokenizer" / "words.txt").read_bytes() == b"a\nb\n"
    assert not (dest / "other.bin").exists()
    result = json.loads(message)
    assert (result["origin"], result["files"], result["bytes"]) == (
        "downloaded",
        2,
        len(WEIGHTS) + 4,
    )
    assert len(credentials.object_gets("models")) - before == 2


def test_a_part_is_resumed_and_checked_against_the_etag(
    credentials: S3Store, tmp_path: Path
) -> None:
    dest = tmp_path / "m"
    dest.mkdir()
    # A part whose bytes differ from the object's: only a ranged resume keeps them, and the
    # MD5 check then refuses the file.
    (dest / "weights.bin.part").write_bytes(b"x" * 1000)
    code, message = _run(
        credentials, tmp_path, "s3://models/demo/v1/weights.bin", "--dest", str(dest)
    )
    assert code == 1
    assert message.startswith("s3: checksum mismatch for s3://models/demo/v1/weights.bin")
    (dest / "weights.bin.part").write_bytes(WEIGHTS[:1000])
    code, message = _run(
        credentials, tmp_path, "s3://models/demo/v1/weights.bin", "--dest", str(dest)
    )
    assert code == 0, message
    assert (dest / "weights.bin").read_bytes() == WEIGHTS


def test_the_cache_serves_the_second_fetch(credentials: S3Store, tmp_path: Path) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache"), "--cache-key", "demo-v1"]
    first = _run(credentials, tmp_path, "s3://models/demo/v1/", *cache)
    gets = len(credentials.object_gets("models"))
    second = _run(credentials, tmp_path, "s3://models/demo/v1/", *cache)
    assert json.loads(first[1])["origin"] == "downloaded"
    assert json.loads(second[1])["origin"] == "cache"
    assert len(credentials.object_gets("models")) == gets


@pytest.mark.parametrize(
    ("variable", "value", "code"),
    [
        ("AWS_SECRET_ACCESS_KEY", "wrong", "SignatureDoesNotMatch"),
        ("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY0000000", "InvalidAccessKeyId"),
    ],
)
def test_a_wrong_credential_says_access_denied(
    credentials: S3Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    code: str,
) -> None:
    monkeypatch.setenv(variable, value)
    result = _run(credentials, tmp_path, "s3://models/demo/v1", "--dest", str(tmp_path / "m"))
    assert result == (1, f"s3: access denied for bucket models ({code})")
    assert credentials.secret_key not in result[1]


def test_a_missing_bucket_and_an_empty_prefix_say_so(credentials: S3Store, tmp_path: Path) -> None:
    dest = ["--dest", str(tmp_path / "m")]
    assert _run(credentials, tmp_path, "s3://nothing-here/x", *dest) == (
        1,
        "s3: no bucket nothing-here",
    )
    assert _run(credentials, tmp_path, "s3://models/demo/v2", *dest) == (
        1,
        "s3: no objects under s3://models/demo/v2",
    )
