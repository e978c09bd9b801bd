"""The controller without a cluster: importing starts nothing, and a reconcile that fails at
any stage ends in status (a condition), a Warning Event and a retry with a capped backoff."""

import copy
import subprocess
import sys
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from modelops.api.status import Condition, ModelServiceStatus, Phase, Stage
from modelops.controller import reconcile as reconcile_module
from modelops.controller.config import OperatorConfig
from modelops.controller.manager import TERMINATING_PAUSE_SECONDS, Controller
from modelops.kube.client import Kube, NamespaceTerminatingError
from tests.support.samples import model_service

NAMESPACE, NAME = "ml", "demo"
KEY = (NAMESPACE, NAME)


def test_importing_every_module_starts_no_thread() -> None:
    # A fresh interpreter: what other tests imported already must not hide a thread.
    script = """
import importlib, pkgutil, threading
import modelops
started = []
for module in pkgutil.walk_packages(modelops.__path__, "modelops."):
    before = {t.ident for t in threading.enumerate()}
    importlib.import_module(module.name)
    new = [t.name for t in threading.enumerate() if t.ident not in before]
    if new:
        started.append(f"{module.name}: {new}")
count = len(list(pkgutil.walk_packages(modelops.__path__, "modelops.")))
print(count)
print("\\n".join(started))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    count, *started = done.stdout.strip().split("\n")
    assert int(count) > 50  # every module was walked, the controller's among them
    assert [line for line in started if line] == []


class FakeKube(Kube):
    """ModelServices and children in a dict; ``failing[method]`` raises once when called."""

    def __init__(self) -> None:
        super().__init__(api=None)  # type: ignore[arg-type]
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.status_patches: list[dict[str, Any]] = []
        self.failing: dict[str, Exception] = {}
        self._version = 0

    def _maybe_fail(self, method: str) -> None:
        error = self.failing.pop(method, None)
        if error is not None:
            raise error

    def _stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        body["metadata"]["resourceVersion"] = str(self._version)
        return body

    def get(
        self, kind: str, namespace: str, name: str, cached: bool = False
    ) -> dict[str, Any] | None:
        self._maybe_fail("get")
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def lookup(self, kind: str, namespace: str, name: str, wanted: bool) -> dict[str, Any] | None:
        return self.get(kind, namespace, name)

    def list(self, kind: str, namespace: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        self._maybe_fail("list")
        return []

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self._maybe_fail("apply")
        meta = manifest["metadata"]
        body = self._stamp(copy.deepcopy(manifest))
        self.objects[(manifest["kind"], meta["namespace"], meta["name"])] = body
        return copy.deepcopy(body)

    def delete(self, kind: str, namespace: str, name: str, uid: str) -> None:
        self.objects.pop((kind, namespace, name), None)

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.events.append(manifest)
        return manifest

    def patch_status(
        self, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        self._maybe_fail("patch_status")
        self.status_patches.append(status)
        body = self.objects[(kind, namespace, name)]
        merged = dict(body.get("status") or {})
        for key, value in status.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        body["status"] = merged
        return copy.deepcopy(self._stamp(body))


class RecordedTimers:
    def __init__(self) -> None:
        self.scheduled: list[tuple[Hashable, float]] = []

    def schedule(self, key: Hashable, delay: float, wake: Callable[[], None]) -> None:
        self.scheduled.append((key, delay))

    def cancel(self, key: Hashable) -> None:
        pass


def controller_with_one_service() -> tuple[Controller, FakeKube, RecordedTimers]:
    kube = FakeKube()
    body = model_service(NAME)
    body["metadata"].update(namespace=NAMESPACE, uid="uid-1", generation=1)
    kube.objects[("ModelService", NAMESPACE, NAME)] = body
    controller = Controller(OperatorConfig(retry_first_seconds=1, retry_limit_seconds=8), kube)
    timers = RecordedTimers()
    controller.timers = timers  # type: ignore[assignment]
    return controller, kube, timers


def status_of(kube: FakeKube) -> dict[str, Any]:
    status: dict[str, Any] = kube.objects[("ModelService", NAMESPACE, NAME)].get("status") or {}
    return status


def failure_condition(kube: FakeKube) -> dict[str, Any] | None:
    conditions = status_of(kube).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Reconciled"), None)


def warnings(kube: FakeKube) -> list[tuple[str, str]]:
    return [(e["reason"], e["message"]) for e in kube.events if e["type"] == "Warning"]


def fail_render(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("render broke")

    monkeypatch.setattr(reconcile_module, "desired_children", broken)


STAGES: dict[str, Callable[[FakeKube, pytest.MonkeyPatch], str]] = {
    "read": lambda kube, _: (
        kube.failing.__setitem__("get", ConnectionError("API server away")) or "ConnectionError"
    ),
    "observe": lambda kube, _: (
        kube.failing.__setitem__("list", TimeoutError("pods list timed out")) or "TimeoutError"
    ),
    "render": lambda _, monkeypatch: fail_render(monkeypatch) or "KeyError",
    "apply": lambda kube, _: (
        kube.failing.__setitem__("apply", RuntimeError("apply refused")) or "RuntimeError"
    ),
    "status write": lambda kube, _: (
        kube.failing.__setitem__("patch_status", OSError("connection reset")) or "OSError"
    ),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_failure_at_any_stage_ends_in_status_an_event_and_a_retry(
    stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, kube, timers = controller_with_one_service()
    error_type = STAGES[stage](kube, monkeypatch)

    controller.reconcile_key(NAMESPACE, NAME)  # must not raise: the controller catches it

    condition = failure_condition(kube)
    assert condition is not None, f"{stage}: no condition in {status_of(kube)}"
    assert condition["status"] == "False"
    assert condition["reason"] == "ReconcileError"
    assert condition["message"].startswith(f"{error_type}: ")
    assert warnings(kube) == [("ReconcileError", condition["message"])]
    assert timers.scheduled == [(KEY, 1.0)]


def test_the_same_failure_again_writes_nothing_and_backs_off_up_to_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, kube, timers = controller_with_one_service()
    fail_render(monkeypatch)
    for _ in range(6):
        controller.reconcile_key(NAMESPACE, NAME)
    assert [delay for _, delay in timers.scheduled] == [1, 2, 4, 8, 8, 8]
    assert len(kube.status_patches) == 1  # the first report; the same failure again: nothing
    assert len(warnings(kube)) == 1


def test_a_success_after_failures_clears_the_condition_and_the_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, kube, timers = controller_with_one_service()
    kube.failing["apply"] = RuntimeError("apply refused")
    controller.reconcile_key(NAMESPACE, NAME)
    assert failure_condition(kube) is not None

    controller.reconcile_key(NAMESPACE, NAME)  # the fake fails once: this one succeeds
    assert failure_condition(kube) is None
    assert status_of(kube).get("phase")  # the reconcile's own status was written
    kube.failing["apply"] = RuntimeError("apply refused")
    kube.objects = {k: v for k, v in kube.objects.items() if k[0] == "ModelService"}
    controller.reconcile_key(NAMESPACE, NAME)
    assert timers.scheduled[-1] == (KEY, 1.0)  # the backoff started over


def test_a_namespace_being_deleted_pauses_its_services_instead_of_refused_applies() -> None:
    controller, kube, timers = controller_with_one_service()
    applies = 0
    refuse = kube.apply

    def refused(manifest: dict[str, Any]) -> dict[str, Any]:
        nonlocal applies
        applies += 1
        raise NamespaceTerminatingError(NAMESPACE)

    kube.apply = refused  # type: ignore[method-assign]
    for _ in range(5):  # the namespace controller deletes children: each wakes the owner
        controller.reconcile_key(NAMESPACE, NAME)
    assert applies == 1
    assert kube.status_patches == [] and kube.events == []  # no failure reported
    assert timers.scheduled and 0 < timers.scheduled[-1][1] <= TERMINATING_PAUSE_SECONDS

    # After the pause (the namespace made anew under the same name): reconciled again.
    kube.apply = refuse  # type: ignore[method-assign]
    controller._terminating[NAMESPACE] = 0.0
    controller.reconcile_key(NAMESPACE, NAME)
    assert status_of(kube)["phase"] == "Progressing"


def test_an_api_error_is_described_without_its_headers() -> None:
    error = ApiException(status=500, reason="Internal Server Error")
    error.body = '{"kind": "Status", "message": "etcdserver: request timed out"}'
    error.headers = {"Audit-Id": "changes-every-time"}
    text = reconcile_module.describe_error(error)
    assert text == "ApiException: 500 Internal Server Error: etcdserver: request timed out"


def set_deployment_status(kube: FakeKube, **status: int) -> None:
    deployment = kube.objects[("Deployment", NAMESPACE, f"{NAME}-stable")]
    deployment["metadata"]["generation"] = 1
    deployment["status"] = {"observedGeneration": 1, **status}


def backdate_conditions(kube: FakeKube, seconds: float) -> None:
    stamp = (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for condition in status_of(kube).get("conditions") or []:
        condition["lastTransitionTime"] = stamp


def test_a_first_deployment_writes_progressing_then_stable_and_posts_one_event() -> None:
    controller, kube, timers = controller_with_one_service()
    controller.reconcile_key(NAMESPACE, NAME)
    assert status_of(kube)["phase"] == "Progressing"
    assert len(kube.status_patches) == 1
    assert kube.events == []  # a new ModelService's first status is no news

    # Pods created, none ready: no news, held with no timer until a write that is news.
    timers.scheduled.clear()
    set_deployment_status(kube, replicas=2, updatedReplicas=2, readyReplicas=0)
    controller.reconcile_key(NAMESPACE, NAME)
    assert len(kube.status_patches) == 1
    assert timers.scheduled == []

    # One of two ready: news, but held back within the quiet time; a timer writes it.
    set_deployment_status(kube, replicas=2, updatedReplicas=2, readyReplicas=1)
    controller.reconcile_key(NAMESPACE, NAME)
    assert len(kube.status_patches) == 1
    assert 0 < timers.scheduled[-1][1] <= 5

    # Ready: a change of state, written at once, with its Event.
    set_deployment_status(kube, replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    controller.reconcile_key(NAMESPACE, NAME)
    assert status_of(kube)["phase"] == "Stable"
    assert len(kube.status_patches) == 2
    assert [(e["type"], e["reason"]) for e in kube.events] == [("Normal", "Stable")]


def test_counts_held_back_are_written_once_the_quiet_time_is_over() -> None:
    controller, kube, _ = controller_with_one_service()
    controller.reconcile_key(NAMESPACE, NAME)
    set_deployment_status(kube, replicas=2, updatedReplicas=2, readyReplicas=1)
    backdate_conditions(kube, 6)
    controller.reconcile_key(NAMESPACE, NAME)
    assert len(kube.status_patches) == 2
    assert "2/2 updated, 1 ready" in status_of(kube)["message"]


def test_pods_created_but_not_ready_ride_along_with_the_next_write() -> None:
    controller, kube, _ = controller_with_one_service()
    controller.reconcile_key(NAMESPACE, NAME)
    set_deployment_status(kube, replicas=2, updatedReplicas=2, readyReplicas=0)
    backdate_conditions(kube, 60)  # however long the pods take to get ready
    controller.reconcile_key(NAMESPACE, NAME)
    assert len(kube.status_patches) == 1
    assert "0/2 updated" in status_of(kube)["message"]
    set_deployment_status(kube, replicas=2, updatedReplicas=2, readyReplicas=1)
    controller.reconcile_key(NAMESPACE, NAME)
    assert len(kube.status_patches) == 2
    assert "2/2 updated, 1 ready" in status_of(kube)["message"]


def test_counts_are_never_held_during_a_rollout_or_after_a_first_deployment() -> None:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = Condition(type="Progressing", status="True", reason="X", last_transition_time=stamp)
    first = ModelServiceStatus(phase=Phase.PROGRESSING, ready="0/2", conditions=[condition])
    moved = first.model_copy(update={"ready": "1/2"})
    assert reconcile_module.progress_held(first, moved, now) > 0
    canary = first.model_copy(update={"stage": Stage.CANARY})
    assert (
        reconcile_module.progress_held(canary, canary.model_copy(update={"ready": "1/2"}), now) == 0
    )
    served = first.model_copy(update={"stable_revision": "abc"})
    assert (
        reconcile_module.progress_held(served, served.model_copy(update={"ready": "1/2"}), now) == 0
    )
