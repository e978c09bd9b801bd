"""The mark of a forwarded request: proof that a gateway of the same ModelService sent it.

A forwarded request was already identified and counted where it entered; the gateway that
receives it answers it itself, without limits and without forwarding it again. A client must
not get that by sending the header itself, so the mark is an HMAC (SHA-256) under the
per-ModelService key only the pods hold, over the time, the tier, the kind (forwarded, or a
mirrored copy), the method, the path and the body's digest: a mark seen once is good only
for that same request within MAX_SKEW seconds. A request with a mark that does not verify
is refused (403), never served.
"""

import hashlib
import hmac
import time
from dataclasses import dataclass

MARK_HEADER = "X-Modelops-Forwarded"
# On the 403 for a mark that does not verify: a forwarding gateway then answers itself.
MARK_REFUSED_HEADER = "X-Modelops-Mark-Refused"
VERSION = "v1"
# Clocks of the cluster's nodes agree to well within this; a captured mark is stale after it.
MAX_SKEW = 30.0
FORWARDED, MIRRORED = "f", "m"


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\n".join((VERSION, *parts)).encode(), hashlib.sha256).hexdigest()


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Proof:
    """What a verified mark says: the tier found where the request entered, and whether this
    is a mirrored copy (its answer is discarded there)."""

    tier: str
    mirrored: bool


def sign(
    key: bytes,
    tier: str,
    method: str,
    path_qs: str,
    body: bytes,
    *,
    mirrored: bool = False,
    now: float | None = None,
) -> str:
    stamp = str(int(time.time() if now is None else now))
    kind = MIRRORED if mirrored else FORWARDED
    mac = _mac(key, stamp, tier, kind, method, path_qs, _digest(body))
    return f"{VERSION}.{stamp}.{tier}.{kind}.{mac}"


def verify(
    key: bytes, mark: str, method: str, path_qs: str, body: bytes, *, now: float | None = None
) -> Proof | None:
    """What the entering gateway said, or None when the mark is not proven."""
    parts = mark.split(".")
    if len(parts) != 5 or parts[0] != VERSION or not parts[1].isdigit():
        return None
    _, stamp, tier, kind, mac = parts
    moment = time.time() if now is None else now
    if kind not in {FORWARDED, MIRRORED} or abs(moment - int(stamp)) > MAX_SKEW:
        return None
    expected = _mac(key, stamp, tier, kind, method, path_qs, _digest(body))
    if not hmac.compare_digest(expected, mac):
        return None
    return Proof(tier, kind == MIRRORED)
