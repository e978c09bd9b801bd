"""One number from Prometheus' HTTP API (``/api/v1/query``), or an error that says why not.

Stdlib ``urllib`` only: analysis runs it in a worker thread, so a blocking client is simplest
and needs no event loop. The errors separate "Prometheus could not be asked" from "it answered
but has no single value": the rollout treats both as inconclusive (``analysis.inconclusive``),
but the message in status and Events must tell a person which one to fix.

Credentials in the address (``https://user:pass@prometheus``) are sent as basic auth and never
appear in a message: errors name the address without them.
"""

import base64
import http.client
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

# Enough of Prometheus' error text to say what was wrong with a query, not a whole page.
_DETAIL_CHARS = 300


class PrometheusError(Exception):
    """Base: no value could be had for a query."""


class PrometheusUnavailableError(PrometheusError):
    """Prometheus could not be asked: refused, timed out, 5xx, or an answer that is not JSON."""


class NoDataError(PrometheusError):
    """Prometheus answered, but not with one number (no series, NaN, several series)."""


class QueryError(PrometheusError):
    """Prometheus refused the query itself (4xx: bad PromQL, or a result type not a number)."""


def _split_credentials(address: str) -> tuple[str, str | None]:
    """(address without user:password, Authorization header value or None)."""
    parts = urllib.parse.urlsplit(address)
    if parts.username is None:
        return address.rstrip("/"), None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    bare = urllib.parse.urlunsplit(parts._replace(netloc=netloc)).rstrip("/")
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return bare, f"Basic {token}"


def _error_detail(body: bytes) -> str:
    try:
        detail = str(json.loads(body).get("error", ""))
    except (ValueError, AttributeError):
        detail = body.decode("utf-8", "replace")
    return detail[:_DETAIL_CHARS]


def _timed_out(where: str, timeout: float) -> PrometheusUnavailableError:
    return PrometheusUnavailableError(f"Prometheus at {where} did not answer within {timeout}s")


def _fetch(url: str, auth: str | None, where: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only, checked by the API
    if auth is not None:
        # Unredirected: a redirect to another host must not carry the credentials along.
        request.add_unredirected_header("Authorization", auth)
    try:
        # The address is http(s) by the CRD's pattern (spec.PrometheusQuery.address).
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            body = response.read()
    except urllib.error.HTTPError as error:
        detail = _error_detail(error.read())
        if error.code >= 500:
            raise PrometheusUnavailableError(
                f"Prometheus at {where} answered {error.code}: {detail}"
            ) from None
        raise QueryError(
            f"Prometheus at {where} refused the query ({error.code}): {detail}"
        ) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _timed_out(where, timeout) from None
        raise PrometheusUnavailableError(
            f"Prometheus at {where} unreachable: {error.reason}"
        ) from None
    except TimeoutError:
        raise _timed_out(where, timeout) from None
    except (OSError, http.client.HTTPException) as error:
        raise PrometheusUnavailableError(
            f"Prometheus at {where} failed: {type(error).__name__}"
        ) from None
    try:
        return json.loads(body)
    except ValueError:
        raise PrometheusUnavailableError(f"Prometheus at {where} answered with bad JSON") from None


def _sample_value(sample: Any, where: str) -> float:
    try:
        value = float(sample[1])
    except (TypeError, ValueError, IndexError):
        raise PrometheusUnavailableError(
            f"Prometheus at {where} answered with a malformed sample"
        ) from None
    if math.isnan(value):
        # Typically 0/0: a ratio over a window with no requests.
        raise NoDataError("the query's value is NaN (no requests in the window?)")
    return value


def query_scalar(address: str, query: str, timeout: float = 5.0) -> float:
    """The value of ``query`` now: a scalar, or an instant vector of exactly one sample."""
    base, auth = _split_credentials(address)
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    payload = _fetch(url, auth, base, timeout)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise PrometheusUnavailableError(f"Prometheus at {base} answered without data")
    if payload.get("status") != "success":
        raise QueryError(f"Prometheus at {base}: {str(payload.get('error'))[:_DETAIL_CHARS]}")
    data = payload["data"]
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _sample_value(result, base)
    if kind != "vector":
        raise QueryError(f"the query returned a {kind}, not an instant vector or scalar")
    if not isinstance(result, list) or not result:
        raise NoDataError("the query returned no series (no matching metrics yet?)")
    if len(result) > 1:
        raise NoDataError(
            f"the query returned {len(result)} series; it must aggregate them into one"
        )
    sample = result[0]
    return _sample_value(sample.get("value") if isinstance(sample, dict) else None, base)
