"""The ``fetch-model`` init containers of a track's pods, read from the pod status the
operator already watches: why a fetch failed (a pod problem, so it reaches the status and a
Warning Event), and where the files of those that worked came from (status per version)."""

import json
from typing import Any

from modelops.render.source import FETCH_CONTAINER

FETCH_PROBLEM = "ModelFetchFailed"


def _fetch_status(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in (pod.get("status") or {}).get("initContainerStatuses") or []:
        if status.get("name") == FETCH_CONTAINER:
            return dict(status)
    return None


def _failure(status: dict[str, Any]) -> str | None:
    """The fetcher's reason, from the run that failed: this one, or the one before a back-off."""
    for state in (status.get("state") or {}, status.get("lastState") or {}):
        terminated = state.get("terminated") or {}
        if terminated and int(terminated.get("exitCode", 0)) != 0:
            message = str(terminated.get("message") or "").strip()
            return message or f"exit code {terminated.get('exitCode')}"
    return None


def fetch_failure(pod: dict[str, Any]) -> str | None:
    """``ModelFetchFailed (pod x): s3: access denied for bucket b``, or None."""
    status = _fetch_status(pod)
    reason = _failure(status) if status else None
    if reason is None:
        return None
    name = (pod.get("metadata") or {}).get("name", "?")
    return f"{FETCH_PROBLEM} (pod {name}): {reason.splitlines()[-1][:512]}"


def _result(pod: dict[str, Any]) -> dict[str, Any] | None:
    status = _fetch_status(pod)
    terminated = ((status or {}).get("state") or {}).get("terminated") or {}
    if not terminated or int(terminated.get("exitCode", 1)) != 0:
        return None
    try:
        result = json.loads(terminated.get("message") or "")
    except ValueError:
        return None
    return result if isinstance(result, dict) and "origin" in result else None


def _size(count: int) -> str:
    if count >= 2**30:
        return f"{count / 2**30:.1f} GiB"
    if count >= 2**20:
        return f"{count / 2**20:.1f} MiB"
    return f"{count / 2**10:.1f} KiB"


def fetch_summary(pods: list[dict[str, Any]]) -> str | None:
    """Where the running pods' model files came from: "1 downloaded (40.0 MiB in 3.2s),
    2 from cache (in 0.1s)"; the slowest time of each kind. None when no pod fetched."""
    results = [r for r in map(_result, pods) if r is not None]
    parts = []
    for origin, words in (("downloaded", "downloaded"), ("cache", "from cache")):
        same = [r for r in results if r.get("origin") == origin]
        if not same:
            continue
        slowest = max(float(r.get("seconds", 0)) for r in same)
        size = _size(max(int(r.get("bytes", 0)) for r in same))
        parts.append(f"{len(same)} {words} ({size} in {slowest:.1f}s)")
    return ", ".join(parts) or None
