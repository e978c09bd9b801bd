"""Which track answers a request: the split the operator wrote, decided per request.

Pure: the table (parsed from the ``<name>-routing`` ConfigMap file) and the request's headers
in, a track out. Sticky keys go by hash into one of 10,000 buckets, and the canary holds the
buckets below its weight: the same key always lands in the same bucket, and a rising weight
only adds buckets to the canary, so a key never moves back to stable during a rollout. The
seed (the canary's version) picks other cohorts for the next rollout. Requests without a
sticky key are spread by counting (error diffusion): after n of them, the canary has had
the weight's share of n, rounded, so weights are exact rather than random.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

STABLE = "stable"
CANARY = "canary"
BUCKETS = 10_000


class RoutingError(ValueError):
    """The routing file is missing, not YAML, or not a routing table."""


@dataclass(frozen=True)
class HeaderRoute:
    header: str
    value: str


@dataclass(frozen=True)
class RoutingTable:
    canary_weight: int = 0
    # Track -> base URL of its Service; stable alone outside a rollout.
    tracks: Mapping[str, str] | None = None
    sticky_header: str | None = None
    match: tuple[HeaderRoute, ...] = ()
    seed: str = ""
    mirror: int = 0  # percent of the requests stable answers also sent to the canary

    @property
    def canary_url(self) -> str | None:
        return (self.tracks or {}).get(CANARY)


def bucket(key: str, seed: str = "") -> int:
    """The key's bucket, 0..BUCKETS-1: the same on every gateway and every Python."""
    digest = hashlib.blake2b(f"{seed}\n{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def in_canary(key: str, weight: int, seed: str = "") -> bool:
    return bucket(key, seed) < weight * BUCKETS // 100


class Spreader:
    """Exact shares for requests without a sticky key, one gateway's count."""

    def __init__(self) -> None:
        self.weight = -1
        self.seen = 0
        self.to_canary = 0

    def next_is_canary(self, weight: int) -> bool:
        if weight != self.weight:
            self.weight, self.seen, self.to_canary = weight, 0, 0
        self.seen += 1
        if self.to_canary * 100 < weight * self.seen:
            self.to_canary += 1
            return True
        return False


def choose_track(
    table: RoutingTable,
    headers: Mapping[str, str],
    client_key: str | None,
    spreader: Spreader,
) -> str:
    """The track that should answer: canary only while the table names one."""
    if table.canary_url is None:
        return STABLE
    if any(headers.get(route.header) == route.value for route in table.match):
        return CANARY
    weight = max(0, min(100, table.canary_weight))
    if table.sticky_header is not None:
        key = headers.get(table.sticky_header) or client_key
        if key:
            return CANARY if in_canary(key, weight, table.seed) else STABLE
    return CANARY if spreader.next_is_canary(weight) else STABLE


def parse_table(text: str) -> RoutingTable:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise RoutingError(f"routing is not YAML: {err}") from err
    if not isinstance(data, dict):
        raise RoutingError("routing must be a YAML mapping")
    try:
        tracks = {str(k): str(v) for k, v in (data.get("tracks") or {}).items()}
        match = tuple(
            HeaderRoute(str(m["header"]), str(m["value"])) for m in data.get("match") or ()
        )
        return RoutingTable(
            canary_weight=int(data.get("canaryWeight", 0)),
            tracks=tracks,
            sticky_header=data.get("stickyHeader"),
            match=match,
            seed=str(data.get("seed", "")),
            mirror=int(data.get("mirror", 0)),
        )
    except (TypeError, KeyError, ValueError, AttributeError) as err:
        raise RoutingError(f"routing is not a routing table: {err}") from err


def load_table(path: Path) -> RoutingTable:
    try:
        return parse_table(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise RoutingError(f"cannot read routing {path}: {err}") from err
