"""Spec edits in the middle of a canary rollout, on a real control plane through the real
operator process: each edit has the outcome docs/rollouts.md gives it ("Editing a
ModelService mid-rollout"), in status, Events and children, and none ends in an exception
loop (no Traceback in the operator's log, no failed reconcile in the test's namespace).

The pure machine's side of each case is in tests/unit/test_spec_edits.py.
"""

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from modelops.render.meta import LABEL_INSTANCE, LABEL_TRACK
from tests.cluster.test_canary import canary_service, deployments, image, modelops_cli
from tests.cluster.test_rollout_resilience import watching_stable
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status, wait_phase
from tests.support.operator import OperatorProcess
from tests.support.processes import free_port
from tests.support.routing import GATEWAY_API, ISTIO

pytestmark = pytest.mark.cluster

# Held at step 2 (40%): the first step passes after 1 s, the second holds for 10 minutes.
STEPS: list[dict[str, Any]] = [
    {"weight": 20, "pause": "1s"},
    {"weight": 40, "pause": "10m"},
    {"weight": 60, "pause": "10m"},
]
REPLICAS = 4  # canary_service's spec.replicas


def canary_replicas(weight: int, base: int = REPLICAS) -> int:
    """The canary's share of the replicas at ``weight``, at least one (render.children)."""
    return max(1, -(-base * weight // 100))


def immediate_service(name: str, version: str, **extra: Any) -> dict[str, Any]:
    """canary_service's service under strategy Immediate (no steps)."""
    document = canary_service(name, version, STEPS, **extra)
    document["spec"]["rollout"] = {"strategy": "Immediate"}
    return document


def image_of(version: str) -> str:
    return str(canary_service("x", version, STEPS)["spec"]["model"]["image"])


def events(cluster: Cluster, namespace: str, name: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the ModelService's Events, oldest first."""
    found = cluster.get(
        "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )
    ordered = sorted(
        found["items"], key=lambda e: e.get("lastTimestamp") or e["metadata"]["creationTimestamp"]
    )
    return [(e.get("type", ""), e["reason"], e.get("message", "")) for e in ordered]


def reasons(cluster: Cluster, namespace: str, name: str) -> list[str]:
    return [reason for _, reason, _ in events(cluster, namespace, name)]


def conditions(current: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in current.get("conditions") or []}


def generation(cluster: Cluster, namespace: str, name: str) -> int:
    return int(cluster.get("msvc", "-n", namespace, name)["metadata"]["generation"])


def observed(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """The status once the operator has seen the latest spec."""
    want = generation(cluster, namespace, name)
    return dict(
        wait_until(
            lambda: (s := status(cluster, namespace, name)).get("observedGeneration") == want and s,
            30,
            message=f"{name}: generation {want} observed",
        )
    )


def track_replicas(cluster: Cluster, namespace: str, name: str) -> dict[str, int | None]:
    return {
        track: d["spec"].get("replicas")
        for track, d in deployments(cluster, namespace, name).items()
    }


def start_canary(
    cluster: Cluster, namespace: str, name: str, steps: list[dict[str, Any]] = STEPS, **extra: Any
) -> dict[str, Any]:
    """1.0.0 Stable, then 2.0.0 rolling out and held at step 2 (40%) with its canary ready;
    returns that status."""
    cluster.apply(canary_service(name, "1.0.0", steps, **copy.deepcopy(extra)), namespace)
    wait_phase(cluster, namespace, name, "Stable", 60)
    cluster.apply(canary_service(name, "2.0.0", steps, **copy.deepcopy(extra)), namespace)
    held = wait_until(
        lambda: (
            (s := status(cluster, namespace, name)).get("currentStep") == 1
            and "stepReadyAt" in s
            and s
        ),
        60,
        interval=0.2,
        message=f"{name}: 2.0.0 at step 2, canary ready",
    )
    assert held["canaryWeight"] == 40 and held["stepHash"], held
    assert track_replicas(cluster, namespace, name) == {
        "stable": REPLICAS,
        "canary": canary_replicas(40),
    }
    return dict(held)


def edit(cluster: Cluster, namespace: str, name: str, **spec: Any) -> None:
    """A merge patch of ``spec`` (what ``kubectl patch --type=merge`` does by hand)."""
    cluster.kubectl(
        "patch", "msvc", "-n", namespace, name, "--type=merge", "-p", json.dumps({"spec": spec})
    )


@pytest.fixture
def no_error_loop(operator: OperatorProcess, namespace: str) -> Iterator[None]:
    """After the test: no Traceback in the operator's log, and no reconcile of anything in
    this test's namespace failed (each failure is logged once before its retry)."""
    yield
    operator.assert_no_tracebacks()
    failed = [
        line
        for line in operator.log().splitlines()
        if "reconcile of " in line and f"{namespace}/" in line and " failed" in line
    ]
    assert not failed, failed


def holds(
    cluster: Cluster, namespace: str, name: str, seconds: float, **want: Any
) -> dict[str, Any]:
    """Status keeps ``want`` (camelCase keys) for ``seconds``, read every half second; the
    last status read."""
    deadline = time.monotonic() + seconds
    while True:
        current = status(cluster, namespace, name)
        assert {key: current.get(key) for key in want} == want, current
        if time.monotonic() >= deadline:
            return current
        time.sleep(0.5)


# --- rollout.steps edited --------------------------------------------------------------------


def assert_restarted(
    cluster: Cluster,
    namespace: str,
    name: str,
    before: dict[str, Any],
    weight: int,
    of: int,
) -> dict[str, Any]:
    """The canary (still 2.0.0) went back to step 1 of ``of`` new steps, at ``weight``."""
    current = wait_until(
        lambda: (s := status(cluster, namespace, name)).get("stepHash") != before["stepHash"] and s,
        30,
        message=f"{name}: a new step hash",
    )
    assert current["stepHash"], current
    assert current["phase"] == "Progressing", current
    assert current["canaryVersion"] == "2.0.0" and current["stableVersion"] == "1.0.0", current
    assert (current["currentStep"], current["canaryWeight"]) == (0, weight), current
    assert current["stepStartedAt"] >= before["stepStartedAt"], current
    changed = [m for _, r, m in events(cluster, namespace, name) if r == "StepsChanged"]
    assert changed == [
        f"rollout.steps changed at step 2: canary 2.0.0 restarts at step 1/{of} ({weight}%)"
    ], changed
    wait_until(
        lambda: (
            track_replicas(cluster, namespace, name)
            == {"stable": REPLICAS, "canary": canary_replicas(weight)}
        ),
        30,
        message=f"{name}: canary scaled to {weight}%",
    )
    tracks = deployments(cluster, namespace, name)
    assert image(tracks["stable"]) == image_of("1.0.0")
    assert image(tracks["canary"]) == image_of("2.0.0")
    assert conditions(current)["Progressing"]["status"] == "True"
    assert "Stalled" not in conditions(current)
    return dict(current)


def test_steps_shortened_below_the_current_step(
    cluster: Cluster, namespace: str, no_error_loop: None
) -> None:
    """Used to raise IndexError on every reconcile: status at step 2 of steps that have one."""
    before = start_canary(cluster, namespace, "shorter")
    shorter = [{"weight": 10, "pause": "10m"}]
    cluster.apply(canary_service("shorter", "2.0.0", shorter), namespace)
    current = assert_restarted(cluster, namespace, "shorter", before, weight=10, of=1)
    assert "step 1/1" in current["message"], current
    # Holds there, steady: no more restarts, no step index beyond the steps.
    held = holds(
        cluster, namespace, "shorter", 3, currentStep=0, canaryWeight=10, phase="Progressing"
    )
    assert held["stepHash"] == current["stepHash"], held
    assert reasons(cluster, namespace, "shorter").count("StepsChanged") == 1
    assert observed(cluster, namespace, "shorter")["currentStep"] == 0


def test_steps_lengthened(cluster: Cluster, namespace: str, no_error_loop: None) -> None:
    before = start_canary(cluster, namespace, "longer")
    # Held at step 1 of the new steps for the test to see it (each step pauses 10 minutes).
    longer = [{"weight": 20, "pause": "10m"}, *STEPS[1:], {"weight": 80}]
    cluster.apply(canary_service("longer", "2.0.0", longer), namespace)
    current = assert_restarted(cluster, namespace, "longer", before, weight=20, of=4)
    held = holds(cluster, namespace, "longer", 3, currentStep=0, canaryWeight=20)
    assert "step 1/4" in held["message"] and held["stepHash"] == current["stepHash"], held
    assert reasons(cluster, namespace, "longer").count("StepsChanged") == 1


def test_steps_reweighted(cluster: Cluster, namespace: str, no_error_loop: None) -> None:
    before = start_canary(cluster, namespace, "reweighted")
    # The same three steps, other weights: the canary restarts at the new first weight (one
    # canary replica of four, where step 2 ran two): what runs is what status says.
    reweighted = [{"weight": 10, "pause": "10m"}, {"weight": 70, "pause": "10m"}, {"weight": 90}]
    cluster.apply(canary_service("reweighted", "2.0.0", reweighted), namespace)
    current = assert_restarted(cluster, namespace, "reweighted", before, weight=10, of=3)
    held = holds(cluster, namespace, "reweighted", 3, currentStep=0, canaryWeight=10)
    assert held["stepHash"] == current["stepHash"], held
    assert track_replicas(cluster, namespace, "reweighted")["canary"] == canary_replicas(10)
    assert reasons(cluster, namespace, "reweighted").count("StepsChanged") == 1


# --- routing, analysis, strategy, scale -----------------------------------------------------


def route_weights(cluster: Cluster, namespace: str, name: str, kind: str) -> dict[str, int]:
    route = cluster.get(kind, "-n", namespace, name)
    if kind == "httproute":
        refs = route["spec"]["rules"][0]["backendRefs"]
        return {ref["name"]: ref["weight"] for ref in refs}
    routes = route["spec"]["http"][0]["route"]
    return {r["destination"]["host"].split(".")[0]: r.get("weight", 100) for r in routes}


def exists(cluster: Cluster, namespace: str, kind: str, name: str) -> bool:
    found = cluster.kubectl("get", kind, "-n", namespace, name, "--ignore-not-found", "-o", "name")
    return bool(found.stdout.strip())


def test_routing_provider_switched(
    cluster: Cluster, namespace: str, routing_crds: None, no_error_loop: None
) -> None:
    """replicas -> gatewayAPI -> istio -> replicas at step 2: the step and weight stand, the
    new provider's objects route 60/40, the old provider's are deleted."""
    name = "switched"
    before = start_canary(cluster, namespace, name)
    assert before["routing"] == "replicas"
    split = {f"{name}-stable": 60, f"{name}-canary": 40}
    track_services = (f"{name}-stable", f"{name}-canary")
    for provider, routing, kind, gone in (
        ("gatewayAPI", GATEWAY_API, "httproute", None),
        ("istio", ISTIO, "virtualservice", "httproute"),
    ):
        rollout = {"trafficRouting": routing}
        cluster.apply(canary_service(name, "2.0.0", STEPS, rollout=rollout), namespace)
        wait_until(
            lambda p=provider: status(cluster, namespace, name).get("routing") == p,
            30,
            message=f"status.routing {provider}",
        )
        wait_until(
            lambda k=kind: (
                exists(cluster, namespace, k, name)
                and route_weights(cluster, namespace, name, k) == split
            ),
            30,
            message=f"{kind} at 60/40",
        )
        if gone:
            wait_until(
                lambda g=gone: not exists(cluster, namespace, g, name),
                30,
                message=f"the old {gone} deleted",
            )
        assert all(exists(cluster, namespace, "service", s) for s in track_services)
        current = observed(cluster, namespace, name)
        assert (current["currentStep"], current["canaryWeight"]) == (1, 40), current
        assert current["stepHash"] == before["stepHash"], current
    cluster.apply(canary_service(name, "2.0.0", STEPS), namespace)
    wait_until(
        lambda: status(cluster, namespace, name).get("routing") == "replicas",
        30,
        message="status.routing replicas",
    )
    wait_until(
        lambda: (
            not exists(cluster, namespace, "virtualservice", name)
            and not any(exists(cluster, namespace, "service", s) for s in track_services)
        ),
        30,
        message="the VirtualService and per-track Services deleted",
    )
    assert exists(cluster, namespace, "service", name)
    assert not exists(cluster, namespace, "httproute", name)
    current = observed(cluster, namespace, name)
    assert (current["currentStep"], current["canaryWeight"]) == (1, 40), current
    assert track_replicas(cluster, namespace, name) == {
        "stable": REPLICAS,
        "canary": canary_replicas(40),
    }
    assert "StepsChanged" not in reasons(cluster, namespace, name)


def test_analysis_metrics_added_then_removed(
    cluster: Cluster, namespace: str, no_error_loop: None
) -> None:
    """A metric against a Prometheus that does not exist (inconclusive: Pause) holds the step
    as inconclusive; removing it leaves the step's pause alone to decide."""
    name = "analysed"
    before = start_canary(cluster, namespace, name)
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    metric = {"name": "errors", "max": 0.05, "prometheus": {"address": nowhere, "query": "up"}}
    analysis = {"interval": "2s", "inconclusive": "Pause", "metrics": [metric]}
    cluster.apply(canary_service(name, "2.0.0", STEPS, rollout={"analysis": analysis}), namespace)
    paused = wait_until(
        lambda: (s := status(cluster, namespace, name)).get("analysis", {}).get("results") and s,
        30,
        message="an analysis run against the missing Prometheus",
    )
    assert "inconclusive" in paused["message"] and nowhere in paused["message"], paused
    result = paused["analysis"]["results"][0]
    assert result["name"] == "errors" and result.get("ok") is None, result
    assert (paused["currentStep"], paused["canaryWeight"]) == (1, 40), paused
    assert paused["stepHash"] == before["stepHash"], paused
    assert conditions(paused)["Progressing"]["reason"] == "Paused", paused
    cluster.apply(canary_service(name, "2.0.0", STEPS), namespace)
    observed(cluster, namespace, name)
    wait_until(
        lambda: "pause left" in status(cluster, namespace, name)["message"],
        15,
        message="the step's pause alone holds the step",
    )
    current = holds(cluster, namespace, name, 2, currentStep=1, canaryWeight=40)
    assert "inconclusive" not in current["message"], current
    assert conditions(current)["Progressing"]["reason"] == "CanaryProgressing", current
    assert current["stepHash"] == before["stepHash"], current
    assert "StepsChanged" not in reasons(cluster, namespace, name)


def stable_pods(cluster: Cluster, namespace: str, name: str) -> set[str]:
    selector = f"{LABEL_INSTANCE}={name},{LABEL_TRACK}=stable"
    pods = cluster.get("pods", "-n", namespace, "-l", selector)["items"]
    return {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def test_spec_back_to_the_stable_version(
    cluster: Cluster, namespace: str, no_error_loop: None
) -> None:
    """The canary goes (RolloutAborted); stable never changed."""
    name = "regret"
    start_canary(cluster, namespace, name)
    before = stable_pods(cluster, namespace, name)
    assert len(before) == REPLICAS, before
    cluster.apply(canary_service(name, "1.0.0", STEPS), namespace)
    wait_until(
        lambda: set(deployments(cluster, namespace, name)) == {"stable"},
        30,
        message="canary Deployment deleted",
    )
    current = observed(cluster, namespace, name)
    assert current["phase"] == "Stable" and current["stableVersion"] == "1.0.0", current
    for key in ("canaryVersion", "currentStep", "stepHash", "stage"):
        assert key not in current, current
    found = events(cluster, namespace, name)
    assert ("Normal", "RolloutAborted", "the spec no longer asks for the canary") in found, found
    assert image(deployments(cluster, namespace, name)["stable"]) == image_of("1.0.0")
    assert stable_pods(cluster, namespace, name) == before, "stable was disturbed"


def wait_stable_alone(cluster: Cluster, namespace: str, name: str, version: str) -> None:
    """``version`` Stable, and the canary's Deployment gone."""
    wait_until(
        lambda: (
            (s := status(cluster, namespace, name)).get("phase") == "Stable"
            and s.get("stableVersion") == version
        ),
        60,
        message=f"{version} Stable",
    )
    wait_until(
        lambda: set(deployments(cluster, namespace, name)) == {"stable"},
        30,
        message="canary Deployment deleted",
    )


def test_canary_switched_to_immediate(
    cluster: Cluster, namespace: str, no_error_loop: None
) -> None:
    name = "hurried"
    start_canary(cluster, namespace, name)
    cluster.apply(immediate_service(name, "2.0.0"), namespace)
    wait_stable_alone(cluster, namespace, name, "2.0.0")
    assert image(deployments(cluster, namespace, name)["stable"]) == image_of("2.0.0")
    current = observed(cluster, namespace, name)
    for key in ("canaryVersion", "currentStep", "stepHash", "stage"):
        assert key not in current, current
    assert current.get("canaryWeight") in (None, 0), current
    found = events(cluster, namespace, name)
    assert ("Normal", "RolloutAborted", "the spec no longer asks for the canary") in found, found
    assert [(h["version"], h["result"]) for h in current["history"]][-1] == (
        "2.0.0",
        "Deployed",
    ), current["history"]
    states = conditions(current)
    assert states["UpToDate"]["status"] == "True" and "Reconciling" not in states, states


def test_immediate_switched_to_canary_during_a_rolling_update(
    cluster: Cluster, namespace: str, no_error_loop: None
) -> None:
    """2.0.0's pods never get ready, so its Immediate rolling update stays under way; switched
    to Canary, stable goes back to 1.0.0 and 2.0.0 takes the canary steps."""
    name = "careful"
    never_ready = {"labels": {"modelops.dev/simulate": "not-ready"}}
    cluster.apply(immediate_service(name, "1.0.0"), namespace)
    wait_phase(cluster, namespace, name, "Stable", 60)
    cluster.apply(immediate_service(name, "2.0.0", podTemplate=never_ready), namespace)
    wait_until(
        lambda: (
            image(deployments(cluster, namespace, name)["stable"]) == image_of("2.0.0")
            and status(cluster, namespace, name).get("phase") == "Progressing"
        ),
        30,
        message="a rolling update to 2.0.0 under way",
    )
    rolling = observed(cluster, namespace, name)
    assert conditions(rolling)["Reconciling"]["status"] == "True", rolling
    cluster.apply(canary_service(name, "2.0.0", STEPS, podTemplate=never_ready), namespace)
    current = wait_until(
        lambda: (s := status(cluster, namespace, name)).get("canaryVersion") == "2.0.0" and s,
        30,
        message="2.0.0 as the canary",
    )
    assert (current.get("currentStep"), current["canaryWeight"]) == (0, 20), current
    assert current["stepHash"] and current["stableVersion"] == "1.0.0", current
    wait_until(
        lambda: (
            {t: image(d) for t, d in deployments(cluster, namespace, name).items()}
            == {"stable": image_of("1.0.0"), "canary": image_of("2.0.0")}
        ),
        30,
        message="stable back on 1.0.0, the canary on 2.0.0",
    )
    tracks = deployments(cluster, namespace, name)
    stable_labels = tracks["stable"]["spec"]["template"]["metadata"]["labels"]
    assert "modelops.dev/simulate" not in stable_labels, stable_labels
    assert tracks["canary"]["spec"]["replicas"] == canary_replicas(20)
    wait_until(
        lambda: (
            deployments(cluster, namespace, name)["stable"]["status"].get("readyReplicas")
            == REPLICAS
        ),
        60,
        message="stable all ready on 1.0.0 again",
    )
    started = [m for _, r, m in events(cluster, namespace, name) if r == "RolloutStarted"]
    assert started == ["canary 2.0.0 at 20% (stable 1.0.0)"], started
    # The canary is not ready: it holds step 1 (until its progress deadline), not an error.
    holds(cluster, namespace, name, 2, currentStep=0, canaryWeight=20, phase="Progressing")


def test_replicas_changed(cluster: Cluster, namespace: str, no_error_loop: None) -> None:
    name = "grown"
    before = start_canary(cluster, namespace, name)
    edit(cluster, namespace, name, replicas=8)
    wait_until(
        lambda: (
            track_replicas(cluster, namespace, name)
            == {"stable": 8, "canary": canary_replicas(40, base=8)}
        ),
        30,
        message="stable 8, canary 40% of 8",
    )
    current = observed(cluster, namespace, name)
    assert (current["currentStep"], current["canaryWeight"]) == (1, 40), current
    assert current["stepHash"] == before["stepHash"], current
    assert current["stepStartedAt"] == before["stepStartedAt"], current
    wait_until(
        lambda: status(cluster, namespace, name).get("ready") == "8/8",
        60,
        message="8/8 stable replicas ready",
    )
    assert "StepsChanged" not in reasons(cluster, namespace, name)


def test_autoscaling_added(cluster: Cluster, namespace: str, no_error_loop: None) -> None:
    """The HPA takes stable's replicas over from the spec without stable ever scaling below
    what it ran (a field dropped from a server-side apply would reset it to 1)."""
    name = "elastic"
    before = start_canary(cluster, namespace, name)
    autoscaling = {"minReplicas": 6, "maxReplicas": 10, "targetCPUUtilizationPercentage": 70}
    with watching_stable(cluster, namespace, name) as readings:
        edit(cluster, namespace, name, autoscaling=autoscaling)
        hpa = wait_until(
            lambda: (
                exists(cluster, namespace, "hpa", name)
                and cluster.get("hpa", "-n", namespace, name)
            ),
            30,
            message="HorizontalPodAutoscaler created",
        )
        # The canary follows the weight of minReplicas; the HPA scales stable to minReplicas.
        wait_until(
            lambda: (
                track_replicas(cluster, namespace, name)
                == {"stable": 6, "canary": canary_replicas(40, base=6)}
            ),
            60,
            message="stable 6 (the HPA), canary 40% of 6",
        )
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (6, 10), hpa
    stable_name = deployments(cluster, namespace, name)["stable"]["metadata"]["name"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == stable_name, hpa
    ready = [count for count, _ in readings]
    assert ready and min(ready) >= REPLICAS, f"stable scaled down on the way: {ready}"
    current = observed(cluster, namespace, name)
    assert (current["currentStep"], current["canaryWeight"]) == (1, 40), current
    assert current["stepHash"] == before["stepHash"], current
    assert current["phase"] == "Progressing", current
    assert "StepsChanged" not in reasons(cluster, namespace, name)


def test_autoscaling_added_within_the_replicas_then_promoted(
    cluster: Cluster, namespace: str, no_error_loop: None
) -> None:
    """minReplicas below the replicas stable runs: the HPA (no metrics here) writes nothing.
    The promotion then applies stable without replicas, and stable must keep its 4 (it used
    to drop to 1 until the HPA raised it to minReplicas)."""
    name = "promoted"
    before = start_canary(cluster, namespace, name)
    autoscaling = {"minReplicas": 2, "maxReplicas": 10, "targetCPUUtilizationPercentage": 70}
    edit(cluster, namespace, name, autoscaling=autoscaling)
    wait_until(
        lambda: (
            exists(cluster, namespace, "hpa", name)
            and track_replicas(cluster, namespace, name)
            == {"stable": REPLICAS, "canary": canary_replicas(40, base=2)}
        ),
        30,
        message="HPA created, canary 40% of minReplicas",
    )
    current = observed(cluster, namespace, name)
    assert (current["currentStep"], current["stepHash"]) == (1, before["stepHash"]), current
    with watching_stable(cluster, namespace, name) as readings:
        modelops_cli(cluster, "promote", name, "-n", namespace)
        wait_stable_alone(cluster, namespace, name, "2.0.0")
        time.sleep(6)  # past the HPA's sync period (5 s): a drop would show by now
    ready = [count for count, _ in readings]
    assert ready and min(ready) >= REPLICAS, f"stable scaled down on the way: {ready}"
    assert track_replicas(cluster, namespace, name) == {"stable": REPLICAS}
    assert image(deployments(cluster, namespace, name)["stable"]) == image_of("2.0.0")


# --- paused, then deleted -------------------------------------------------------------------


def children(cluster: Cluster, namespace: str, name: str) -> list[str]:
    found = cluster.kubectl(
        "get",
        "deployments,replicasets,pods,services,poddisruptionbudgets,hpa",
        "-n",
        namespace,
        "-l",
        f"{LABEL_INSTANCE}={name}",
        "-o",
        "name",
    )
    return found.stdout.split()


def test_paused_then_resumed_then_deleted(
    cluster: Cluster, namespace: str, operator: OperatorProcess, no_error_loop: None
) -> None:
    name = "held"
    steps = [{"weight": 20, "pause": "1s"}, {"weight": 40, "pause": "6s"}, {"weight": 60}]
    before = start_canary(cluster, namespace, name, steps)
    edit(cluster, namespace, name, paused=True)
    paused = wait_until(
        lambda: (
            (s := status(cluster, namespace, name)).get("observedGeneration")
            == generation(cluster, namespace, name)
            and s
        ),
        15,
        message="paused observed",
    )
    assert (paused["currentStep"], paused["canaryWeight"]) == (1, 40), paused
    assert "paused" in paused["message"], paused
    progressing = conditions(paused)["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("True", "Paused"), progressing
    # Held past the step's 6 s pause.
    holds(cluster, namespace, name, 8, currentStep=1, canaryWeight=40)
    assert track_replicas(cluster, namespace, name)["canary"] == canary_replicas(40)
    # Resumed: the time held counted toward the pause, so the canary moves on at once.
    edit(cluster, namespace, name, paused=False)
    moved = wait_until(
        lambda: (s := status(cluster, namespace, name)).get("currentStep") == 2 and s,
        10,
        message="step 3 right after resuming",
    )
    assert moved["canaryWeight"] == 60 and moved["stepHash"] == before["stepHash"], moved
    # Paused again, then deleted: the children go by garbage collection.
    edit(cluster, namespace, name, paused=True)
    observed(cluster, namespace, name)
    assert children(cluster, namespace, name)
    cluster.kubectl("delete", "msvc", "-n", namespace, name, "--wait=true", timeout=60)
    wait_until(
        lambda: not children(cluster, namespace, name),
        60,
        message="children deleted by garbage collection",
    )
    # Gone for the operator too: it forgets the service (no timer, no gauge left behind).
    series = f'modelops_canary_weight_percent{{name="{name}",namespace="{namespace}"}}'
    wait_until(
        lambda: series not in operator.metrics(),
        15,
        message="the operator forgot the deleted service",
    )
    time.sleep(2)  # a timer still armed for the service would fire in here


# --- a query Prometheus refuses ---------------------------------------------------------------

BAD_QUERY = "sum(rate(http_requests_total[5m])"
PARSE_ERROR = "1:34: parse error: unclosed left parenthesis"


@contextmanager
def refusing_prometheus() -> Iterator[tuple[str, list[str]]]:
    """A stand-in Prometheus on 127.0.0.1 that answers every query as Prometheus answers bad
    PromQL: HTTP 400, ``bad_data``; yields its URL and the queries it was asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/api/v1/query":
                self.send_error(404)
                return
            asked.extend(parse_qs(parts.query).get("query", []))
            body = json.dumps({"status": "error", "errorType": "bad_data", "error": PARSE_ERROR})
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_query_prometheus_refuses_is_an_analysis_error(
    cluster: Cluster, namespace: str, no_error_loop: None
) -> None:
    name = "badquery"
    with refusing_prometheus() as (address, asked):
        metric = {
            "name": "errors",
            "max": 0.05,
            "prometheus": {"address": address, "query": BAD_QUERY},
        }
        analysis = {"interval": "2s", "inconclusive": "Pause", "metrics": [metric]}
        steps = [{"weight": 25, "pause": "1s"}, {"weight": 50}]
        rollout = {"analysis": analysis}
        cluster.apply(canary_service(name, "1.0.0", steps, rollout=rollout), namespace)
        wait_phase(cluster, namespace, name, "Stable", 60)
        cluster.apply(canary_service(name, "2.0.0", steps, rollout=rollout), namespace)
        current = wait_until(
            lambda: (
                (s := status(cluster, namespace, name)).get("analysis", {}).get("results") and s
            ),
            30,
            message="an analysis run",
        )
        assert BAD_QUERY in asked, asked
        condition = conditions(current)["Progressing"]
        assert (condition["status"], condition["reason"]) == ("True", "AnalysisError"), condition
        assert BAD_QUERY in condition["message"] and PARSE_ERROR in condition["message"], condition
        result = current["analysis"]["results"][0]
        assert result.get("ok") is None and result.get("error") is True, result
        warnings = wait_until(
            lambda: [
                m
                for t, r, m in events(cluster, namespace, name)
                if (t, r) == ("Warning", "AnalysisError")
            ],
            15,
            message="a Warning Event AnalysisError",
        )
        assert any(BAD_QUERY in m and PARSE_ERROR in m for m in warnings), warnings
        # Paused on it (inconclusive: Pause), past the step's pause and several runs.
        runs = len(asked)
        held = holds(
            cluster, namespace, name, 5, currentStep=0, canaryWeight=25, phase="Progressing"
        )
        assert len(asked) > runs, "no further analysis runs"
        assert conditions(held)["Progressing"]["reason"] == "AnalysisError", held
        assert held["stableVersion"] == "1.0.0", held


def test_a_query_prometheus_refuses_counts_as_a_failure_under_fail(
    cluster: Cluster, namespace: str, no_error_loop: None
) -> None:
    """inconclusive: Fail: each refused run counts toward failureLimit, then the rollback
    names the query and Prometheus' words."""
    name = "badquery-fail"
    with refusing_prometheus() as (address, asked):
        metric = {
            "name": "errors",
            "max": 0.05,
            "prometheus": {"address": address, "query": BAD_QUERY},
        }
        analysis = {
            "interval": "1s",
            "inconclusive": "Fail",
            "failureLimit": 2,
            "metrics": [metric],
        }
        steps = [{"weight": 25, "pause": "10m"}]
        rollout = {"analysis": analysis}
        cluster.apply(canary_service(name, "1.0.0", steps, rollout=rollout), namespace)
        wait_phase(cluster, namespace, name, "Stable", 60)
        cluster.apply(canary_service(name, "2.0.0", steps, rollout=rollout), namespace)
        wait_phase(cluster, namespace, name, "RolledBack", 30)
    assert asked.count(BAD_QUERY) >= 2, asked
    current = status(cluster, namespace, name)
    assert "analysis failed 2 times" in current["message"], current
    assert BAD_QUERY in current["message"] and PARSE_ERROR in current["message"], current
    assert current["stableVersion"] == "1.0.0", current
    found = events(cluster, namespace, name)
    assert any((t, r) == ("Warning", "AnalysisError") for t, r, _ in found), found
    assert ("Warning", "RolledBack") in {(t, r) for t, r, _ in found}, found
    wait_until(
        lambda: set(deployments(cluster, namespace, name)) == {"stable"},
        15,
        message="canary removed",
    )
