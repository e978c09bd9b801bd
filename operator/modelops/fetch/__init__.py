"""``modelops fetch``: the init container that puts a model's files where the model container
will see them (``spec.model.source``). Its last word is the init container's termination
message: one line of JSON on success (from the cache or downloaded, bytes, seconds), the
reason on failure; the operator reads either from the pod status into the ModelService's.

Credentials come from the environment (the source's Secret, referenced by this container
only) and are never logged.
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from modelops.api.source import DEFAULT_HF_REVISION, Scheme, parse_uri
from modelops.fetch.cache import WORK_DIR, Downloader, fetch_cached, fetch_direct, parse_size
from modelops.fetch.result import FetchError, FetchResult, write_termination_message

log = logging.getLogger("modelops.fetch")

TERMINATION_LOG = Path("/dev/termination-log")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="modelops fetch", description="Fetch a model's files (the fetch-model init container)."
    )
    top.add_argument("--uri", required=True, help="https://, s3:// or hf:// source")
    top.add_argument("--sha256", help="https: expected SHA-256 of the file")
    top.add_argument("--revision", help=f"hf: branch, tag or commit ({DEFAULT_HF_REVISION})")
    top.add_argument("--endpoint", help="s3: endpoint URL; hf: Hub mirror (HF_ENDPOINT)")
    top.add_argument("--region", help="s3: region")
    where = top.add_mutually_exclusive_group(required=True)
    where.add_argument("--dest", type=Path, help="directory to fetch into (no cache)")
    where.add_argument("--cache-dir", type=Path, help="root of the shared cache volume")
    top.add_argument("--cache-key", help="the model's directory in the cache")
    top.add_argument("--cache-max-size", help="evict least recently used models above this")
    top.add_argument(
        "--termination-log",
        type=Path,
        default=TERMINATION_LOG,
        help="where the result or the reason of a failure is written",
    )
    return top


def downloader(args: argparse.Namespace) -> Downloader:
    """How to fetch this source into a directory. Each store's client is imported only when
    a download starts: boto3 and huggingface_hub take longer to import than a cache hit."""
    parsed = parse_uri(args.uri)

    def from_https(into: Path) -> tuple[int, int]:
        from modelops.fetch import https  # noqa: PLC0415

        name = PurePosixPath(parsed.path.split("?", 1)[0]).name or "model"
        return https.download(args.uri, into / name, args.sha256), 1

    def from_s3(into: Path) -> tuple[int, int]:
        from modelops.fetch import s3  # noqa: PLC0415

        return s3.download(parsed.location, parsed.path, into, args.endpoint, args.region)

    def from_hf(into: Path) -> tuple[int, int]:
        from modelops.fetch import hf  # noqa: PLC0415

        revision = args.revision or DEFAULT_HF_REVISION
        work = (args.cache_dir or args.dest) / WORK_DIR
        return hf.download(parsed.location, revision, into, args.endpoint, work)

    chosen = {Scheme.HTTPS: from_https, Scheme.S3: from_s3, Scheme.HF: from_hf}
    if parsed.scheme not in chosen:
        raise FetchError(f"{args.uri}: a {parsed.scheme}:// source is mounted, not fetched")
    return chosen[parsed.scheme]


def fetch(args: argparse.Namespace) -> FetchResult:
    download = downloader(args)
    if args.cache_dir is None:
        args.dest.mkdir(parents=True, exist_ok=True)
        return fetch_direct(args.dest, download)
    if not args.cache_key:
        raise FetchError("--cache-dir needs --cache-key")
    limit = parse_size(args.cache_max_size) if args.cache_max_size else None
    return fetch_cached(args.cache_dir, args.cache_key, limit, download)


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parser().parse_args(list(argv))
    try:
        result = fetch(args)
    except (FetchError, ValueError) as error:
        log.error("fetch failed: %s", error)
        write_termination_message(args.termination_log, str(error))
        return 1
    except OSError as error:
        reason = f"fetch: {error.strerror or error} ({error.filename or 'no file'})"
        log.error("fetch failed: %s", reason)
        write_termination_message(args.termination_log, reason)
        return 1
    message = result.to_message()
    log.info("fetched: %s", message)
    write_termination_message(args.termination_log, message)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
