"""An exact reimplementation of kstatus' rules for a custom resource, the library Flux's
health checks use (``Compute`` in sigs.k8s.io/cli-utils/pkg/kstatus/status).

Reimplemented from kubernetes-sigs/cli-utils at commit
5895ad6c17dd06b99c1e5c8af17e2b12a3504fad (2025-10-21):
- ``pkg/kstatus/status/status.go``: ``Compute`` (generic properties, then the built-in
  kinds' rules, then ``checkReadyCondition``, else Current) and ``checkReadyCondition``;
- ``pkg/kstatus/status/generic.go``: ``checkGenericProperties`` (deletionTimestamp, then
  ``checkGeneration``, then the first condition in list order that is ``Reconciling=True``
  (InProgress) or ``Stalled=True`` (Failed)) and ``checkGeneration``;
- ``pkg/kstatus/status/util.go``: ``newInProgressStatus`` (adds a Reconciling condition).
The built-in kinds' rules (``core.go``'s legacyTypes) key on Group/Kind; a
``modelops.dev/ModelService`` is none of them, so that step never applies here and is left
out. Go's ``NestedInt64`` refuses a value that is not an int64: so does ``_nested_int``.
Flux's fork (fluxcd/cli-utils) keeps these functions as they are.
"""

from dataclasses import dataclass, field
from typing import Any

IN_PROGRESS = "InProgress"
FAILED = "Failed"
CURRENT = "Current"
TERMINATING = "Terminating"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class Result:
    status: str
    message: str
    conditions: list[Condition] = field(default_factory=list)


def _nested(obj: dict[str, Any], *path: str) -> tuple[Any, bool]:
    value: Any = obj
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None, False
        value = value[key]
    return value, True


def _nested_int(obj: dict[str, Any], *path: str) -> tuple[int, bool]:
    value, found = _nested(obj, *path)
    if not found:
        return 0, False
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{'.'.join(path)} accessor error: {value!r} is not an int64")
    return value, True


def _in_progress(reason: str, message: str) -> Result:
    return Result(IN_PROGRESS, message, [Condition("Reconciling", "True", reason, message)])


def _conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    # Go converts status into a typed struct (GetObjectWithConditions) and fails on a shape
    # it cannot convert; so does this.
    found = (obj.get("status") or {}).get("conditions") or []
    if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
        raise TypeError(f"status.conditions is not a list of objects: {found!r}")
    return found


def _check_generation(obj: dict[str, Any]) -> Result | None:
    generation, found = _nested_int(obj, "metadata", "generation")
    if not found:
        return None
    observed, found = _nested_int(obj, "status", "observedGeneration")
    if found and observed != generation:
        message = (
            f"{obj.get('kind', '')} generation is {generation}, "
            f"but latest observed generation is {observed}"
        )
        return Result(
            IN_PROGRESS,
            message,
            [Condition("Reconciling", "True", "LatestGenerationNotObserved", message)],
        )
    return None


def _check_generic_properties(obj: dict[str, Any]) -> Result | None:
    deletion, found = _nested(obj, "metadata", "deletionTimestamp")
    if found and deletion != "":
        return Result(TERMINATING, "Resource scheduled for deletion")
    result = _check_generation(obj)
    if result is not None:
        return result
    for cond in _conditions(obj):
        reason, message = cond.get("reason", ""), cond.get("message", "")
        if cond.get("type") == "Reconciling" and cond.get("status") == "True":
            return _in_progress(reason, message)
        if cond.get("type") == "Stalled" and cond.get("status") == "True":
            return Result(FAILED, message, [Condition("Stalled", "True", reason, message)])
    return None


def _check_ready_condition(obj: dict[str, Any]) -> Result | None:
    for cond in _conditions(obj):
        if cond.get("type") != "Ready":
            continue
        status = cond.get("status")
        if status == "True":
            return Result(CURRENT, "Resource is Ready")
        if status in {"False", "Unknown"}:
            return _in_progress(cond.get("reason", ""), cond.get("message", ""))
    return None


def compute(obj: dict[str, Any]) -> Result:
    """kstatus' ``Compute`` for a custom resource (no built-in kind's rules apply)."""
    result = _check_generic_properties(obj)
    if result is not None:
        return result
    result = _check_ready_condition(obj)
    if result is not None:
        return result
    return Result(CURRENT, "Resource is current")
