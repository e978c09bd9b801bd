"""Generated ModelService documents against the real API server and a running operator.

Every document is either refused at admission with a message that names the field, or accepted
and then reconciled, or reported in status (phase Failed, a Degraded condition with the reason,
a Warning Event). The operator never crashes, never fails a reconcile with an exception (which
kopf would retry in a loop), settles once everything is reported, and never logs the Secret
value every document carries. The tally of how each class of input ended is printed
(``pytest -s``) for the notes.
"""

import itertools
import json
import os
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

from tests.support.cluster import Cluster, wait_until
from tests.support.fuzz import EVERY_MUTATION, MUTATIONS, SECRET_MARKER, Case, cases
from tests.support.msvc import status
from tests.support.operator import OperatorProcess, install_crd, metric_total, paused

pytestmark = pytest.mark.cluster

# Sized for a slow, busy 2-core CI box: one kubectl apply per example.
EXAMPLES = int(os.environ.get("MODELOPS_FUZZ_EXAMPLES", "100"))
REPORTED_REASONS = {"InvalidSpec", "ChildRejected"}
CONVERGE_SECONDS = 15


def _ended(body: dict[str, Any]) -> str | None:
    """How an accepted document ended, once the operator has looked at this generation."""
    found = body.get("status") or {}
    if found.get("observedGeneration") != body["metadata"]["generation"]:
        return None
    if not found.get("phase"):
        return None
    degraded: dict[str, Any] = next(
        (c for c in found.get("conditions", []) if c["type"] == "Degraded"), {}
    )
    if found["phase"] == "Failed" and degraded.get("reason") in REPORTED_REASONS:
        return "reported-invalid"
    return "reconciled"


def _warning_events(cluster: Cluster, namespace: str) -> dict[str, set[str]]:
    events = cluster.get("events", "-n", namespace)["items"]
    out: dict[str, set[str]] = {}
    for event in events:
        if event["type"] == "Warning":
            out.setdefault(event["involvedObject"]["name"], set()).add(event["reason"])
    return out


def test_generated_documents_are_refused_reconciled_or_reported(
    cluster: Cluster, namespace: str
) -> None:
    install_crd(cluster)
    names = (f"fz{index}" for index in itertools.count())
    accepted: dict[str, Case] = {}
    tally: Counter[tuple[str, str]] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        # Reproducible in CI; MODELOPS_FUZZ_RANDOM=1 explores new inputs.
        derandomize=os.environ.get("MODELOPS_FUZZ_RANDOM") != "1",
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        # Shrinking re-applies documents for minutes; the failing one is reported as it is.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    @given(case=cases())
    def apply_one(case: Case) -> None:
        apply_case(case)

    for explicit in EVERY_MUTATION:
        apply_one = example(case=explicit)(apply_one)

    def apply_case(case: Case) -> None:
        name = next(names)
        # Server-side: no last-applied annotation copying the (maybe huge) document. JSON, not
        # YAML: PyYAML leaves a string "n" or "y" unquoted, which the API server's YAML 1.1
        # reading takes for a boolean.
        result = cluster.apply(
            json.dumps(case.manifest(name)), namespace, check=False, server_side=True
        )
        if result.returncode != 0:
            assert case.field is not None, f"{case.kind} refused: {result.stderr[-2000:]}"
            assert case.field in result.stderr, (case.field, result.stderr[-2000:])
            tally[(case.kind, "rejected-at-admission")] += 1
            return
        assert case.field is None, f"{case.kind} accepted, but {case.field} is invalid"
        accepted[name] = case

    with paused():
        operator = OperatorProcess(cluster, "--namespace", namespace)
        try:
            apply_one()
            ended = wait_until(
                lambda: _all_ended(cluster, namespace, accepted),
                300,
                interval=2,
                message="every accepted document reconciled or reported",
            )
            wait_until(
                lambda: _reported_with_events(cluster, namespace, ended),
                60,
                interval=2,
                message="a Warning Event for every document reported invalid",
            )
            # "Ended" counts a valid document in phase Progressing: an autoscaled one's pods
            # still turning ready, each a wake. That is convergence, not a loop: let it end
            # before the window that must stay quiet.
            time.sleep(CONVERGE_SECONDS)
            settled_before = metric_total(operator.metrics(), "modelops_reconcile_total")
            time.sleep(15)
            metrics = operator.metrics()
            settled_after = metric_total(metrics, "modelops_reconcile_total")
            errors = _reconcile_errors(metrics)
            restarts = 0 if operator.process.poll() is None else 1
            log = operator.log()
        finally:
            operator.stop()
    # Clean up here, children and pods included, rather than leave a hundred ModelServices to
    # the namespace's background deletion: that load would fall on the next tests' clocks.
    cluster.kubectl(
        "delete",
        "msvc",
        "--all",
        "-n",
        namespace,
        "--cascade=foreground",
        "--timeout=240s",
        timeout=260,
    )
    for name, how in ended.items():
        tally[(accepted[name].kind, f"accepted-{how}")] += 1
    print(
        "\nbad-input tally: "
        + json.dumps(
            {
                "examples": sum(tally.values()),
                "by_class": {f"{kind} -> {how}": n for (kind, how), n in sorted(tally.items())},
                "operator_restarts": restarts,
                "reconcile_errors": errors,
                "reconciles": settled_after,
                "reconciles_while_settled_15s": settled_after - settled_before,
            },
            indent=1,
        )
    )
    assert restarts == 0, log[-3000:]
    assert errors == 0, log[-3000:]
    assert "Traceback" not in log, log[-4000:]
    assert SECRET_MARKER not in log
    # Settled: nothing left that wakes a reconcile again and again (a retry loop would).
    assert settled_after - settled_before <= len(accepted), (settled_before, settled_after)
    kinds_seen = {kind for kind, _ in tally}
    assert {kind for kind, *_ in MUTATIONS} | {"valid", "hand-written"} <= kinds_seen, tally


def _all_ended(cluster: Cluster, namespace: str, accepted: dict[str, Case]) -> dict[str, str]:
    """Every accepted document's ending (one LIST), or {} while any is still open."""
    bodies = {b["metadata"]["name"]: b for b in cluster.get("msvc", "-n", namespace)["items"]}
    ended = {name: _ended(bodies[name]) for name in accepted}
    if None in ended.values():
        return {}
    return {name: how for name, how in ended.items() if how is not None}


def _reported_with_events(cluster: Cluster, namespace: str, ended: dict[str, str]) -> bool:
    warnings = _warning_events(cluster, namespace)
    return all(
        warnings.get(name, set()) & REPORTED_REASONS
        for name, how in ended.items()
        if how == "reported-invalid"
    )


def _reconcile_errors(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('modelops_reconcile_total{result="error"}')
    )


def test_status_of_a_rejected_child_names_the_field(cluster: Cluster, namespace: str) -> None:
    """One accepted document whose Deployment the API server refuses, read in full."""
    install_crd(cluster)
    case = Case(
        "free-form-junk",
        {
            "model": {"name": "m", "version": "1.0.0", "image": "registry.invalid/m:1"},
            "podTemplate": {"tolerations": [{"operator": "Bogus", "whatever": 3}]},
        },
        None,
    )
    with paused():
        operator = OperatorProcess(cluster, "--namespace", namespace)
        try:
            cluster.apply(case.manifest("junk"), namespace)
            wait_until(
                lambda: status(cluster, namespace, "junk").get("phase") == "Failed",
                60,
                message="junk reported Failed",
            )
            found: dict[str, Any] = status(cluster, namespace, "junk")
            errors = _reconcile_errors(operator.metrics())
        finally:
            operator.stop()
    degraded = next(c for c in found["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "ChildRejected"
    assert "tolerations[0].whatever" in degraded["message"]
    assert errors == 0
