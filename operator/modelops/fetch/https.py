"""https://: one file, resumed with HTTP Range requests from the ``.part`` left by an earlier
try (a dropped connection, a restarted init container, another pod on the cache), its size
checked against what the server said and its SHA-256 against the spec's when given.

The standard library's client is enough for one GET with a Range header; it trusts the
system's CAs, or the bundle named by ``SSL_CERT_FILE``."""

import hashlib
import http.client
import logging
import re
import ssl
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import BinaryIO

from modelops.fetch.progress import Progress
from modelops.fetch.result import FetchError

log = logging.getLogger("modelops.fetch")

CHUNK = 4 << 20
ATTEMPTS = 5
TIMEOUT_SECONDS = 60
BACKOFF_SECONDS = 0.5


def _hash_of(path: Path) -> "hashlib._Hash":
    digest = hashlib.sha256()
    with path.open("rb") as existing:
        while block := existing.read(CHUNK):
            digest.update(block)
    return digest


def _total_from(headers: Message, offset: int) -> int | None:
    """The whole file's size: Content-Range's total, or the length past ``offset``."""
    match = re.search(r"/(\d+)$", headers.get("Content-Range", ""))
    if match:
        return int(match.group(1))
    length = headers.get("Content-Length")
    return int(length) + offset if length is not None else None


def _open(url: str, offset: int) -> http.client.HTTPResponse:
    request = urllib.request.Request(url)  # noqa: S310  # the scheme is https (spec pattern)
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    context = ssl.create_default_context()
    response: http.client.HTTPResponse = urllib.request.urlopen(  # noqa: S310  # nosec B310
        request, timeout=TIMEOUT_SECONDS, context=context
    )
    return response


def _copy(
    response: http.client.HTTPResponse, out: BinaryIO, digest: "hashlib._Hash", progress: Progress
) -> None:
    # One buffer reused for the whole file: no new bytes object per chunk.
    buffer = memoryview(bytearray(CHUNK))
    while count := response.readinto(buffer):
        block = buffer[:count]
        out.write(block)
        digest.update(block)
        progress.advance(count)


def _attempt(url: str, part: Path, progress: Progress) -> tuple[int | None, "hashlib._Hash"]:
    """One GET from where ``part`` ends; returns the size the server gave and the hash so far."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # The part already holds everything the server has: the size check decides.
            match = re.search(r"/(\d+)$", error.headers.get("Content-Range", ""))
            return (int(match.group(1)) if match else None), _hash_of(part)
        raise
    with response:
        if offset and response.status != 206:
            log.info("%s: the server ignored the Range header; starting over", url)
            offset = 0
        elif offset:
            log.info("%s: resuming at byte %d", url, offset)
        digest = _hash_of(part) if offset else hashlib.sha256()
        total = _total_from(response.headers, offset)
        progress.total, progress.done = total, offset
        with part.open("ab" if offset else "wb") as out:
            _copy(response, out, digest, progress)
    got = part.stat().st_size
    if total is not None and got < total:
        # http.client ends a short body quietly: a dropped connection, resumed next attempt.
        raise ConnectionError(f"connection closed at byte {got} of {total}")
    return total, digest


def _reason(url: str, error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"https: {error.code} {error.reason} for {url}"
    if isinstance(error, urllib.error.URLError):
        return f"https: cannot reach {url}: {error.reason}"
    return f"https: {url}: {error}"


def download(url: str, dest: Path, sha256: str | None) -> int:
    """Fetch ``url`` to ``dest`` (a file); returns its size."""
    part = dest.with_name(dest.name + ".part")
    progress = Progress(dest.name, None)
    failure: Exception = ConnectionError("not tried")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            total, digest = _attempt(url, part, progress)
            break
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise FetchError(_reason(url, error)) from None
            failure = error
        except urllib.error.URLError as error:
            if isinstance(error.reason, ssl.SSLError):
                raise FetchError(_reason(url, error)) from None  # not better next time
            failure = error
        except (OSError, http.client.HTTPException) as error:
            failure = error
        log.warning("%s: attempt %d of %d failed: %s", url, attempt, ATTEMPTS, failure)
        time.sleep(min(attempt, 5) * BACKOFF_SECONDS)
    else:
        raise FetchError(_reason(url, failure))
    size = part.stat().st_size
    progress.report()
    if total is not None and size != total:
        raise FetchError(f"https: {url}: got {size} bytes, the server announced {total}")
    if sha256 is not None and digest.hexdigest() != sha256:
        part.unlink()
        raise FetchError(
            f"https: sha256 mismatch for {url}: expected {sha256}, got {digest.hexdigest()}"
        )
    part.rename(dest)
    return size
