"""ModelService status: everything ``kubectl get/describe/wait`` shows, and everything a
rollout needs to resume after the operator restarts."""

from enum import StrEnum

from pydantic import Field

from modelops.api.base import ApiModel, FreeForm

HISTORY_LIMIT = 10


class Phase(StrEnum):
    PENDING = "Pending"
    STABLE = "Stable"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"
    CONFLICT = "Conflict"


class Condition(ApiModel):
    """A standard Kubernetes condition (metav1.Condition shape), so kstatus and
    ``kubectl wait --for=condition=Ready`` understand it."""

    type: str
    status: str = Field(pattern=r"^(True|False|Unknown)$")
    reason: str = Field(default="", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: str | None = None
    observed_generation: int | None = None


class HistoryEntry(ApiModel):
    version: str
    result: str = Field(description="Promoted, RolledBack or Rolled (Immediate).")
    reason: str = ""
    time: str | None = None


class Stage(StrEnum):
    QUEUED = "Queued"
    CANARY = "Canary"
    PROMOTING = "Promoting"


class BlueGreenPhase(StrEnum):
    """Where a blue-green rollout is: the new version judged behind ``<name>-preview``, all
    traffic switched to it (the old kept at full size for the delay), or the old replaced."""

    PREVIEW = "Preview"
    SWITCHED = "Switched"
    SCALING_DOWN = "ScalingDown"


class MetricResult(ApiModel):
    """One metric check of the latest analysis run."""

    name: str
    value: float | None = Field(default=None, description="The query's value; unset if none.")
    baseline: float | None = Field(
        default=None,
        description="Stable's value over the same window, for a check with a baseline.",
    )
    ok: bool | None = Field(default=None, description="Within bounds; unset when inconclusive.")
    error: bool | None = Field(
        default=None,
        description="Prometheus refused the query (bad PromQL): an AnalysisError, whose message "
        "holds the query and Prometheus' answer. Inconclusive, like no answer at all.",
    )
    message: str = ""


class GatePhase(StrEnum):
    RUNNING = "Running"
    PASSED = "Passed"
    FAILED = "Failed"
    WAITING = "Waiting"  # a confirm-* gate that said no: asked again after an interval


class GateStatus(ApiModel):
    """One gate of the rollout under way, at one point (a gate may run at several)."""

    name: str
    kind: str = Field(description="Job or Webhook.")
    point: str = Field(description="Where it runs: step-N (before step N) or promotion.")
    phase: GatePhase
    attempt: int = Field(default=1, description="Tries of a confirm-* gate so far.")
    message: str = Field(default="", max_length=2048)
    started_at: str | None = None
    finished_at: str | None = None


class AnalysisStatus(ApiModel):
    consecutive_failures: int = 0
    last_run_at: str | None = None
    results: list[MetricResult] | None = Field(default=None, max_length=16)


class ModelServiceStatus(ApiModel):
    """Observed state. Written only by the operator, through the status subresource."""

    observed_generation: int | None = None
    phase: Phase | None = None
    message: str | None = None
    stable_version: str | None = None
    canary_version: str | None = None
    canary_weight: int | None = Field(default=None, ge=0, le=100)
    current_step: int | None = Field(
        default=None, description="Index of the canary step under way, in rollout.steps."
    )
    step_hash: str | None = Field(
        default=None,
        description="Hash of rollout.steps when the step under way was entered; an edit of the "
        "steps mid-rollout restarts the canary at the first of the new steps.",
    )
    replicas: int | None = None
    ready_replicas: int | None = None
    ready: str | None = Field(default=None, description="Ready/desired pods, for kubectl get.")
    stable_revision: str | None = Field(
        default=None, description="Hash of the pod template stable runs."
    )
    canary_revision: str | None = None
    stable_template: FreeForm | None = Field(
        default=None,
        description="The pod-shaping spec (model, podTemplate, probes) stable runs: a rollout "
        "renders stable from it, so the operator resumes a rollout after a restart.",
    )
    stage: Stage | None = Field(default=None, description="Canary or Promoting during a rollout.")
    # Derived, never set by a transition: rollout.bluegreen.phase_of, once per advance.
    blue_green: BlueGreenPhase | None = Field(
        default=None,
        description="Strategy BlueGreen: Preview (no traffic yet), Switched (all traffic, the "
        "old version kept for scaleDownDelaySeconds) or ScalingDown (the old one replaced).",
    )
    switched_at: str | None = Field(
        default=None, description="When a blue-green rollout switched all traffic over."
    )
    switched_replicas: int | None = Field(
        default=None,
        description="The new version's pods when it took all traffic: it keeps at least as "
        "many while switched, however far an HPA scales the idle old version down.",
    )
    step_started_at: str | None = Field(default=None, description="When the step began.")
    step_ready_at: str | None = Field(
        default=None, description="When the canary became ready at this step; pauses count from it."
    )
    canary_restarts: int | None = Field(
        default=None, description="Canary container restarts seen at the last check."
    )
    failed_revision: str | None = Field(
        default=None,
        description="Revision rolled back; not retried until the spec changes again.",
    )
    analysis: AnalysisStatus | None = None
    routing: str | None = Field(
        default=None,
        description="The traffic routing provider whose objects exist (replicas, gatewayAPI, "
        "istio): when the spec switches providers, the previous one's objects are deleted.",
    )
    stable_model_fetch: str | None = Field(
        default=None,
        description="Where stable's pods got their model files (spec.model.source): how many "
        "downloaded them and how many found them in the cache, and how long that took.",
    )
    canary_model_fetch: str | None = Field(
        default=None, description="The same for the canary's pods."
    )
    gates: list[GateStatus] | None = Field(
        default=None,
        max_length=64,
        description="The gates of the rollout under way (or just ended): Running, Passed, "
        "Failed, or Waiting (a confirm-* gate that has not said yes yet).",
    )
    conditions: list[Condition] | None = Field(default=None, max_length=16)
    history: list[HistoryEntry] | None = Field(default=None, max_length=HISTORY_LIMIT)
