"""s3://bucket/prefix: every object under the prefix, through the AWS SDK (SigV4, retries,
any S3-compatible endpoint). Each object is resumed from its ``.part`` with a ranged GET,
its size checked against the listing, and its MD5 against the ETag when the ETag is one
(a single-part upload without KMS)."""

import hashlib
import logging
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from modelops.fetch.https import CHUNK
from modelops.fetch.progress import Progress
from modelops.fetch.result import FetchError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("modelops.fetch")

DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "401", "Forbidden"}
)


def _client(endpoint: str | None, region: str | None) -> "S3Client":
    config = Config(retries={"max_attempts": 5, "mode": "standard"})
    # A session of its own: the default one keeps the first credentials it found.
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint, region_name=region, config=config)


def _reason(bucket: str, error: Exception) -> str:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in DENIED:
            return f"s3: access denied for bucket {bucket} ({code})"
        if code in {"NoSuchBucket", "404"}:
            return f"s3: no bucket {bucket}"
        return f"s3: {code or 'error'} for bucket {bucket}"
    return f"s3: cannot reach the store for bucket {bucket}: {error}"


def _objects(client: "S3Client", bucket: str, prefix: str) -> list[dict[str, Any]]:
    """The object named ``prefix``, or the objects in the "directory" ``prefix``."""
    folder = prefix.rstrip("/")
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        found.extend(dict(item) for item in page.get("Contents", []))
    return [
        item
        for item in found
        if not str(item["Key"]).endswith("/")
        and (not folder or item["Key"] == folder or str(item["Key"]).startswith(folder + "/"))
    ]


def _relative(key: str, prefix: str) -> PurePosixPath:
    """Where an object lands under the destination: its key past the prefix, never outside."""
    folder = prefix.rstrip("/")
    if key == folder:
        relative = PurePosixPath(PurePosixPath(key).name)
    else:
        relative = PurePosixPath(key[len(folder) + 1 :] if folder else key)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise FetchError(f"s3: object key {key!r} would land outside the model directory")
    return relative


def _md5_of(etag: str) -> str | None:
    plain = etag.strip('"')
    return plain if re.fullmatch(r"[0-9a-f]{32}", plain) else None


def _download_object(client: "S3Client", bucket: str, item: dict[str, Any], dest: Path) -> int:
    key, size = str(item["Key"]), int(item["Size"])
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if offset > size:
        part.unlink()
        offset = 0
    progress = Progress(key, size, offset)
    if offset < size:
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        if offset:
            log.info("s3://%s/%s: resuming at byte %d", bucket, key, offset)
        body = client.get_object(Bucket=bucket, Key=key, **extra)["Body"]  # type: ignore[arg-type]
        with part.open("ab" if offset else "wb") as out:
            for block in body.iter_chunks(CHUNK):
                out.write(block)
                progress.advance(len(block))
    progress.report()
    got = part.stat().st_size
    if got != size:
        raise FetchError(f"s3: s3://{bucket}/{key}: got {got} bytes, the listing says {size}")
    expected = _md5_of(str(item.get("ETag", "")))
    if expected is not None:
        digest = hashlib.md5(usedforsecurity=False)
        with part.open("rb") as written:
            while block := written.read(CHUNK):
                digest.update(block)
        if digest.hexdigest() != expected:
            part.unlink()
            raise FetchError(f"s3: checksum mismatch for s3://{bucket}/{key} (ETag {expected})")
    part.rename(dest)
    return size


def download(
    bucket: str, prefix: str, dest: Path, endpoint: str | None, region: str | None
) -> tuple[int, int]:
    """Fetch every object under ``prefix`` into ``dest``; returns (bytes, files)."""
    client = _client(endpoint, region)
    try:
        items = _objects(client, bucket, prefix)
        if not items:
            raise FetchError(f"s3: no objects under s3://{bucket}/{prefix}")
        total = 0
        for item in items:
            target = dest / _relative(str(item["Key"]), prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            total += _download_object(client, bucket, item, target)
    except (ClientError, BotoCoreError) as error:
        raise FetchError(_reason(bucket, error)) from None
    return total, len(items)
