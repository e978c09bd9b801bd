"""What Flux (kstatus) says about the statuses the rollout machine writes, through an exact
reimplementation of kstatus' rules (tests/support/kstatus.py).

- stable: Current.
- a canary under way at its steps: Current, as Flagger's canaries are. A canary can hold for
  hours under analysis; InProgress would make a Flux sync with ``wait`` time out on a healthy
  service. Its failure is reported when it happens (Failed, below).
- promoting, a first deployment, an Immediate rolling update, a spec not yet observed:
  InProgress (Reconciling).
- rolled back: Failed (Stalled, reason RolledBack, the message naming the version and the
  cause) for as long as the spec asks for the failed version; another version clears it.
"""

from typing import Any

import pytest

from modelops.api.spec import ModelServiceSpec
from modelops.api.status import ModelServiceStatus, Phase
from modelops.rollout.observe import WorkloadObservation
from tests.support import kstatus
from tests.support.argocd import health
from tests.support.rollout import deployed, ready, spec, tick

CRASHING = WorkloadObservation(
    exists=True, desired=1, replicas=1, pod_problems=("CrashLoopBackOff (pod m-canary-x)",)
)


def obj(status: ModelServiceStatus, generation: int = 1, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": "m", "namespace": "ml", "generation": generation, **meta},
        "spec": {"model": {"name": "m", "version": "2.0.0"}},
        "status": status.to_api(),
    }


def flux(status: ModelServiceStatus, generation: int = 1) -> str:
    return kstatus.compute(obj(status, generation)).status


def rolled_back() -> tuple[ModelServiceSpec, ModelServiceStatus]:
    old, status = deployed()
    new = spec("2.0.0")
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1))
    step = tick(new, step.status, ready(old), CRASHING, at=1)
    assert step.status.phase is Phase.ROLLED_BACK
    return new, step.status


def test_the_helper_follows_kstatus_order_of_rules() -> None:
    plain = ModelServiceStatus(observed_generation=1)
    assert kstatus.compute(obj(plain)).status == kstatus.CURRENT  # no conditions at all
    assert kstatus.compute(obj(plain, generation=2)).status == kstatus.IN_PROGRESS
    gone = kstatus.compute(obj(plain, deletionTimestamp="2026-01-01T00:00:00Z"))
    assert gone.status == kstatus.TERMINATING
    conditions = [
        {"type": "Ready", "status": "True"},
        {"type": "Stalled", "status": "True", "reason": "R", "message": "m"},
        {"type": "Reconciling", "status": "True"},
    ]
    body = obj(plain)
    body["status"]["conditions"] = conditions
    assert kstatus.compute(body) == kstatus.Result(
        kstatus.FAILED, "m", [kstatus.Condition("Stalled", "True", "R", "m")]
    )
    body["status"]["conditions"] = [conditions[0], conditions[2], conditions[1]]
    assert kstatus.compute(body).status == kstatus.IN_PROGRESS  # the first one listed wins
    body["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "X"}]
    assert kstatus.compute(body).conditions == [kstatus.Condition("Reconciling", "True", "X")]
    body["metadata"]["generation"] = "1"
    with pytest.raises(TypeError):
        kstatus.compute(body)


def test_stable_is_current() -> None:
    _, status = deployed()
    assert flux(status) == kstatus.CURRENT


def test_first_deployment_rolling_is_in_progress() -> None:
    first = spec("1.0.0")
    step = tick(first, ModelServiceStatus(), ready(first, updated=1, ready=0))
    assert step.status.phase is Phase.PROGRESSING
    assert flux(step.status) == kstatus.IN_PROGRESS


def test_a_long_canary_is_current_and_its_promotion_in_progress() -> None:
    old, status = deployed()
    new = spec("2.0.0", [{"weight": 20, "pause": "2h"}, {"weight": 60}])
    step = tick(new, status, ready(old), WorkloadObservation(exists=True, desired=1))
    assert flux(step.status) == kstatus.CURRENT
    step = tick(new, step.status, ready(old), ready(new, desired=1), at=1)
    step = tick(new, step.status, ready(old), ready(new, desired=1), at=3600)
    assert step.status.current_step == 0 and flux(step.status) == kstatus.CURRENT
    step = tick(new, step.status, ready(old), ready(new, desired=1), at=7300)
    step = tick(new, step.status, ready(old), ready(new, desired=2), at=7301)
    assert step.status.stage is not None and step.status.stage.value == "Promoting"
    result = kstatus.compute(obj(step.status))
    assert result.status == kstatus.IN_PROGRESS and "promoting 2.0.0" in result.message
    step = tick(new, step.status, ready(new), ready(new, desired=2), at=7302)
    assert step.status.phase is Phase.STABLE and flux(step.status) == kstatus.CURRENT


def test_rolled_back_is_failed_while_the_spec_asks_for_the_failed_version() -> None:
    new, status = rolled_back()
    result = kstatus.compute(obj(status))
    assert result.status == kstatus.FAILED
    [stalled] = result.conditions
    assert stalled.reason == "RolledBack"
    assert "2.0.0" in stalled.message and "CrashLoopBackOff" in stalled.message
    old = spec("1.0.0")
    # Later reconciles, and an edit that asks for no other version (generation 2), keep it.
    later = tick(new.model_copy(update={"replicas": 3}), status, ready(old), at=60, generation=2)
    assert later.events == [] and flux(later.status, generation=2) == kstatus.FAILED
    assert flux(later.status, generation=3) == kstatus.IN_PROGRESS  # not yet observed
    # Another version clears it: its canary runs (Current); so does going back to stable.
    newer = spec("2.0.1")
    assert flux(tick(newer, later.status, ready(old), at=61).status) == kstatus.CURRENT
    reverted = tick(old, later.status, ready(old), at=61)
    assert reverted.status.phase is Phase.STABLE and flux(reverted.status) == kstatus.CURRENT
    assert "Stalled" not in {c.type for c in reverted.status.conditions or []}


def test_ready_still_means_serving_and_argo_cd_agrees() -> None:
    _, status = rolled_back()
    conditions = {c.type: c.status for c in status.conditions or []}
    assert conditions["Ready"] == "True"  # stable serves
    assert health(obj(status))[0] == "Degraded"
    _, stable = deployed()
    assert health(obj(stable))[0] == "Healthy"
