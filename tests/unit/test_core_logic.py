"""Pure pieces of the reconcile: drift detection, coalescing, status, Events, patches."""

import threading
import time
from typing import Any

from modelops.api.status import ModelServiceStatus, Phase
from modelops.controller.coalesce import Coalescer
from modelops.controller.reconcile import status_patch
from modelops.render.drift import contained, in_sync
from modelops.rollout.events import transition_events
from modelops.rollout.observe import WorkloadObservation, observe_deployment
from modelops.rollout.report import Moment
from modelops.rollout.steady import steady_status


def test_contained_ignores_extra_live_fields_and_string_quantities() -> None:
    assert contained({"a": {"b": 1}}, {"a": {"b": "1", "c": 2}, "d": 3})
    assert not contained({"a": {"b": 2}}, {"a": {"b": 1}})
    assert not contained({"a": [1, 2]}, {"a": [1, 2, 3]})
    assert not contained({"a": True}, {"a": "True"})


def test_in_sync_looks_at_metadata_and_body_only() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x", "labels": {"a": "1"}},
        "spec": {"ports": [{"port": 80}]},
    }
    live = {
        "metadata": {"name": "x", "labels": {"a": "1", "b": "2"}, "resourceVersion": "9"},
        "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "clusterIP": "10.0.0.1"},
        "status": {},
    }
    assert in_sync(desired, live)
    live["metadata"]["labels"]["a"] = "changed"
    assert not in_sync(desired, live)


def test_coalescer_folds_a_burst_into_one_more_run() -> None:
    coalescer = Coalescer()
    runs = []
    gate = threading.Event()

    def work() -> None:
        runs.append(time.monotonic())
        gate.wait(1)

    worker = threading.Thread(target=coalescer.run, args=("k", work))
    worker.start()
    time.sleep(0.05)
    ran_now = [coalescer.run("k", work) for _ in range(10)]
    gate.set()
    worker.join(5)
    assert ran_now == [False] * 10
    assert len(runs) == 2


def observation(**fields: object) -> WorkloadObservation:
    base = {
        "exists": True,
        "desired": 2,
        "replicas": 2,
        "updated": 2,
        "ready": 2,
        "available": 2,
        "generation": 1,
        "observed_generation": 1,
        "revision": "r1",
    }
    base.update(fields)
    return WorkloadObservation(**base)  # type: ignore[arg-type]


def status(
    previous: ModelServiceStatus, stable: WorkloadObservation, **extra: object
) -> ModelServiceStatus:
    args: dict[str, Any] = {"version": "1.0", "revision": "r1", "conflicts": [], "now": "T1"}
    args.update(extra)
    moment = Moment(3, stable, args["version"], args["now"])
    return steady_status(previous, moment, revision=args["revision"], conflicts=args["conflicts"])


def test_steady_status_ready_when_rolled_out() -> None:
    result = status(ModelServiceStatus(), observation())
    assert result.phase is Phase.STABLE
    assert result.ready == "2/2"
    assert result.observed_generation == 3
    assert {c.type: c.status for c in result.conditions or []} == {
        "Ready": "True",
        "Progressing": "False",
        "Degraded": "False",
        "UpToDate": "True",
    }
    assert [h.version for h in result.history or []] == ["1.0"]


def test_recomputing_a_steady_status_changes_nothing() -> None:
    first = status(ModelServiceStatus(), observation(), now="T1")
    again = status(first, observation(), now="T2")
    assert status_patch(first.to_api(), again.to_api()) == {}
    assert transition_events(first, again) == []


def test_scale_up_of_a_stable_service_stays_stable() -> None:
    first = status(ModelServiceStatus(), observation())
    scaling = status(first, observation(desired=4, replicas=4, updated=4, ready=2))
    assert scaling.phase is Phase.STABLE


def test_new_revision_is_progressing_then_stable_with_history() -> None:
    first = status(ModelServiceStatus(), observation())
    rolling = status(first, observation(updated=1, revision="r2"), revision="r2", version="2.0")
    assert rolling.phase is Phase.PROGRESSING
    done = status(rolling, observation(revision="r2"), revision="r2", version="2.0", now="T3")
    assert done.phase is Phase.STABLE
    assert [h.version for h in done.history or []] == ["1.0", "2.0"]
    ready = next(c for c in done.conditions or [] if c.type == "Ready")
    assert ready.last_transition_time == "T3"


def test_pod_problems_degrade_with_the_reason() -> None:
    pods = [
        {
            "metadata": {"name": "p1"},
            "status": {
                "containerStatuses": [
                    {"restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ]
            },
        }
    ]
    deployment = {"metadata": {"generation": 1}, "spec": {"replicas": 1}, "status": {}}
    observed = observe_deployment(deployment, pods, "rev")
    assert observed.pod_problems == ("CrashLoopBackOff (pod p1)",)
    assert observed.restarts == 4
    result = status(ModelServiceStatus(), observed)
    assert result.phase is Phase.DEGRADED
    degraded = next(c for c in result.conditions or [] if c.type == "Degraded")
    assert (degraded.status, degraded.reason) == ("True", "CrashLoopBackOff")
    events = transition_events(ModelServiceStatus(), result)
    assert [(e.type, e.reason) for e in events] == [("Warning", "Degraded")]


def test_conflict_wins_over_everything() -> None:
    result = status(ModelServiceStatus(), observation(), conflicts=["ConfigMap/x-ratelimit"])
    assert result.phase is Phase.CONFLICT
    assert "ConfigMap/x-ratelimit" in (result.message or "")


def test_status_patch_nulls_removed_keys() -> None:
    assert status_patch({"a": 1, "b": 2}, {"a": 1, "c": 3}) == {"b": None, "c": 3}


def test_an_autoscaled_deployment_is_not_rolled_out_below_min_replicas() -> None:
    """Created without replicas (1) until the HPA's first sync: not ready at 1 of 2."""
    deployment = {
        "metadata": {"generation": 1},
        "spec": {},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
        },
    }
    assert observe_deployment(deployment, [], "rev").rolled_out
    waiting = observe_deployment(deployment, [], "rev", at_least=2)
    assert (waiting.desired, waiting.rolled_out) == (2, False)
    scaled = {**deployment, "spec": {"replicas": 3}}
    scaled["status"] = {**deployment["status"], "replicas": 3, "updatedReplicas": 3}
    scaled["status"]["readyReplicas"] = 3
    assert observe_deployment(scaled, [], "rev", at_least=2).rolled_out
