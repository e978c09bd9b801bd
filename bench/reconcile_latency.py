"""Create -> Ready latency of single ModelServices, and the operator's writes at rest.

Measures, on the local control plane (or KUBECONFIG's cluster), with the real operator:
- for each of N ModelServices created one after another: the time from `kubectl apply` returning
  to `status.phase == Stable` with condition Ready True (polled every 20 ms); this includes the
  Deployment controller, the scheduler and KWOK making pods Ready, so it is an upper bound of
  the operator's own share;
- the baseline in the same run: the time from applying a plain Deployment with the same pods to
  its readyReplicas reaching the desired count, polled the same way;
- the writes the operator makes in 30 s of rest afterwards (its modelops_api_writes_total).

Prints a table and writes bench/results/reconcile_latency.json. No assertions: numbers only.
  PYTHONPATH=. .venv/bin/python bench/reconcile_latency.py --count 10
"""

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from tests.support.cluster import Cluster, acquire, release
from tests.support.operator import OperatorProcess, install_crd, metric_total
from tests.support.samples import model_service

RESULTS = Path(__file__).parent / "results"


def poll(condition: Any, timeout: float = 60.0, interval: float = 0.02) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if condition():
            return time.perf_counter() - start
        time.sleep(interval)
    raise TimeoutError("not ready in time")


def ready(cluster: Cluster, namespace: str, name: str) -> bool:
    status = cluster.get("msvc", "-n", namespace, name).get("status", {})
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return status.get("phase") == "Stable" and conditions.get("Ready") == "True"


def deployment_ready(cluster: Cluster, namespace: str, name: str, replicas: int) -> bool:
    status = cluster.get("deployment", "-n", namespace, name).get("status", {})
    return int(status.get("readyReplicas", 0)) >= replicas


def plain_deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "model", "image": "registry.invalid/demo:1"}]},
            },
        },
    }


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--rest", type=float, default=30.0)
    args = parser.parse_args()
    cluster = acquire()
    install_crd(cluster)
    operator = OperatorProcess(cluster)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    try:
        operator_times, baseline_times = [], []
        for index in range(args.count):
            name = f"m{index}"
            cluster.apply(model_service(name), namespace)
            operator_times.append(poll(lambda n=name: ready(cluster, namespace, n)))
            plain = f"plain{index}"
            cluster.apply(plain_deployment(plain), namespace)
            baseline_times.append(poll(lambda p=plain: deployment_ready(cluster, namespace, p, 2)))
        time.sleep(5)
        before = metric_total(operator.metrics(), "modelops_api_writes_total")
        time.sleep(args.rest)
        writes_at_rest = metric_total(operator.metrics(), "modelops_api_writes_total") - before
    finally:
        operator.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        release(cluster)
    result = {
        "count": args.count,
        "create_to_ready_seconds": summary(operator_times),
        "baseline_deployment_ready_seconds": summary(baseline_times),
        "ratio_p50": statistics.median(operator_times) / statistics.median(baseline_times),
        "writes_at_rest": writes_at_rest,
        "rest_seconds": args.rest,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "reconcile_latency.json").write_text(json.dumps(result, indent=2))
    op, base = result["create_to_ready_seconds"], result["baseline_deployment_ready_seconds"]
    print(f"{'measure':<42}{'p50':>8}{'min':>8}{'max':>8}")
    label = "ModelService create -> Ready (s)"
    print(f"{label:<42}{op['p50']:>8.3f}{op['min']:>8.3f}{op['max']:>8.3f}")
    print(
        f"{'plain Deployment create -> ready (s)':<42}{base['p50']:>8.3f}{base['min']:>8.3f}"
        f"{base['max']:>8.3f}"
    )
    print(f"ratio of medians: {result['ratio_p50']:.2f}")
    print(f"operator writes in {args.rest:.0f} s at rest: {writes_at_rest:.0f}")


if __name__ == "__main__":
    main()
