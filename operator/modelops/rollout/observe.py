"""What the shell observed of a track's Deployment and pods, as plain data."""

from dataclasses import dataclass, field
from typing import Any

from modelops.rollout.fetches import FETCH_PROBLEM, fetch_failure, fetch_summary

# Waiting reasons that fail a version at once instead of waiting out the progress deadline.
FATAL_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
FATAL_TERMINATED_REASONS = frozenset({"OOMKilled"})


@dataclass(frozen=True)
class WorkloadObservation:
    """One Deployment and its pods, reduced to what decides health."""

    exists: bool = False
    desired: int = 0
    replicas: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0
    generation: int = 0
    observed_generation: int = 0
    revision: str | None = None
    progress_deadline_exceeded: bool = False
    # "CrashLoopBackOff on pod x", "Unschedulable: 0/3 nodes ...": why pods cannot serve.
    pod_problems: tuple[str, ...] = field(default_factory=tuple)
    restarts: int = 0
    # Where the pods' model files came from (spec.model.source), e.g. "2 from cache (...)".
    model_fetch: str | None = None

    @property
    def template_rolled(self) -> bool:
        """Every existing pod runs the current template (pods may still be added: a scale-up)."""
        return (
            self.exists
            and self.observed_generation >= self.generation
            and self.updated >= self.replicas
        )

    @property
    def rolled_out(self) -> bool:
        """Every replica runs the current template and is ready; no old pods remain."""
        return (
            self.exists
            and self.observed_generation >= self.generation
            and self.updated >= self.desired
            and self.ready >= self.desired
            and self.replicas == self.desired
        )


def observe_deployment(
    deployment: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    revision_key: str,
    at_least: int = 0,
) -> WorkloadObservation:
    """``at_least``: the replicas wanted whatever the Deployment says yet. An autoscaled
    Deployment is created without replicas (1) until the HPA's next sync scales it to
    minReplicas: it is not ready before it serves with minReplicas."""
    if deployment is None:
        return WorkloadObservation()
    spec = deployment.get("spec", {})
    status = deployment.get("status", {})
    conditions = status.get("conditions") or []
    deadline = any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in conditions
    )
    problems, restarts = pod_problems(pods)
    return WorkloadObservation(
        exists=True,
        desired=max(int(spec.get("replicas", 1)), at_least),
        replicas=int(status.get("replicas", 0)),
        updated=int(status.get("updatedReplicas", 0)),
        ready=int(status.get("readyReplicas", 0)),
        available=int(status.get("availableReplicas", 0)),
        generation=int(deployment.get("metadata", {}).get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        revision=(deployment.get("metadata", {}).get("annotations") or {}).get(revision_key),
        progress_deadline_exceeded=deadline,
        pod_problems=problems,
        restarts=restarts,
        model_fetch=fetch_summary(pods),
    )


def _container_problem(status: dict[str, Any]) -> str | None:
    waiting = (status.get("state") or {}).get("waiting") or {}
    if waiting.get("reason") in FATAL_WAITING_REASONS:
        return str(waiting["reason"])
    terminated = (status.get("lastState") or {}).get("terminated") or {}
    if terminated.get("reason") in FATAL_TERMINATED_REASONS:
        return str(terminated["reason"])
    return None


def pod_problems(pods: list[dict[str, Any]]) -> tuple[tuple[str, ...], int]:
    """Distinct reasons pods cannot serve, each with one example pod, and total restarts."""
    found: dict[str, str] = {}
    restarts = 0
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        name = pod.get("metadata", {}).get("name", "?")
        status = pod.get("status") or {}
        for container in status.get("containerStatuses") or []:
            restarts += int(container.get("restartCount", 0))
            reason = _container_problem(container)
            if reason:
                found.setdefault(reason, f"{reason} (pod {name})")
        failure = fetch_failure(pod)
        if failure:
            found.setdefault(FETCH_PROBLEM, failure)
        for condition in status.get("conditions") or []:
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("reason") == "Unschedulable"
            ):
                message = condition.get("message", "")
                found.setdefault("Unschedulable", f"Unschedulable (pod {name}): {message}")
    return tuple(found[key] for key in sorted(found)), restarts
