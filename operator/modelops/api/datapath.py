"""What the gateway sidecar does with each request besides limiting it: API keys, and
``spec.dataPath`` (upstream timeouts, retries, circuit breaker, fallback chain, input checks).

``dataPath`` is its own section, not part of ``rateLimit`` (limits change at run time through
the ConfigMap; these settings are gateway flags and change with a pod rollout) nor called
``gateway`` (that word already names Gateway API routing, ``rollout.trafficRouting.gatewayAPI``).
"""

from typing import Annotated, Any

from pydantic import Field

from modelops.api.base import DNS_LABEL_PATTERN, ApiModel, Duration, parse_duration_seconds
from modelops.api.rules import Rule

# A Secret's name: a DNS-1123 subdomain.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class ApiKeys(ApiModel):
    """API keys checked by the gateway against a Secret of the ModelService's namespace.

    The Secret is mounted into the gateway sidecar (the operator never reads it). Its
    ``keys.yaml`` item holds ``keys:``, a list of ``{key: <raw key>}`` or ``{sha256: <hex digest
    of the key>}`` entries, each with ``client`` (the id limits are counted under) and
    optionally ``tier``. Edits reach running pods without a restart, within the kubelet's sync
    period (about a minute).
    """

    secret_name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description=(
            "Secret in the ModelService's namespace whose keys.yaml lists the valid keys "
            "(raw or sha256), each with its client id and tier. Unknown or missing keys get 401."
        ),
    )


def _duration_rule(field: str, low: str, high: str) -> Rule:
    """``field`` (a Duration, optional) lies within [low, high]: CEL and the same in Python."""
    lo, hi = parse_duration_seconds(low), parse_duration_seconds(high)
    alias = "".join(part.title() if i else part for i, part in enumerate(field.split("_")))

    def check(obj: Any) -> bool:
        value = getattr(obj, field)
        return value is None or lo <= parse_duration_seconds(value) <= hi

    return Rule(
        cel=(
            f"!has(self.{alias}) || (duration(self.{alias}) >= duration('{low}') && "
            f"duration(self.{alias}) <= duration('{high}'))"
        ),
        message=f"{alias} must be between {low} and {high}",
        check=check,
        field_path=f".{alias}",
    )


class UpstreamTimeouts(ApiModel):
    """How long the gateway waits for the model (each try, and each fallback, alike)."""

    rules = (
        _duration_rule("connect", "1ms", "10m"),
        _duration_rule("idle", "1ms", "1h"),
        _duration_rule("total", "1ms", "24h"),
    )

    connect: Duration | None = Field(
        default=None,
        description="Connecting to the model; a connect timeout may be retried. Default 120s.",
    )
    idle: Duration | None = Field(
        default=None,
        description=(
            "Silence of the model: waiting for the answer's headers or between two chunks of "
            "it -> 504 (or a cut stream). Default 120s."
        ),
    )
    total: Duration | None = Field(
        default=None,
        description="The whole answer, streamed ones included; unset: no limit.",
    )


class Retries(ApiModel):
    """Tries of the same upstream again before the next link of the fallback chain.

    Only connect errors and 502/503 answers are retried, and only before any byte of the
    answer was sent to the client: a streamed answer is never repeated.
    """

    rules = (
        _duration_rule("backoff", "1ms", "1m"),
        _duration_rule("max_backoff", "1ms", "5m"),
    )

    attempts: int = Field(
        ge=0, le=10, description="Retries after the first try (0: none). Each waits a backoff."
    )
    backoff: Duration | None = Field(
        default=None,
        description=(
            "Backoff before the first retry, doubled for each next one, with full jitter "
            "(a random wait up to it). Default 100ms."
        ),
    )
    max_backoff: Duration | None = Field(
        default=None, description="The doubling stops here. Default 2s."
    )


class CircuitBreaker(ApiModel):
    """One breaker per upstream (the model, and each fallback): after ``failures``
    consecutive failures it opens and requests skip that upstream for ``cooldown``; then
    one probe request decides."""

    rules = (_duration_rule("cooldown", "1ms", "1h"),)

    failures: int | None = Field(
        default=None, ge=1, le=10000, description="Consecutive failures that open it. Default 5."
    )
    cooldown: Duration | None = Field(
        default=None, description="How long it stays open before a probe. Default 30s."
    )


ModelServiceName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]


class StaticResponse(ApiModel):
    """The last link of the fallback chain: a fixed answer when nothing else answered."""

    body: str = Field(max_length=16384, description="The answer's body, sent as it is.")
    content_type: str = Field(
        default="application/json", max_length=128, description="The answer's Content-Type."
    )
    status: int = Field(default=200, ge=200, le=599, description="The answer's HTTP status.")


class Fallback(ApiModel):
    """Where requests go when the model fails (connect errors, 5xx, open breaker, timeout
    before the answer started): other ModelServices in order, then a static answer. A link
    that is failing itself is skipped (its own breaker). The ``X-Modelops-Upstream`` answer
    header names the link that answered: ``primary``, a ModelService's name, or ``static``."""

    model_services: list[ModelServiceName] | None = Field(
        default=None,
        max_length=5,
        description=(
            "ModelServices of the same namespace, tried in order through their Services (their "
            "own keys and limits apply: the request's headers go along)."
        ),
    )
    static_response: StaticResponse | None = Field(
        default=None, description="Answered when the model and every ModelService failed."
    )


class InputValidation(ApiModel):
    """Requests refused before they reach the model (and cost tokens), each with an
    OpenAI-style error."""

    max_body_bytes: int | None = Field(
        default=None,
        ge=1,
        le=64 * 1024 * 1024,
        description="Larger request bodies get 400 (invalid_request_error). Default 10Mi.",
    )
    max_message_chars: int | None = Field(
        default=None,
        ge=1,
        le=100_000_000,
        description="Chat completions: characters in any one message's content -> else 400.",
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        le=100_000_000,
        description=(
            "Chat completions: the largest max_tokens (or max_completion_tokens) -> else 400."
        ),
    )


class DataPath(ApiModel):
    """How the gateway sidecar treats each request on its way to the model. Needs
    ``rateLimit`` (which puts the gateway in the pods). A change rolls out like any pod change."""

    timeouts: UpstreamTimeouts | None = Field(default=None, description="Upstream timeouts.")
    retries: Retries | None = Field(default=None, description="Retries; none when unset.")
    circuit_breaker: CircuitBreaker | None = Field(
        default=None, description="Circuit breaker per upstream."
    )
    fallback: Fallback | None = Field(
        default=None, description="The fallback chain; none when unset."
    )
    validation: InputValidation | None = Field(
        default=None, description="Checks of the request before it reaches the model."
    )


def seconds(value: str | None, default: float) -> float:
    """A Duration field's seconds, or ``default`` when it is unset."""
    return default if value is None else parse_duration_seconds(value)
