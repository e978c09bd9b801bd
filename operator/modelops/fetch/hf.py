"""hf://org/model: a Hub repository at a revision, through the Hub's own client
(``huggingface_hub``): its file layout and revisions, resumed partial files, and
``HF_ENDPOINT`` for a mirror. The token comes from ``HF_TOKEN`` (the source's Secret)."""

import os
from pathlib import Path

from modelops.fetch.result import FetchError


def download(
    repo_id: str, revision: str, dest: Path, endpoint: str | None, work: Path
) -> tuple[int, int]:
    """Fetch the repo's files at ``revision`` into ``dest``; returns (bytes, files)."""
    # The client keeps its own files under HF_HOME (read when it is imported): in the
    # fetcher's work area on the volume, since the container's root filesystem is read-only.
    os.environ.setdefault("HF_HOME", str(work / "hf-home"))
    from huggingface_hub import snapshot_download  # noqa: PLC0415
    from huggingface_hub.errors import (  # noqa: PLC0415
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        # No endpoint: the client's own, HF_ENDPOINT when set (a mirror), else the Hub.
        snapshot_download(
            repo_id=repo_id,
            revision=revision,
            local_dir=dest,
            cache_dir=work / "hf-cache",
            endpoint=endpoint,
            token=os.environ.get("HF_TOKEN"),
        )
    except GatedRepoError:
        raise FetchError(f"hf: {repo_id} is gated: the token has no access") from None
    except RepositoryNotFoundError:
        raise FetchError(
            f"hf: repository {repo_id} not found, or the token has no access to it"
        ) from None
    except RevisionNotFoundError:
        raise FetchError(f"hf: {repo_id} has no revision {revision}") from None
    except LocalEntryNotFoundError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise FetchError(f"hf: cannot reach the Hub for {repo_id}: {first}") from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        raise FetchError(f"hf: HTTP {status} for {repo_id}@{revision}") from None
    # The client's own metadata (.cache/) and the fetcher's (.modelops/) are not the model.
    files = [
        path
        for path in dest.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(dest).parts)
    ]
    return sum(path.stat().st_size for path in files), len(files)
