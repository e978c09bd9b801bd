"""What every pod the project ships or renders must keep: the restricted Pod Security Standard
(non-root, no privilege escalation, no capabilities, seccomp RuntimeDefault) and a read-only
root filesystem for our own containers.

Checked on the effective settings, as the kubelet sees them: a container's securityContext
first, the pod's where the container leaves a field out.
"""

from typing import Any

# The model server is the user's image: caches, compiled kernels and temp files go to its
# filesystem, so a read-only root cannot be imposed on it. Our own containers never write
# outside mounted volumes.
WRITABLE_ROOT_ALLOWED = frozenset({"model"})


def _effective(pod: dict[str, Any], container: dict[str, Any], field: str) -> Any:
    own = container.get("securityContext") or {}
    if field in own:
        return own[field]
    return (pod.get("securityContext") or {}).get(field)


def hardening_problems(pod: dict[str, Any], where: str) -> list[str]:
    """Every rule a pod spec breaks, one line each ('' when none)."""
    problems = []
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        problems.append(f"{where}: shares a host namespace")
    containers = [*pod.get("initContainers", []), *pod.get("containers", [])]
    if not containers:
        problems.append(f"{where}: no containers")
    for container in containers:
        at = f"{where} container {container['name']}"
        own = container.get("securityContext") or {}
        if _effective(pod, container, "runAsNonRoot") is not True:
            problems.append(f"{at}: runAsNonRoot is not true")
        if _effective(pod, container, "runAsUser") == 0:
            problems.append(f"{at}: runs as uid 0")
        if own.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation is not false")
        if own.get("privileged"):
            problems.append(f"{at}: privileged")
        capabilities = own.get("capabilities") or {}
        if capabilities.get("drop") != ["ALL"] or capabilities.get("add"):
            problems.append(f"{at}: capabilities are not drop [ALL] with none added")
        if (_effective(pod, container, "seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{at}: seccompProfile is not RuntimeDefault")
        writable_ok = container["name"] in WRITABLE_ROOT_ALLOWED
        if not writable_ok and own.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: root filesystem is writable")
    return problems


def pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod spec of every workload among ``objects``, by kind/name."""
    out = {}
    for obj in objects:
        if obj.get("kind") in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            out[f"{obj['kind']}/{obj['metadata']['name']}"] = obj["spec"]["template"]["spec"]
    return out
