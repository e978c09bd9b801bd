"""How fast a canary whose real pods crash-loop is rolled back, on the local cluster's real node.

Every run rolls out v1 of the demo model (examples/demo-model, image
``localhost/modelops-demo-model:dev``) on the real node, 2 replicas behind the gateway sidecar,
then v2 with ``CRASH_ON_START=1``: its container exits at once, and the kubelet puts the pod in
its real CrashLoopBackOff. The canary is one step at 50 % with a pause only a failure can end.

t_fail is when a watch on v2's pods (opened before v2 is applied) first delivers one in
CrashLoopBackOff; t_stable the first poll (every 50 ms) where the ModelService reports
``RolledBack`` and no v2 pod is Ready and not terminating. Reported: t_stable - t_fail.

Baseline, same run, same operator: the same scenario on KWOK, whose simulated pods report
CrashLoopBackOff without running anything (bench/rollback.py's crash-loop scenario). The ratio
real / simulated shows what real pods add to the operator's part of a rollback.

  PYTHONPATH=. .venv/bin/python bench/real_crashloop.py [--runs 5] [--quick]
Needs the real node (make cluster-up; REAL_NODES=1 is the default). Writes
bench/results/real_crashloop.json. Numbers only, no verdict.
"""

import argparse
import json
import statistics
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.rollback import TIMEOUT, Bench, machine  # noqa: E402
from bench.rollback_contenders import V2, Analysis, Api, Modelops  # noqa: E402
from bench.rollback_report import scenario, table  # noqa: E402
from tests.support.cluster import acquire, release  # noqa: E402
from tests.support.operator import OperatorProcess, install_crd  # noqa: E402

RESULTS = REPO / "bench" / "results"
DEMO_IMAGE = "localhost/modelops-demo-model:dev"
REAL_NODE = {
    "nodeSelector": {"modelops.dev/real-node": "true"},
    "tolerations": [
        {"key": "modelops.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}
    ],
}


class RealNodeModelops(Modelops):
    """The demo model on the real node; ``crash`` makes v2's container exit at start."""

    def __init__(self, cluster: Any, api: Api) -> None:
        super().__init__(cluster, api)
        self.label, self.prefix = "modelops, real pods", "real"

    def manifest(
        self, name: str, version: str, analysis: Analysis | None, crash: bool
    ) -> dict[str, Any]:
        body = super().manifest(name, version, analysis, crash=False)
        spec = body["spec"]
        spec["replicas"] = 2
        spec["rollout"]["steps"] = [{"weight": 50, "pause": "1h"}]
        env = [{"name": "MODEL_VERSION", "value": version}]
        if crash:
            env.append({"name": "CRASH_ON_START", "value": "1"})
        spec["model"].update(image=DEMO_IMAGE, port=8080, env=env)
        spec["podTemplate"] = REAL_NODE
        spec["probes"] = {"readiness": {"path": "/ready", "periodSeconds": 1}}
        return body


def ratio(real: dict[str, Any], simulated: dict[str, Any]) -> float | None:
    a, b = real["rollback"]["median"], simulated["rollback"]["median"]
    return None if a is None or not b else float(a / b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per scenario")
    parser.add_argument("--quick", action="store_true", help="2 runs each")
    parser.add_argument("--out", type=Path, default=RESULTS / "real_crashloop.json")
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    cluster = acquire()
    node = cluster.kubectl("get", "node", "real-node-0", check=False)
    if node.returncode != 0:
        release(cluster)
        print("no real node in this cluster (make cluster-up with REAL_NODES=1)", file=sys.stderr)
        return 1
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    operator: OperatorProcess | None = None
    try:
        install_crd(cluster)
        cluster.kubectl("create", "namespace", namespace)
        api = Api(cluster.kubeconfig, namespace)
        operator = OperatorProcess(cluster)
        print(f"operator log: {operator.log_path}")
        bench = Bench(api)
        real, simulated = RealNodeModelops(cluster, api), Modelops(cluster, api)
        rows: dict[str, list[dict[str, Any]]] = {real.label: [], simulated.label: []}
        for run in range(runs):
            for contender in (real, simulated):
                rows[contender.label].append(bench.crash_loop(contender, run, 2 * TIMEOUT))
    finally:
        if operator is not None:
            operator.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        release(cluster)
    for label, measured in rows.items():
        table(
            f"crash-loop canary ({V2}), {label}: CrashLoopBackOff seen -> 100 % on stable", measured
        )
    summaries = {label: scenario(measured) for label, measured in rows.items()}
    real_over_simulated = ratio(summaries[real.label], summaries[simulated.label])
    medians = [r["rollback"] for r in rows[real.label] if r.get("rollback") is not None]
    print(
        f"\nreal pods: median {statistics.median(medians):.2f} s over {len(medians)} runs; "
        f"real / simulated = {real_over_simulated and f'{real_over_simulated:.2f}'}"
        if medians
        else "\nreal pods: no run measured"
    )
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "runs": runs,
        "definitions": {
            "t_fail": "first pod of v2 in CrashLoopBackOff delivered by a watch",
            "t_stable": "first poll with RolledBack and no v2 pod Ready and not terminating",
            "rollback": "t_stable - t_fail, seconds",
        },
        "scenarios": summaries,
        "real_over_simulated": real_over_simulated,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0 if medians else 1


if __name__ == "__main__":
    sys.exit(main())
