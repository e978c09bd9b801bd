"""Rollout gates: checks outside the metrics that a rollout waits on.

Two kinds, as Flagger and Argo Rollouts have them:

- a Job gate runs a Kubernetes Job (an evaluation, a load test) at a chosen point, with the
  canary's and stable's in-cluster URLs in its environment; it passes when the Job succeeds;
- a webhook gate POSTs JSON to a URL at one of Flagger's points; 2xx passes, a timeout or a
  5xx is retried, then counts as a failed check.

A failed check rolls back; a failed ``confirm-*`` webhook holds the rollout and asks again.
"""

from enum import StrEnum

from pydantic import Field

from modelops.api.base import DNS_LABEL_PATTERN, ApiModel, Duration, FreeForm
from modelops.api.rules import Rule


class JobGatePoint(StrEnum):
    BEFORE_FIRST_STEP = "BeforeFirstStep"
    BEFORE_STEP = "BeforeStep"
    BEFORE_PROMOTION = "BeforePromotion"


class JobGate(ApiModel):
    """A Job that must succeed before the rollout goes on; its failure rolls back, with the
    tail of its log in the status message."""

    name: str = Field(
        min_length=1, max_length=40, pattern=DNS_LABEL_PATTERN, description="Name of the gate."
    )
    at: JobGatePoint = Field(
        description="When it runs: BeforeFirstStep (the canary is up, no traffic yet), "
        "BeforeStep (before the step numbered in step), BeforePromotion.",
    )
    step: int | None = Field(
        default=None,
        ge=2,
        le=20,
        description="With at: BeforeStep, the step (1-based, as status counts them) it runs "
        "before; the first step is BeforeFirstStep.",
    )
    template: FreeForm = Field(
        description="The Job's pod template (a PodTemplateSpec). Every container gets "
        "CANARY_URL, STABLE_URL, MODELSERVICE, CANARY_VERSION and STABLE_VERSION.",
    )
    active_deadline_seconds: int = Field(
        default=600, ge=10, le=86400, description="The Job fails when it runs longer."
    )


class WebhookType(StrEnum):
    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    ROLLOUT = "rollout"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"


class WebhookGate(ApiModel):
    """A POST of JSON naming the ModelService, versions, step and weight (Flagger's webhooks)."""

    name: str = Field(
        min_length=1, max_length=40, pattern=DNS_LABEL_PATTERN, description="Name of the gate."
    )
    type: WebhookType = Field(
        description="confirm-rollout and pre-rollout: before the first step; rollout: before "
        "every step; confirm-promotion: before promotion; post-rollout: after promotion or "
        "rollback (its answer changes nothing); rollback: asked every analysis interval, a 2xx "
        "rolls back. A failing confirm-* holds the rollout and is asked again every interval; "
        "a failing pre-rollout or rollout rolls back.",
    )
    url: str = Field(
        min_length=1, max_length=2048, pattern=r"^https?://", description="Where to POST."
    )
    timeout: Duration = Field(default="10s", description="How long one try may take.")
    retries: int = Field(
        default=2, ge=0, le=10, description="Tries after the first on a timeout or a 5xx."
    )
    metadata: dict[str, str] | None = Field(
        default=None, max_length=16, description="Sent as is in the payload's metadata."
    )


def _unique(names: list[str]) -> bool:
    return len(names) == len(set(names))


class Gates(ApiModel):
    rules = (
        Rule(
            cel="!has(self.jobs) || self.jobs.all(g, self.jobs.exists_one(h, h.name == g.name))",
            message="job gate names must be unique",
            check=lambda gates: _unique([g.name for g in gates.jobs or ()]),
            field_path=".jobs",
        ),
        Rule(
            cel="!has(self.webhooks) || "
            "self.webhooks.all(g, self.webhooks.exists_one(h, h.name == g.name))",
            message="webhook gate names must be unique",
            check=lambda gates: _unique([g.name for g in gates.webhooks or ()]),
            field_path=".webhooks",
        ),
    )

    jobs: list[JobGate] | None = Field(
        default=None, max_length=8, description="Jobs that must succeed at a chosen point."
    )
    webhooks: list[WebhookGate] | None = Field(
        default=None, max_length=16, description="Webhooks asked at Flagger's points."
    )
