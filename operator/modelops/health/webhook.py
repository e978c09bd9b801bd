"""Ask a webhook gate: a POST of JSON, with Flagger's semantics.

2xx passes. A timeout, a connection failure or a 5xx is retried (``retries`` more times, a
second apart, then two, four...), then counts as a failed check; any other answer (a 4xx, a
redirect not followed) fails at once: asking again would get the same. Stdlib ``urllib``, as
for Prometheus: it runs in a gate's own thread (modelops.controller.gates), never on the
reconcile's. Messages quote the answer's start, never the URL (it may hold a token).
"""

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from modelops.rollout.gate_io import GateOutcome

# Enough of an answer to say why, not a page.
_ANSWER_CHARS = 200


class _RetryableError(Exception):
    """A timeout, a refused connection or a 5xx: worth asking again."""


def _post(url: str, payload: dict[str, Any], timeout: float) -> tuple[int, str]:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by the CRD's pattern
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            return response.status, response.read(_ANSWER_CHARS).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        text = error.read(_ANSWER_CHARS).decode("utf-8", "replace")
        if error.code >= 500:
            raise _RetryableError(f"HTTP {error.code}: {text}".strip()) from None
        return error.code, text
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _RetryableError(f"no answer within {timeout:g}s") from None
        raise _RetryableError(f"unreachable: {error.reason}") from None
    except TimeoutError:
        raise _RetryableError(f"no answer within {timeout:g}s") from None
    except (OSError, http.client.HTTPException) as error:
        raise _RetryableError(f"failed: {type(error).__name__}") from None


def call_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    timeout: float,
    retries: int,
    sleep: Callable[[float], None] = time.sleep,
) -> GateOutcome:
    """One gate run: POST until an answer that is not worth retrying, or the tries are out."""
    tries = retries + 1
    why = ""
    for attempt in range(tries):
        if attempt:
            sleep(float(min(2 ** (attempt - 1), 30)))
        try:
            status, text = _post(url, payload, timeout)
        except _RetryableError as error:
            why = str(error)
            continue
        words = f"HTTP {status}" + (f": {text.strip()}" if text.strip() else "")
        return GateOutcome(200 <= status < 300, words)
    return GateOutcome(False, f"{why} (after {tries} tries)")
