"""ModelService status: everything ``kubectl get/describe/wait`` shows, and everything a
rollout needs to resume after the operator restarts."""

from enum import StrEnum

from pydantic import Field

from modelops.api.base import ApiModel

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


class ModelServiceStatus(ApiModel):
    """Observed state. Written only by the operator, through the status subresource."""

    observed_generation: int | None = None
    phase: Phase | None = None
    message: str | None = None
    stable_version: str | None = None
    canary_version: str | None = None
    canary_weight: int | None = Field(default=None, ge=0, le=100)
    current_step: int | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    ready: str | None = Field(default=None, description="Ready/desired pods, for kubectl get.")
    stable_revision: str | None = Field(
        default=None, description="Hash of the pod template stable runs."
    )
    canary_revision: str | None = None
    conditions: list[Condition] | None = Field(default=None, max_length=16)
    history: list[HistoryEntry] | None = Field(default=None, max_length=HISTORY_LIMIT)
