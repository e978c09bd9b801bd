"""Run one Job gate to its end, on the gate's own thread: create the Job (or adopt it after
an operator restart), wait for it, quote the tail of its log when it failed, delete it.

The outcome goes back to the rollout machine through modelops.controller.gates; the Job
never outlives its verdict (and is owned by the ModelService, so it never outlives that)."""

import threading
from typing import Any

from kubernetes.client.exceptions import ApiException

from modelops.kube.client import Kube
from modelops.rollout.gate_io import GateOutcome

# A GET from the API server's watch cache per running Job gate, twice a second.
POLL_SECONDS = 0.5
LOG_LINES = 10
# The status message holds the tail of the log within its room (GateStatus.message).
LOG_CHARS = 1200


def _verdict(job: dict[str, Any]) -> tuple[bool, str] | None:
    """(passed, the Job's reason) once it finished; None while it runs."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return True, "succeeded"
        if condition.get("type") == "Failed":
            reason = condition.get("reason") or "Failed"
            message = condition.get("message") or ""
            return False, f"{reason}: {message}".rstrip(": ")
    return None


def log_tail(kube: Kube, namespace: str, job: str) -> str:
    """The last lines of the Job's latest pod, or why there are none."""
    try:
        pods = kube.list("Pod", namespace, {"job-name": job})
        if not pods:
            return "(no pod)"
        latest = max(pods, key=lambda pod: pod["metadata"].get("creationTimestamp", ""))
        text = kube.pod_log(namespace, latest["metadata"]["name"], LOG_LINES).strip()
    except ApiException as error:
        return f"(log unavailable: {error.status} {error.reason})"
    return text[-LOG_CHARS:] or "(empty log)"


def run_job_gate(kube: Kube, manifest: dict[str, Any], cancelled: threading.Event) -> GateOutcome:
    namespace = manifest["metadata"]["namespace"]
    name = manifest["metadata"]["name"]
    try:
        kube.create(manifest)
    except ApiException as error:
        if error.status != 409:  # 409: created before an operator restart, adopted
            return GateOutcome(False, f"Job {name} not created: {error.status} {error.reason}")
    uid = None
    try:
        while not cancelled.wait(POLL_SECONDS):
            job = kube.get("Job", namespace, name)
            if job is None:
                return GateOutcome(False, f"Job {name} was deleted before it finished")
            uid = job["metadata"]["uid"]
            verdict = _verdict(job)
            if verdict is None:
                continue
            passed, reason = verdict
            if passed:
                return GateOutcome(True, f"Job {name} {reason}")
            return GateOutcome(
                False, f"Job {name} failed ({reason}); log: {log_tail(kube, namespace, name)}"
            )
        return GateOutcome(False, f"Job {name} cancelled")
    finally:
        if uid is not None:
            kube.delete("Job", namespace, name, uid)
