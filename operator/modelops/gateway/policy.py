"""The rate-limit policy as the gateway uses it: loaded from the ConfigMap file, compiled once.

The operator writes ``RateLimit(...).to_api()`` as YAML into the ``<name>-ratelimit``
ConfigMap; the same pydantic model validates it here, so the gateway refuses exactly what the
API server would. Compiling (tier lookups, window in seconds) happens once per load, not once
per request.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import yaml

from modelops.api.base import parse_duration_seconds
from modelops.api.spec import MissingKey, RateLimit, RateLimitTier
from modelops.gateway.budgets import BudgetPlan
from modelops.gateway.caches import remember
from modelops.gateway.limiter import Demand

ANONYMOUS = "anonymous"
NO_TIER = "none"


class PolicyError(ValueError):
    """The policy file is missing, not YAML, or not a valid RateLimit."""


def client_hash(client_id: str) -> str:
    """A short stable digest of a client id: what logs and Redis keys hold instead of API keys."""
    return hashlib.sha256(client_id.encode()).hexdigest()[:16]


class Identity(NamedTuple):
    """Who is asking and which limits apply to them. A NamedTuple: it keys the per-request
    caches, and a tuple hashes in C where a frozen dataclass's ``__hash__`` is Python."""

    client: str
    tier: str
    requests_per_minute: int | None
    tokens_per_minute: int | None
    client_digest: str  # client_hash(client): what logs and counter keys hold


def identity(client: str, tier: str, requests: int | None, tokens: int | None) -> Identity:
    return Identity(client, tier, requests, tokens, client_hash(client))


@dataclass(frozen=True)
class Policy:
    spec: RateLimit
    window: float
    tiers: Mapping[str, RateLimitTier] = field(default_factory=dict)
    client_tiers: Mapping[str, str] = field(default_factory=dict)
    budgets: BudgetPlan | None = None
    # Per request only dict look-ups: who a (client key, tier header) pair is, and the
    # demands of an identity, are worked out once per policy (a reload starts afresh).
    _identities: dict[tuple[str, str | None], Identity] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _admissions: dict[Identity, tuple[Demand, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _known_token_counters: dict[Identity, tuple[Demand, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def compile(cls, spec: RateLimit) -> "Policy":
        window = parse_duration_seconds(spec.window)
        if window <= 0:
            raise PolicyError(f"window must be longer than zero, got {spec.window!r}")
        return cls(
            spec=spec,
            window=window,
            tiers={tier.name: tier for tier in spec.tiers or ()},
            client_tiers={client.id: client.tier for client in spec.clients or ()},
            budgets=BudgetPlan(spec.budgets, cls.key_prefix(spec)) if spec.budgets else None,
        )

    @staticmethod
    def key_prefix(spec: RateLimit) -> str:
        return spec.redis.key_prefix if spec.redis else "modelops"

    def identify(self, headers: Mapping[str, str]) -> Identity | None:
        """Resolve client and tier from request headers; None means refuse (401).

        A tier named by the header or the clients list that the policy does not define is
        passed over, so a stale mapping degrades to the next rule instead of failing requests.
        """
        spec = self.spec
        client = headers.get(spec.client_header)
        if not client:
            if spec.missing_key == MissingKey.REJECT:
                return None
            client = ANONYMOUS
        header = self.trusted_tier_header
        return self.identify_as(client, headers.get(header) if header else None)

    @property
    def trusted_tier_header(self) -> str | None:
        """The tier header when a trusted proxy sets it: a client could name any tier."""
        return self.spec.tier_header if self.spec.tier_header_trusted else None

    def identify_as(self, client: str, asked: str | None) -> Identity:
        """The identity of ``client`` asking for tier ``asked`` (a key's tier, or a trusted
        proxy's header), cached per pair."""
        known = self._identities.get((client, asked))
        if known is not None:
            return known
        return remember(self._identities, (client, asked), self._resolve(client, asked))

    def _resolve(self, client: str, asked: str | None) -> Identity:
        for name in (asked, self.client_tiers.get(client), self.spec.default_tier):
            if name is not None and name in self.tiers:
                tier = self.tiers[name]
                return identity(client, name, tier.requests_per_minute, tier.tokens_per_minute)
        return identity(client, NO_TIER, self.spec.requests_per_minute, self.spec.tokens_per_minute)

    def _key(self, kind: str, who: str) -> str:
        prefix = self.key_prefix(self.spec)
        # The window is part of the key: buckets of a different width must not be mixed.
        return f"{prefix}:rl:{round(self.window * 1000)}:{kind}:{who}"

    def _per_window(self, per_minute: int | None) -> int | None:
        """Limits are per minute in the API and enforced over the policy's window.

        Scaling rounds down (never more than asked), except that a positive limit stays at
        least 1 so a short window cannot silently turn "a few a minute" into "none".
        """
        if per_minute is None:
            return None
        scaled = int(per_minute * self.window / 60.0)
        return max(scaled, 1) if per_minute > 0 else 0

    def admission(self, who: Identity) -> tuple[Demand, ...]:
        """Demands checked before a request: one request each, and token budget left."""
        known = self._admissions.get(who)
        if known is None:
            known = remember(self._admissions, who, self._admission(who))
        return known

    def _admission(self, who: Identity) -> tuple[Demand, ...]:
        demands = []
        pairs = [
            ("rq", who.client_digest, who.requests_per_minute, 1),
            ("rq", "*", self.spec.global_requests_per_minute, 1),
            ("tk", who.client_digest, who.tokens_per_minute, 0),
            ("tk", "*", self.spec.global_tokens_per_minute, 0),
        ]
        for kind, scope, per_minute, charge in pairs:
            limit = self._per_window(per_minute)
            if limit is not None:
                demands.append(Demand(self._key(kind, scope), limit, 1, charge))
        return tuple(demands)

    def token_counters(self, who: Identity) -> tuple[Demand, ...]:
        """The windows a response's tokens are charged to, each with a charge of 0: the
        caller passes the amount beside them (``Backend.charge``), so none is made per
        answer. They never refuse."""
        known = self._known_token_counters.get(who)
        if known is None:
            known = remember(self._known_token_counters, who, self._token_counters(who))
        return known

    def _token_counters(self, who: Identity) -> tuple[Demand, ...]:
        keys = []
        if who.tokens_per_minute is not None:
            keys.append(self._key("tk", who.client_digest))
        if self.spec.global_tokens_per_minute is not None:
            keys.append(self._key("tk", "*"))
        return tuple(Demand(key, None, 0, 0) for key in keys)


def limit_name(key: str) -> str:
    """The metric label of a counter key built by ``Policy._key``."""
    kind, scope = key.rsplit(":", 2)[-2:]
    noun = "requests" if kind == "rq" else "tokens"
    return f"global_{noun}" if scope == "*" else noun


def parse_policy(text: str) -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise PolicyError(f"policy is not YAML: {err}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError("policy must be a YAML mapping of RateLimit fields")
    try:
        return Policy.compile(RateLimit.model_validate(data))
    except ValueError as err:
        raise PolicyError(f"policy is not a valid RateLimit: {err}") from err


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PolicyError(f"cannot read policy {path}: {err}") from err
    return parse_policy(text)


def open_policy() -> Policy:
    """The policy without a file: no limits, and clients without a key are let through."""
    return Policy.compile(RateLimit(missing_key=MissingKey.ANONYMOUS))
