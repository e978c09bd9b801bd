"""What the gateway itself answers: JSON errors and the X-RateLimit-* headers.

Errors use the OpenAI error shape (``{"error": {"type", "message"}}``) because that is what
the clients of these models already parse.
"""

import json
import math

from multidict import istr

from modelops.gateway.http_exchange import Response
from modelops.gateway.limiter import Outcome

JSON_TYPE = "application/json; charset=utf-8"  # as aiohttp sent JSON text
# The names as the multidict's folded keys (``istr``): merged into every answer's headers.
_LIMIT = istr("X-RateLimit-Limit")
_REMAINING = istr("X-RateLimit-Remaining")
_RESET = istr("X-RateLimit-Reset")
_RETRY_AFTER = istr("Retry-After")


def error_response(
    status: int,
    kind: str,
    message: str,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> Response:
    """``param``: the request field at fault (OpenAI's ``param``), for invalid requests."""
    error: dict[str, object] = {"type": kind, "message": message, "code": status}
    if param is not None:
        error["param"] = param
    body = json.dumps({"error": error}).encode()
    return Response(status, body, headers, content_type=JSON_TYPE)


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1 (0 would invite a hot retry loop)."""
    return str(max(1, math.ceil(seconds)))


def limit_headers(outcome: Outcome) -> dict[str, str]:
    """X-RateLimit-* for the limit closest to refusing; Retry-After when refused.

    Reset is in seconds from now (as in the IETF RateLimit header draft), not an epoch time:
    replicas and clients need not agree on clocks.
    """
    verdict = outcome.binding()
    if verdict is None or verdict.limit is None:
        return {}
    reset = verdict.reset_after if verdict.fits else verdict.retry_after
    headers: dict[str, str] = {
        _LIMIT: str(verdict.limit),
        _REMAINING: str(verdict.remaining),
        _RESET: str(math.ceil(reset)),
    }
    if not verdict.fits:
        headers[_RETRY_AFTER] = retry_after(verdict.retry_after)
    return headers
