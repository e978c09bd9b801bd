"""ModelService v1alpha1: the spec a platform engineer writes.

Descriptions here become ``kubectl explain`` text, so they say what a field does and what
happens when it is left out.
"""

import itertools
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from modelops.api.base import (
    DNS_LABEL_PATTERN,
    ApiModel,
    Duration,
    FreeForm,
    Quantity,
)
from modelops.api.datapath import ApiKeys, DataPath
from modelops.api.gates import Gates, JobGatePoint
from modelops.api.rules import Rule
from modelops.api.source import ModelSource

GROUP = "modelops.dev"
VERSION = "v1alpha1"
KIND = "ModelService"
PLURAL = "modelservices"
SINGULAR = "modelservice"
SHORT_NAMES = ("msvc",)
CATEGORIES = ("modelops",)


class EnvVar(ApiModel):
    """An environment variable of the model container (``valueFrom`` as in a Pod spec)."""

    name: str = Field(min_length=1, max_length=253, description="Variable name.")
    value: str | None = Field(default=None, max_length=32768, description="Literal value.")
    value_from: FreeForm | None = Field(
        default=None,
        description="Source of the value (secretKeyRef, configMapKeyRef, fieldRef), as in a Pod.",
    )


class Resources(ApiModel):
    """Compute resources of the model container, e.g. ``limits: {nvidia.com/gpu: 1}``."""

    requests: dict[str, Quantity] | None = Field(
        default=None, description="Minimum resources, e.g. cpu: '1', memory: 2Gi."
    )
    limits: dict[str, Quantity] | None = Field(
        default=None, description="Maximum resources; GPUs go here (nvidia.com/gpu: 1)."
    )


class ModelSpec(ApiModel):
    """The model server: which model, which version, which image."""

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Model name; becomes the app.kubernetes.io/name label.",
    )
    version: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
        description=(
            "Model version; becomes the app.kubernetes.io/version label. Changing it (or the "
            "image, or any pod-template field) starts a rollout."
        ),
    )
    image: str = Field(min_length=1, max_length=512, description="Container image of the server.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port the model server listens on.")
    command: list[str] | None = Field(
        default=None, max_length=64, description="Entrypoint override."
    )
    args: list[str] | None = Field(default=None, max_length=256, description="Arguments.")
    env: list[EnvVar] | None = Field(
        default=None, max_length=256, description="Environment variables."
    )
    resources: Resources | None = Field(default=None, description="Container resources.")
    # Off unless asked: the model server is the user's image, and many write caches or compiled
    # kernels beside their code. Left unset, a spec renders (and hashes) exactly as before.
    read_only_root_filesystem: bool | None = Field(
        default=None,
        description=(
            "Run the model container on a read-only root filesystem, with an empty /tmp "
            "(the gateway sidecar always runs read-only)."
        ),
    )
    source: ModelSource | None = Field(
        default=None,
        description=(
            "Model files apart from the image (pvc, https, s3, hf), fetched by an init "
            "container before the model starts. Changing it starts a rollout."
        ),
    )


# A pod marked for deletion leaves its Service's endpoints and every node's kube-proxy rules
# a moment later; until then new connections still reach it. Its containers wait this long
# (a preStop sleep) before they are told to stop, so no new connection meets a closed port.
DEFAULT_DRAIN_SECONDS = 5
# Kubernetes' own default grace period, which the drain must leave time in.
DEFAULT_GRACE_SECONDS = 30


def _drain_within_grace(template: "PodTemplate") -> bool:
    grace = template.termination_grace_period_seconds
    drain = template.drain_seconds
    drain = DEFAULT_DRAIN_SECONDS if drain is None else drain
    return drain == 0 or drain < (DEFAULT_GRACE_SECONDS if grace is None else grace)


class PodTemplate(ApiModel):
    """What the model pods need beyond the container: placement, identity, metadata."""

    rules = (
        Rule(
            cel=(
                f"(has(self.drainSeconds) ? self.drainSeconds : {DEFAULT_DRAIN_SECONDS}) == 0"
                f" || (has(self.drainSeconds) ? self.drainSeconds : {DEFAULT_DRAIN_SECONDS})"
                " < (has(self.terminationGracePeriodSeconds) ?"
                f" self.terminationGracePeriodSeconds : {DEFAULT_GRACE_SECONDS})"
            ),
            message=(
                "drainSeconds must be less than terminationGracePeriodSeconds (default 30): "
                "the pod is killed when the grace period ends, drain or not"
            ),
            check=_drain_within_grace,
            field_path=".drainSeconds",
        ),
    )

    labels: dict[str, str] | None = Field(default=None, description="Extra pod labels.")
    annotations: dict[str, str] | None = Field(default=None, description="Extra pod annotations.")
    node_selector: dict[str, str] | None = Field(
        default=None, description="Node labels the pods must run on (e.g. a GPU product)."
    )
    tolerations: list[FreeForm] | None = Field(
        default=None, max_length=64, description="Tolerations, as in a Pod spec (GPU taints)."
    )
    affinity: FreeForm | None = Field(default=None, description="Affinity, as in a Pod spec.")
    service_account_name: str | None = Field(
        default=None, max_length=253, description="ServiceAccount the pods run as."
    )
    priority_class_name: str | None = Field(
        default=None, max_length=253, description="PriorityClass of the pods."
    )
    image_pull_secrets: list[str] | None = Field(
        default=None, max_length=16, description="Names of Secrets used to pull the image."
    )
    termination_grace_period_seconds: int | None = Field(
        default=None, ge=0, le=3600, description="Time to drain in-flight requests on shutdown."
    )
    drain_seconds: int | None = Field(
        default=None,
        ge=0,
        le=300,
        description=(
            "Seconds a deleted pod keeps serving before its containers are told to stop (a "
            "preStop sleep on the model and the gateway), so its Service's endpoints and "
            "kube-proxy drop it first and no new connection meets a stopping server during a "
            f"rollout or scale-down. Default {DEFAULT_DRAIN_SECONDS}; 0 stops at once."
        ),
    )


class Autoscaling(ApiModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) on the stable Deployment.

    When set, the operator never writes the stable Deployment's replicas: the HPA owns them.
    """

    rules = (
        Rule(
            cel="self.minReplicas <= self.maxReplicas",
            message="minReplicas must not exceed maxReplicas",
            check=lambda a: a.min_replicas <= a.max_replicas,
            field_path=".minReplicas",
        ),
    )

    min_replicas: int = Field(default=1, ge=1, le=10000, description="Fewest replicas.")
    max_replicas: int = Field(ge=1, le=10000, description="Most replicas.")
    target_cpu_utilization_percentage: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU utilization to hold, in percent.",
    )
    target_memory_utilization_percentage: int | None = Field(
        default=None, ge=1, le=1000, description="Average memory utilization to hold, in percent."
    )
    metrics: list[FreeForm] | None = Field(
        default=None,
        max_length=16,
        description="Raw autoscaling/v2 MetricSpecs passed through (e.g. pods or external).",
    )
    behavior: FreeForm | None = Field(
        default=None, description="autoscaling/v2 scaling behavior, passed through."
    )


class HttpProbe(ApiModel):
    """An HTTP GET probe on the model server."""

    path: str = Field(pattern=r"^/", max_length=256, description="Path to GET.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Port; the model port when unset."
    )
    initial_delay_seconds: int | None = Field(
        default=None, ge=0, le=3600, description="Wait before the first probe."
    )
    period_seconds: int | None = Field(
        default=None, ge=1, le=3600, description="Seconds between probes."
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=3600, description="Seconds before a probe counts as failed."
    )
    failure_threshold: int | None = Field(
        default=None, ge=1, le=10000, description="Consecutive failures that count."
    )


class Probes(ApiModel):
    """Health probes. Models load slowly: the startup probe holds the others back until the
    model answers, so liveness cannot kill a pod that is still loading weights."""

    readiness: HttpProbe | None = Field(
        default=None, description="Ready to serve; traffic goes only to ready pods."
    )
    liveness: HttpProbe | None = Field(default=None, description="Alive; restarted when not.")
    startup: HttpProbe | None = Field(
        default=None, description="Loaded; failureThreshold x periodSeconds bounds load time."
    )


class MissingKey(StrEnum):
    REJECT = "Reject"
    ANONYMOUS = "Anonymous"


class FailureMode(StrEnum):
    OPEN = "Open"
    CLOSED = "Closed"


class RateLimitTier(ApiModel):
    """Limits for one tier of clients."""

    name: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN, description="Tier name."
    )
    requests_per_minute: int | None = Field(
        default=None, ge=0, le=100_000_000, description="Requests per client; unlimited if unset."
    )
    tokens_per_minute: int | None = Field(
        default=None,
        ge=0,
        le=10_000_000_000,
        description="LLM tokens per client; unlimited if unset.",
    )


class RateLimitClient(ApiModel):
    """Maps a client id (the value of ``tierHeader``, set by an auth proxy) to a tier."""

    id: str = Field(min_length=1, max_length=253, description="Value of the client header.")
    tier: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN, description="Name of a tier."
    )


# A Secret's name (a DNS subdomain) and the keys of its data (patterns, not secrets).
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"  # noqa: S105  # nosec B105


class SecretKey(ApiModel):
    """One key of a Secret in the ModelService's namespace (the operator never reads it)."""

    name: str = Field(
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Secret name."
    )
    key: str = Field(
        min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN, description="Key in the Secret."
    )


# The gateway sidecar's environment variables filled from ``RedisCredentials``' Secret: what
# the rendered pod sets and the gateway reads (names of variables, not secrets).
REDIS_USERNAME_ENV = "MODELOPS_REDIS_USERNAME"
REDIS_PASSWORD_ENV = "MODELOPS_REDIS_PASSWORD"  # noqa: S105  # nosec B105


class RedisCredentials(ApiModel):
    """Redis AUTH from a Secret, passed to the gateway as environment variables."""

    secret: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Secret in the ModelService's namespace holding the credentials.",
    )
    username_key: str | None = Field(
        default=None,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="Key of the ACL user name; unset: the default user (password only).",
    )
    password_key: str = Field(
        default="password",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="Key of the password.",
    )


class RedisTls(ApiModel):
    """TLS to Redis (and to its sentinels); a rediss:// address turns it on too."""

    ca_secret: SecretKey | None = Field(
        default=None,
        description="CA certificate (PEM) that signed Redis' certificate; unset: system CAs.",
    )


class RedisSentinel(ApiModel):
    """Find the primary through Redis Sentinel, and follow it when it fails over."""

    master_name: str = Field(
        min_length=1, max_length=128, description="Name the sentinels monitor the primary under."
    )
    addresses: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        min_length=1, max_length=16, description="host:port of each sentinel."
    )


def _one_redis_address(redis: "RedisBackend") -> bool:
    return (redis.address is None) != (redis.sentinel is None)


class RedisBackend(ApiModel):
    """Shared counters for many replicas."""

    rules = (
        Rule(
            cel="has(self.address) != has(self.sentinel)",
            message="redis needs exactly one of address and sentinel",
            check=_one_redis_address,
        ),
    )

    address: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="host:port, or a redis://, rediss:// (TLS) or unix:// URL of Redis.",
    )
    sentinel: RedisSentinel | None = Field(
        default=None, description="Sentinels that name the primary (instead of address)."
    )
    credentials: RedisCredentials | None = Field(
        default=None, description="ACL user and password from a Secret; unset: no AUTH."
    )
    tls: RedisTls | None = Field(default=None, description="TLS to Redis; unset: plain TCP.")
    key_prefix: str = Field(
        default="modelops", max_length=64, description="Prefix of the counters' Redis keys."
    )


class BudgetPeriod(StrEnum):
    DAY = "Day"
    MONTH = "Month"


class BudgetScope(StrEnum):
    CLIENT = "Client"
    TIER = "Tier"
    GLOBAL = "Global"


def _budget_limits_something(budget: "RateLimitBudget") -> bool:
    return budget.requests is not None or budget.tokens is not None


class RateLimitBudget(ApiModel):
    """Requests and tokens allowed per calendar day or month, beside the sliding windows."""

    rules = (
        Rule(
            cel="has(self.requests) || has(self.tokens)",
            message="a budget needs requests or tokens",
            check=_budget_limits_something,
        ),
    )

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Budget name: named in the 429 answer and in metrics.",
    )
    period: BudgetPeriod = Field(
        description="Day or Month: calendar periods in budgets.timeZone; usage resets at the "
        "start of each."
    )
    scope: BudgetScope = Field(
        default=BudgetScope.CLIENT,
        description="Client: each client has its own; Tier: the clients of a tier share one; "
        "Global: all clients share one.",
    )
    tier: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Applies only to clients of this tier; unset: to every client.",
    )
    requests: int | None = Field(
        default=None, ge=0, le=100_000_000_000, description="Requests per period; unset: no cap."
    )
    tokens: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000_000_000_000,
        description="LLM tokens per period (from the answers' usage); unset: no cap.",
    )


def _unique_budget_names(budgets: "Budgets") -> bool:
    names = [budget.name for budget in budgets.limits]
    return len(names) == len(set(names))


class Budgets(ApiModel):
    """Calendar budgets. Counters live in Redis when ``redis`` is set (keep Redis persistent:
    appendonly yes, appendfsync everysec), else in each gateway's memory."""

    rules = (
        Rule(
            cel="self.limits.all(b, self.limits.exists_one(c, c.name == b.name))",
            message="budget names must be unique",
            check=_unique_budget_names,
            field_path=".limits",
        ),
    )

    time_zone: str = Field(
        default="UTC",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_+\-/]+$",
        description="IANA time zone whose midnights start the periods, e.g. Europe/Paris.",
    )
    limits: list[RateLimitBudget] = Field(
        min_length=1, max_length=32, description="The budgets; a request must fit all of them."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value


def _budget_tiers_exist(limit: "RateLimit") -> bool:
    names = {tier.name for tier in limit.tiers or ()}
    budgets = limit.budgets.limits if limit.budgets else ()
    return all(budget.tier is None or budget.tier in names for budget in budgets)


def _unique_tier_names(limit: "RateLimit") -> bool:
    names = [tier.name for tier in limit.tiers or ()]
    return len(names) == len(set(names))


def _default_tier_exists(limit: "RateLimit") -> bool:
    if limit.default_tier is None:
        return True
    return limit.default_tier in {tier.name for tier in limit.tiers or ()}


class RateLimit(ApiModel):
    """Requests and LLM tokens per minute, per client and per tier, over a sliding window.

    Rendered into the ``<name>-ratelimit`` ConfigMap and enforced by the modelops gateway.
    """

    rules = (
        Rule(
            cel="!has(self.tiers) || self.tiers.all(t, self.tiers.exists_one(u, u.name == t.name))",
            message="tier names must be unique",
            check=_unique_tier_names,
            field_path=".tiers",
        ),
        Rule(
            cel=(
                "!has(self.defaultTier) || "
                "(has(self.tiers) && self.tiers.exists(t, t.name == self.defaultTier))"
            ),
            message="defaultTier must name one of tiers",
            check=_default_tier_exists,
            field_path=".defaultTier",
        ),
        Rule(
            cel=(
                "!has(self.budgets) || self.budgets.limits.all(b, !has(b.tier) || "
                "(has(self.tiers) && self.tiers.exists(t, t.name == b.tier)))"
            ),
            message="a budget's tier must name one of tiers",
            check=_budget_tiers_exist,
            field_path=".budgets",
        ),
    )

    client_header: str = Field(
        default="X-API-Key",
        max_length=128,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Request header whose value identifies the client.",
    )
    tier_header: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^[A-Za-z0-9-]+$",
        description=(
            "Request header naming the client's tier. Honoured only with tierHeaderTrusted; "
            "otherwise it is ignored and stripped before the model."
        ),
    )
    tier_header_trusted: bool | None = Field(
        default=None,
        description=(
            "tierHeader is set by a trusted proxy in front of the Service, which removes any a "
            "client sent: only then is it honoured (over the key's tier)."
        ),
    )
    auth: ApiKeys | None = Field(
        default=None,
        description="Check API keys (clientHeader) against a Secret; the key gives the tier.",
    )
    requests_per_minute: int | None = Field(
        default=None, ge=0, le=100_000_000, description="Per-client requests when no tier applies."
    )
    tokens_per_minute: int | None = Field(
        default=None,
        ge=0,
        le=10_000_000_000,
        description="Per-client LLM tokens (from the response's usage) when no tier applies.",
    )
    global_requests_per_minute: int | None = Field(
        default=None, ge=0, le=1_000_000_000, description="All clients together."
    )
    global_tokens_per_minute: int | None = Field(
        default=None, ge=0, le=100_000_000_000, description="LLM tokens of all clients together."
    )
    tiers: list[RateLimitTier] | None = Field(
        default=None, max_length=32, description="Named limits that clients are assigned to."
    )
    clients: list[RateLimitClient] | None = Field(
        default=None, max_length=1000, description="Client id -> tier assignments."
    )
    default_tier: str | None = Field(
        default=None, max_length=63, description="Tier of clients not listed in clients."
    )
    missing_key: MissingKey = Field(
        default=MissingKey.REJECT,
        description="Requests without the client header: Reject (401) or count as Anonymous.",
    )
    window: Duration = Field(default="60s", description="Sliding window length.")
    redis: RedisBackend | None = Field(
        default=None, description="Share counters through Redis (many replicas)."
    )
    failure_mode: FailureMode = Field(
        default=FailureMode.OPEN,
        description="When Redis is unreachable: Open (admit) or Closed (refuse with 503).",
    )
    budgets: Budgets | None = Field(
        default=None,
        description="Per-day and per-month caps on requests and tokens, per client, tier or "
        "globally; a spent budget answers 429 naming it and when it resets.",
    )


class Strategy(StrEnum):
    CANARY = "Canary"
    IMMEDIATE = "Immediate"
    BLUE_GREEN = "BlueGreen"


def _weight_or_mirror(step: "CanaryStep") -> bool:
    return step.weight >= 1 or step.mirror is not None


class CanaryStep(ApiModel):
    """Send ``weight`` percent of traffic to the canary (or mirror ``mirror`` percent of it
    there, answers discarded), then hold for ``pause``."""

    rules = (
        Rule(
            cel="self.weight >= 1 || has(self.mirror)",
            message="a step needs weight (1..99) or mirror",
            check=_weight_or_mirror,
            field_path=".weight",
        ),
    )

    weight: int = Field(
        default=0, ge=0, le=99, description="Percent of traffic to the canary (0: mirror only)."
    )
    mirror: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description=(
            "Shadow traffic (gateway, gatewayAPI or istio routing): this percent of requests "
            "is also sent to the canary, whose answers are discarded. With gateway routing "
            "they count in the canary's per-track metrics, so analysis judges a version no "
            "user has seen."
        ),
    )
    pause: Duration | None = Field(
        default=None, description="How long to hold this weight while analysis runs."
    )
    # None rather than False when unset: the step hash of existing rollouts stays the same.
    hold: bool | None = Field(
        default=None,
        description=(
            "Hold at this step until a person promotes or aborts (kubectl modelops promote | "
            "abort): an A/B test, per-user consistent with gateway routing's stickyHeader. "
            "Analysis still runs and a failing canary is still rolled back."
        ),
    )


class ReplicasRouting(ApiModel):
    """No mesh: the Service selects both tracks; the weight is the replica ratio."""


def _not_sticky(routing: "MeshRouting") -> bool:
    return routing.sticky_header is None


class MeshRouting(ApiModel):
    """What the mesh providers share: a weighted route, which picks a version per request."""

    rules = (
        Rule(
            cel="!has(self.stickyHeader)",
            message=(
                "stickyHeader needs trafficRouting.gateway: a mesh's weighted route picks the "
                "version for each request on its own, so it cannot keep a user on one version "
                "(header routes in rollout.match do work here)"
            ),
            check=_not_sticky,
            field_path=".stickyHeader",
        ),
    )

    sticky_header: str | None = Field(
        default=None,
        max_length=128,
        description=(
            "Refused at admission, with the reason: only trafficRouting.gateway keeps a user "
            "on one version. Here so a spec asking a mesh for it is told why, not ignored."
        ),
    )


class GatewayApiRouting(MeshRouting):
    """A Gateway API HTTPRoute whose backendRefs carry the weights."""

    parent_refs: list[FreeForm] = Field(
        min_length=1, max_length=32, description="Gateways the HTTPRoute attaches to."
    )
    hostnames: list[str] | None = Field(
        default=None, max_length=16, description="Hostnames of the HTTPRoute."
    )


class IstioRouting(MeshRouting):
    """An Istio VirtualService with weighted destinations."""

    hosts: list[str] | None = Field(
        default=None, max_length=16, description="VirtualService hosts; the Service when unset."
    )
    gateways: list[str] | None = Field(
        default=None, max_length=16, description="Istio gateways the VirtualService binds to."
    )


class GatewayRouting(ApiModel):
    """No mesh: the modelops gateway in every pod splits traffic per request, exactly.

    The main Service selects the stable pods; their gateways forward the canary's share to the
    canary's Service, marked (HMAC) so the canary's gateway neither limits it again nor forwards
    it on. Needs ``rateLimit`` (which puts the gateway in the pods).
    """

    sticky_header: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^[A-Za-z0-9-]+$",
        description=(
            "Request header (say X-User-ID) whose value's hash picks the track, falling back "
            "to the rate-limit client key: the same user always reaches the same version, and "
            "a rising weight only moves users to the canary. Unset: each request is assigned "
            "on its own, to the exact weight."
        ),
    )


def _exactly_one_provider(routing: "TrafficRouting") -> bool:
    chosen = [routing.replicas, routing.gateway_api, routing.istio, routing.gateway]
    return sum(provider is not None for provider in chosen) == 1


class TrafficRouting(ApiModel):
    """How traffic is split between stable and canary: exactly one provider."""

    rules = (
        Rule(
            cel="[has(self.replicas), has(self.gatewayAPI), has(self.istio), has(self.gateway)]"
            ".filter(x, x).size() == 1",
            message="exactly one of replicas, gatewayAPI, istio, gateway must be set",
            check=_exactly_one_provider,
        ),
    )

    replicas: ReplicasRouting | None = None
    gateway_api: GatewayApiRouting | None = Field(default=None, alias="gatewayAPI")
    istio: IstioRouting | None = None
    gateway: GatewayRouting | None = None

    @property
    def provider(self) -> str:
        """The chosen provider's field name (status.routing records it)."""
        if self.gateway_api is not None:
            return "gatewayAPI"
        if self.gateway is not None:
            return "gateway"
        return "istio" if self.istio is not None else "replicas"


class PrometheusQuery(ApiModel):
    address: str = Field(
        min_length=1, max_length=512, pattern=r"^https?://", description="Prometheus base URL."
    )
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL returning one value; leave out when the metric names a preset.",
    )


class MetricPreset(StrEnum):
    ERROR_RATE = "ErrorRate"
    P99_LATENCY = "P99Latency"
    # A metric name that says "Token", not a secret.
    TIME_TO_FIRST_TOKEN = "TimeToFirstToken"  # noqa: S105  # nosec B105
    TOKENS_PER_SECOND = "TokensPerSecond"


def _one_metric_source(metric: "MetricCheck") -> bool:
    return (metric.preset is None) != (metric.prometheus.query is None)


def _has_bound(metric: "MetricCheck") -> bool:
    return metric.min is not None or metric.max is not None or metric.baseline is not None


def _baseline_on_preset(metric: "MetricCheck") -> bool:
    return metric.baseline is None or metric.preset is not None


# A PromQL range: the window both tracks are measured over.
PROMQL_WINDOW_PATTERN = r"^[0-9]+(s|m|h)$"


def _ratio_given(baseline: "Baseline") -> bool:
    return baseline.max_ratio is not None or baseline.min_ratio is not None


class Baseline(ApiModel):
    """The canary measured against stable: the same preset over the same window, at the same
    moment, for each track. Without PromQL: the gateway's per-track series give both."""

    rules = (
        Rule(
            cel="has(self.maxRatio) || has(self.minRatio)",
            message="a baseline needs maxRatio or minRatio",
            check=_ratio_given,
        ),
    )

    max_ratio: float | None = Field(
        default=None,
        ge=0,
        le=1000,
        description=(
            "Fail when canary > stable x maxRatio + margin (error rate, latency: lower is "
            "better). 1.2 with margin 0.005: at most 1.2 times stable's error rate plus half "
            "a point."
        ),
    )
    min_ratio: float | None = Field(
        default=None,
        ge=0,
        le=1000,
        description=(
            "Fail when canary < stable x minRatio - margin (tokens per second: higher is better)."
        ),
    )
    margin: float = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description=(
            "Absolute slack in the preset's unit (a ratio for ErrorRate, seconds for latencies, "
            "tokens per second), so a stable at 0 errors does not fail a canary for one error."
        ),
    )
    min_samples: int = Field(
        default=100,
        ge=1,
        le=100_000_000,
        description=(
            "Observations each track needs in the window (requests; streams for the token "
            "presets). Fewer on either track is inconclusive (analysis.inconclusive decides), "
            "never a pass."
        ),
    )
    window: str = Field(
        default="1m",
        pattern=PROMQL_WINDOW_PATTERN,
        max_length=16,
        description="The window both tracks are measured over, a PromQL range (30s, 2m, 1h).",
    )


class MetricCheck(ApiModel):
    """A Prometheus check of the canary: the query's value must stay within min/max, and
    (with a baseline) within bounds set by stable's value over the same window."""

    rules = (
        Rule(
            cel="has(self.min) || has(self.max) || has(self.baseline)",
            message="a metric needs min, max or baseline",
            check=_has_bound,
        ),
        Rule(
            cel="has(self.preset) != has(self.prometheus.query)",
            message="set exactly one of preset and prometheus.query",
            check=_one_metric_source,
        ),
        Rule(
            cel="!has(self.baseline) || has(self.preset)",
            message="baseline compares the gateway's per-track series: it needs a preset",
            check=_baseline_on_preset,
            field_path=".baseline",
        ),
    )

    name: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN, description="Name of the check."
    )
    prometheus: PrometheusQuery = Field(description="Where to ask, and (unless preset) what.")
    preset: MetricPreset | None = Field(
        default=None,
        description="A query over the modelops gateway's per-track metrics instead of PromQL.",
    )
    min: float | None = Field(default=None, description="Fail when the value is below this.")
    max: float | None = Field(default=None, description="Fail when the value is above this.")
    baseline: Baseline | None = Field(
        default=None,
        description=(
            "Compare the canary with stable over the same window, in place of or beside "
            "min/max (both must hold). Needs a preset."
        ),
    )


class Inconclusive(StrEnum):
    PAUSE = "Pause"
    FAIL = "Fail"


class Analysis(ApiModel):
    interval: Duration = Field(default="15s", description="How often health is checked.")
    sample_interval: Duration | None = Field(
        default=None,
        description=(
            "Between analysis runs the metrics are sampled this often, and a failing sample "
            "runs the analysis at once: a failure is counted within this time instead of up "
            "to an interval later. Passing samples change nothing. Default: a tenth of "
            "interval, at least 500ms. 0s turns sampling off."
        ),
    )
    failure_limit: int = Field(
        default=2, ge=1, le=100, description="Consecutive failed checks that roll back."
    )
    inconclusive: Inconclusive = Field(
        default=Inconclusive.PAUSE,
        description="When Prometheus cannot answer: Pause the rollout or count a Failure.",
    )
    metrics: list[MetricCheck] | None = Field(
        default=None, max_length=16, description="Prometheus checks of the canary."
    )


def _weights_increase(rollout: "Rollout") -> bool:
    weights = [step.weight for step in rollout.steps or ()]
    return all(a < b for a, b in itertools.pairwise(weights))


class HeaderMatch(ApiModel):
    """A request header that sends a request to the canary while one runs."""

    header: str = Field(max_length=128, pattern=r"^[A-Za-z0-9-]+$", description="Header name.")
    value: str = Field(max_length=256, description="Exact value the header must have.")


def _mirror_routed(rollout: "Rollout") -> bool:
    mirrored = any(step.mirror is not None for step in rollout.steps or ())
    return not mirrored or rollout.traffic_routing.replicas is None


def _match_routed(rollout: "Rollout") -> bool:
    return not rollout.match or rollout.traffic_routing.replicas is None


class RolloutNotifications(ApiModel):
    """Where this ModelService's rollout is announced, beside the operator's own receivers."""

    config_map: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "A ConfigMap in this namespace whose key receivers.yaml lists webhook receivers "
            "(name, url, format json|slack, events). A ConfigMap is not a Secret: anyone who "
            "may read ConfigMaps here reads the URLs, so name only receivers whose URL "
            "carries no credential (an in-cluster relay, a receiver that authenticates "
            "otherwise); a tokenized URL (a Slack incoming webhook) belongs in the "
            "operator's receivers, whose URLs come from a Secret."
        ),
    )


class BlueGreen(ApiModel):
    """Strategy BlueGreen: the new version runs at full size behind ``<name>-preview`` while
    gates and analysis judge it, then all traffic switches to it at once; the old version
    stays at full size for ``scaleDownDelaySeconds``, so an abort meanwhile switches back at
    once."""

    scale_down_delay_seconds: int = Field(
        default=30,
        ge=0,
        le=86400,
        description=(
            "After the switch, how long the old version keeps running at full size (an abort "
            "or a failed analysis in that time switches traffic back at once); then it is "
            "replaced by the new version."
        ),
    )
    auto_promote: bool = Field(
        default=True,
        description=(
            "Switch as soon as the preview is ready and its gates and analysis passed. false: "
            "the preview waits for kubectl modelops promote (a person's judgement)."
        ),
    )


def _blue_green_fields(rollout: "Rollout") -> bool:
    if rollout.strategy is Strategy.BLUE_GREEN:
        return not rollout.steps
    return rollout.blue_green is None


def _job_gate_steps_exist(rollout: "Rollout") -> bool:
    steps = len(rollout.steps or ())
    jobs = rollout.gates.jobs if rollout.gates else None
    return all(
        (job.at is JobGatePoint.BEFORE_STEP) == (job.step is not None)
        and (job.step is None or job.step <= steps)
        for job in jobs or ()
    )


class Rollout(ApiModel):
    """How a new model version reaches production."""

    rules = (
        Rule(
            # Sorted and unique is strictly increasing; isSorted() is Kubernetes' CEL list library.
            cel="!has(self.steps) || (self.steps.map(s, s.weight).isSorted() && "
            "self.steps.all(s, self.steps.exists_one(t, t.weight == s.weight)))",
            message="step weights must be strictly increasing",
            check=_weights_increase,
            field_path=".steps",
        ),
        Rule(
            cel="self.strategy != 'Canary' || (has(self.steps) && self.steps.size() > 0)",
            message="strategy Canary needs at least one step",
            check=lambda r: r.strategy != Strategy.CANARY or bool(r.steps),
            field_path=".steps",
        ),
        Rule(
            cel="!has(self.match) || (has(self.trafficRouting) && "
            "!has(self.trafficRouting.replicas))",
            message="match (header routes to the canary) needs trafficRouting gateway, "
            "gatewayAPI or istio: replicas cannot route by header",
            check=_match_routed,
            field_path=".match",
        ),
        Rule(
            cel="!has(self.steps) || !self.steps.exists(s, has(s.mirror)) || "
            "(has(self.trafficRouting) && !has(self.trafficRouting.replicas))",
            message="mirror steps need trafficRouting gateway, gatewayAPI or istio: "
            "replicas cannot copy requests",
            check=_mirror_routed,
            field_path=".steps",
        ),
        Rule(
            cel="!has(self.gates) || !has(self.gates.jobs) || self.gates.jobs.all(j, "
            "(j.at == 'BeforeStep') == has(j.step) && "
            "(!has(j.step) || (has(self.steps) && j.step <= self.steps.size())))",
            message="a job gate at BeforeStep needs step, which must name one of steps "
            "(2..number of steps); step is for BeforeStep only",
            check=_job_gate_steps_exist,
            field_path=".gates.jobs",
        ),
        Rule(
            cel="self.strategy == 'BlueGreen' ? !has(self.steps) : !has(self.blueGreen)",
            message="strategy BlueGreen takes blueGreen and no steps (the switch moves all "
            "traffic at once); blueGreen is for strategy BlueGreen only",
            check=_blue_green_fields,
            field_path=".strategy",
        ),
    )

    strategy: Strategy = Field(
        default=Strategy.CANARY,
        description="Canary: shift traffic step by step under analysis. BlueGreen: run the "
        "new version at full size behind <name>-preview, then switch all traffic at once "
        "(rollout.blueGreen). Immediate: replace.",
    )
    steps: list[CanaryStep] | None = Field(
        default=None, max_length=20, description="Canary weights in increasing order, 1..99."
    )
    blue_green: BlueGreen | None = Field(
        default=None,
        description="Strategy BlueGreen's settings; their defaults when unset.",
    )
    traffic_routing: TrafficRouting = Field(
        default_factory=lambda: TrafficRouting(replicas=ReplicasRouting()),
        description="How the split is made; replica ratio when unset.",
    )
    match: list[HeaderMatch] | None = Field(
        default=None,
        max_length=8,
        description=(
            "Requests with any of these headers always reach the canary while it runs "
            "(testers, opt-in cohorts)."
        ),
    )
    analysis: Analysis = Field(
        default_factory=Analysis, description="Health checks that decide promote or roll back."
    )
    progress_deadline_seconds: int = Field(
        default=600,
        ge=10,
        le=86400,
        description="A canary that is not ready within this time is rolled back.",
    )
    notifications: RolloutNotifications | None = Field(
        default=None,
        description=(
            "Post this rollout's started, step advanced, paused, promoted and rolled back "
            "to the webhook receivers a ConfigMap names (the operator's own receivers get "
            "them anyway)."
        ),
    )
    gates: Gates | None = Field(
        default=None,
        description="Jobs and webhooks the rollout waits on (evaluations, load tests, "
        "confirmations); results in status.gates and as Events.",
    )


def _limits_hold_for_the_service(spec: "ModelServiceSpec") -> bool:
    if spec.rate_limit is None or spec.rate_limit.redis is not None:
        return True
    most = spec.autoscaling.max_replicas if spec.autoscaling else spec.replicas
    return most <= 1


def _gateway_in_pods(spec: "ModelServiceSpec") -> bool:
    return spec.routing_provider != "gateway" or spec.rate_limit is not None


class ModelServiceSpec(ApiModel):
    """A model served in production: Deployments, Service, HPA, PDB, rate limits, rollouts."""

    rules = (
        Rule(
            # Without Redis each pod counts alone: N replicas would allow N times the limits.
            cel="!has(self.rateLimit) || has(self.rateLimit.redis) || "
            "(has(self.autoscaling) ? self.autoscaling.maxReplicas <= 1 : self.replicas <= 1)",
            message=(
                "rateLimit without redis counts in each pod alone: set rateLimit.redis to "
                "share the counts, or run at most 1 replica (replicas, autoscaling.maxReplicas)"
            ),
            check=_limits_hold_for_the_service,
            field_path=".rateLimit",
        ),
        Rule(
            cel="!has(self.dataPath) || has(self.rateLimit)",
            message="dataPath needs rateLimit, which puts the gateway in front of the model",
            check=lambda spec: spec.data_path is None or spec.rate_limit is not None,
            field_path=".dataPath",
        ),
        Rule(
            cel="!has(self.rollout) || !has(self.rollout.trafficRouting) || "
            "!has(self.rollout.trafficRouting.gateway) || has(self.rateLimit)",
            message="trafficRouting.gateway needs rateLimit (the gateway runs only with it)",
            check=_gateway_in_pods,
            field_path=".rateLimit",
        ),
    )

    model: ModelSpec
    pod_template: PodTemplate | None = Field(default=None, description="Pod-level settings.")
    replicas: int = Field(
        default=1, ge=0, le=10000, description="Replicas when autoscaling is not set."
    )
    autoscaling: Autoscaling | None = None
    probes: Probes | None = None
    rate_limit: RateLimit | None = None
    data_path: DataPath | None = Field(
        default=None,
        description=(
            "Timeouts, retries, circuit breaker, fallback chain and input checks of the "
            "gateway sidecar (needs rateLimit). Changes roll out like any pod change."
        ),
    )
    rollout: Rollout | None = Field(
        default=None, description="Rollout of new versions; Immediate replacement when unset."
    )
    min_available: Quantity | None = Field(
        default=None,
        description=(
            "PodDisruptionBudget minAvailable (count or percent); when unset, maxUnavailable 1."
        ),
    )
    paused: bool = Field(default=False, description="Hold the rollout where it is.")

    @property
    def routing_provider(self) -> str:
        """The traffic routing provider: replicas when no rollout section says otherwise."""
        return self.rollout.traffic_routing.provider if self.rollout else "replicas"

    @property
    def is_blue_green(self) -> bool:
        """New versions roll out blue-green: full size behind a preview Service, then a switch."""
        return self.rollout is not None and self.rollout.strategy is Strategy.BLUE_GREEN


class ObjectMeta(ApiModel):
    """The part of metadata the operator reads."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    name: str
    namespace: str = "default"
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ModelService(ApiModel):
    """A whole ModelService object, as read from the API server or a file."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    api_version: str = Field(default=f"{GROUP}/{VERSION}")
    kind: str = KIND
    metadata: ObjectMeta
    spec: ModelServiceSpec
    status: dict[str, Any] | None = None
