"""How the operator scales: N ModelServices created at once, against a plain-loop floor.

For each N (100, 1,000, 5,000; 10,000 with --big), on the local control plane (or
KUBECONFIG's; the request counts need the local one's audit log), with the real operator
(``modelops run --standalone``, a fresh process per N, running as the ServiceAccount
``modelops-bench`` bound to the operator's own ClusterRole):

- N ModelServices (autoscaling minReplicas 1, a rate limit with a tier: every child kind) are
  created at once by 16 client threads in a fresh namespace. A watch on them records when each
  first reports condition Ready True; create -> Ready per object runs from its create call
  returning to that watch event. Converge time runs from the first create to the last Ready.
- the operator's peak RSS (VmHWM) and CPU seconds (/proc), during convergence and at rest;
- the operator's API requests by verb (the API server's audit log, which records every request
  of ``modelops-bench``: the watch cache's lists and watches as well as the reconcile's
  reads and writes, and kopf's own if it made any), during convergence and during a
  steady-state window afterwards;
- where the machine's CPU went while converging: how busy all CPUs were (/proc/stat), and the
  CPU seconds of each control-plane component (their pids in .cluster/pids) and the operator;
- the floor, in the same run: the same children (rendered by the same code, without owner)
  server-side applied by one plain loop with the Python client in another namespace, then
  waited for until every Deployment is ready. Reported: operator converge time / floor time.

The cluster must have no real node (REAL_NODES=0): its kube-proxy would program iptables rules
for every Service the bench creates, CPU the figures would then include.

Between sizes the operator is stopped and both namespaces are deleted (and waited for), so
each N starts from an empty cluster. Everything shares one 2-core machine with the control
plane (and whatever else runs on it): the numbers are noisy, ratios within a run are the
useful part.

Prints a table, writes bench/results/reconcile.json and reconcile.png.
  PYTHONPATH=. .venv/bin/python bench/reconcile.py [--quick | --big] [--sizes 100,1000]
"""

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.audit import (  # noqa: E402
    AuditTail,
    by_agent_verb_resource,
    by_verb,
    in_namespace,
    writes,
)
from bench.procstat import CpuWindow, Sampler, cpu_seconds  # noqa: E402
from tests.cluster.test_rbac import token_kubeconfig  # noqa: E402
from tests.support.cluster import Cluster, acquire, release  # noqa: E402

REAL_NODE_LABEL = "modelops.dev/real-node=true"
from tests.support.operator import OperatorProcess, install_crd  # noqa: E402
from tests.support.samples import model_service  # noqa: E402

from modelops.api import KIND, ModelService  # noqa: E402
from modelops.kube.client import Kube  # noqa: E402
from modelops.render import RenderContext, desired_children  # noqa: E402

RESULTS = REPO / "bench" / "results"
SYSTEM = "modelops-system"
ACCOUNT = "modelops-bench"
USER = f"system:serviceaccount:{SYSTEM}:{ACCOUNT}"
CREATE_THREADS = 16


def bench_service(name: str) -> dict[str, Any]:
    return model_service(
        name,
        replicas=None,
        autoscaling={"minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 70},
        rateLimit={
            "requestsPerMinute": 600,
            "tokensPerMinute": 200000,
            "tiers": [{"name": "free", "requestsPerMinute": 60, "tokensPerMinute": 10000}],
            "defaultTier": "free",
            # Autoscaled above one replica: the counts are shared in Redis, or admission
            # refuses the spec (KWOK's pods never connect to it).
            "redis": {"address": "redis://redis:6379/0"},
        },
    )


def without_none(body: dict[str, Any]) -> dict[str, Any]:
    body["spec"] = {k: v for k, v in body["spec"].items() if v is not None}
    return body


class FirstTimes:
    """Watches one kind in a namespace and records when each object first satisfies
    ``done`` (epoch seconds, as the event reaches this process)."""

    def __init__(
        self, kube: Kube, kind: str, namespace: str, done: Callable[[Any], bool], prefix: str = ""
    ):
        self.times: dict[str, float] = {}
        self._prefix = prefix
        self._kube, self._kind, self._namespace, self._done = kube, kind, namespace, done
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        version = ""
        while not self._stop.is_set():
            try:
                for event in self._kube.watch(self._kind, self._namespace, {}, version, 30):
                    body = event["object"]
                    if event["type"] == "ERROR":
                        version = ""  # 410 Gone: start over (ADDED events for what exists)
                        break
                    version = body["metadata"].get("resourceVersion", version)
                    name = body["metadata"].get("name")
                    if event["type"] == "BOOKMARK" or name in self.times:
                        continue
                    if not name.startswith(self._prefix):
                        continue
                    if self._done(body):
                        with self._changed:
                            self.times[name] = time.time()
                            self._changed.notify_all()
            except Exception as error:
                print(f"watch {self._kind}: {error!r}; again", file=sys.stderr)
                time.sleep(1)

    def wait(self, count: int, timeout: float) -> bool:
        deadline = time.time() + timeout
        with self._changed:
            while len(self.times) < count:
                left = deadline - time.time()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 1.0))
        return True

    def stop(self) -> None:
        self._stop.set()


def service_ready(body: dict[str, Any]) -> bool:
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def deployment_ready(body: dict[str, Any]) -> bool:
    wanted = body.get("spec", {}).get("replicas", 1)
    status = body.get("status") or {}
    return status.get("observedGeneration", 0) >= body["metadata"].get("generation", 1) and int(
        status.get("readyReplicas", 0)
    ) >= max(wanted, 1)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else []

    def at(p: int) -> float:
        return cuts[p - 1] if cuts else values[0]

    return {
        "p50": at(50),
        "p90": at(90),
        "p99": at(99),
        "max": max(values),
        "min": min(values),
    }


class Bench:
    def __init__(self, cluster: Cluster, workdir: Path) -> None:
        self.cluster = cluster
        api = config.new_client_from_config(config_file=cluster.kubeconfig)
        api.configuration.connection_pool_maxsize = CREATE_THREADS + 8
        api.rest_client.pool_manager.connection_pool_kw["maxsize"] = CREATE_THREADS + 8
        self.kube = Kube(api)
        install_crd(cluster)
        self._install_identity()
        self.operator_kubeconfig = token_kubeconfig(cluster, workdir, ACCOUNT)
        audit = Path(cluster.kubeconfig).parent / "audit.log"
        self.pid_dir = Path(cluster.kubeconfig).parent / "pids"
        self.audit = AuditTail(audit, USER) if audit.exists() else None
        if self.audit is None:
            print(f"no audit log at {audit}: request counts are left out", file=sys.stderr)

    def _install_identity(self) -> None:
        """The operator's ClusterRole (manifests/base/rbac.yaml) bound to ``modelops-bench``."""
        self.cluster.kubectl("apply", "-f", str(REPO / "manifests" / "base" / "namespace.yaml"))
        self.cluster.kubectl("apply", "-f", str(REPO / "manifests" / "base" / "rbac.yaml"))
        self.cluster.kubectl("create", "serviceaccount", ACCOUNT, "-n", SYSTEM, check=False)
        self.cluster.kubectl(
            "create",
            "clusterrolebinding",
            ACCOUNT,
            "--clusterrole=modelops",
            f"--serviceaccount={SYSTEM}:{ACCOUNT}",
            check=False,
        )

    def _namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.cluster.kubectl("create", "namespace", name)
        return name

    def _probe(self, namespace: str, count: int) -> list[float]:
        """create -> Ready of ``count`` more ModelServices, one at a time, with the N present."""
        ready = FirstTimes(self.kube, KIND, namespace, service_ready, prefix="probe")
        latencies = []
        for index in range(count):
            body = without_none(bench_service(f"probe{index:03d}"))
            body["metadata"]["namespace"] = namespace
            self.kube.create(body)
            created = time.time()
            if not ready.wait(index + 1, 60):
                break
            latencies.append(ready.times[body["metadata"]["name"]] - created)
        ready.stop()
        return latencies

    def run_operator(self, n: int, steady: float, timeout: float, probes: int) -> dict[str, Any]:
        namespace = self._namespace(f"rb{n}")
        operator = OperatorProcess(self.cluster, kubeconfig=self.operator_kubeconfig)
        pid = operator.process.pid
        sampler = Sampler(pid)
        try:
            time.sleep(3)  # kopf's start-up (watches, scanning) is not convergence
            idle_rss = sampler.sample()[1]
            cpu_start = cpu_seconds(pid)
            ready = FirstTimes(self.kube, KIND, namespace, service_ready)
            created: dict[str, float] = {}
            window = CpuWindow(self.pid_dir, pid)
            started = time.time()

            def create(index: int) -> None:
                body = without_none(bench_service(f"m{index:05d}"))
                body["metadata"]["namespace"] = namespace
                self.kube.create(body)
                created[body["metadata"]["name"]] = time.time()

            with ThreadPoolExecutor(CREATE_THREADS) as pool:
                list(pool.map(create, range(n)))
            created_all = time.time()
            converged = ready.wait(n, timeout)
            finished = max(ready.times.values()) if ready.times else time.time()
            cpu_converged = cpu_seconds(pid)
            machine_converge = window.stop()
            rss_converged = sampler.sample()[1]
            ready.stop()
            time.sleep(5)  # HPA and KWOK settle; the operator's last wakes drain
            steady_start = time.time()
            cpu_steady_start = cpu_seconds(pid)
            time.sleep(steady)
            steady_end = time.time()
            cpu_steady = cpu_seconds(pid) - cpu_steady_start
            one_by_one = self._probe(namespace, probes)
            peak = sampler.peak_rss_mb()
        finally:
            sampler.stop()
            operator.stop()
        latencies = [ready.times[name] - created[name] for name in ready.times if name in created]
        result: dict[str, Any] = {
            "n": n,
            "namespace": namespace,
            "converged": converged,
            "ready": len(ready.times),
            "create_seconds": created_all - started,
            "converge_seconds": finished - started,
            "create_to_ready_seconds": percentiles(latencies),
            "one_more_create_to_ready_seconds": percentiles(one_by_one),
            "operator_cpu_seconds_converge": cpu_converged - cpu_start,
            "operator_cpu_seconds_steady": cpu_steady,
            "machine_converge": machine_converge,
            "operator_rss_mb_idle": idle_rss,
            "operator_rss_mb_converged": rss_converged,
            "operator_rss_mb_peak": peak,
            "rss_series": [(round(t, 1), round(r, 1)) for t, r, _ in sampler.series],
            "steady_seconds": steady,
            "operator_log": str(operator.log_path),
        }
        if self.audit is not None:
            result.update(
                self._requests(namespace, n, (started, finished), (steady_start, steady_end))
            )
        return result

    def _requests(
        self,
        namespace: str,
        n: int,
        converging: tuple[float, float],
        resting: tuple[float, float],
    ) -> dict[str, Any]:
        """The operator's requests from the audit log, while converging and at rest."""
        assert self.audit is not None
        self.audit.flush()
        converge, elsewhere = in_namespace(self.audit.between(*converging), namespace)
        rest, _ = in_namespace(self.audit.between(*resting), namespace)
        # Requests about the services (in their namespace), against the process' own fixed
        # cost (watches across namespaces, re-opened every few minutes whatever N).
        about = sum(1 for r in converge if r.namespace == namespace)
        return {
            "requests_other_namespaces": elsewhere,
            "requests_per_service": about / n,
            "requests_fixed": len(converge) - about,
            "requests_converge": by_verb(converge),
            "requests_converge_detail": by_agent_verb_resource(converge),
            "requests_steady": by_verb(rest),
            "requests_steady_detail": by_agent_verb_resource(rest),
            "writes_steady": writes(rest),
        }

    def run_floor(self, n: int, timeout: float) -> dict[str, Any]:
        """The children of N services, applied one by one with no operator running."""
        namespace = self._namespace(f"fl{n}")
        manifests = []
        for index in range(n):
            body = without_none(bench_service(f"m{index:05d}"))
            body["metadata"].update(namespace=namespace, uid="floor")
            for child in desired_children(RenderContext.steady(ModelService.model_validate(body))):
                child["metadata"].pop("ownerReferences", None)  # no owner: the GC would delete
                manifests.append(child)
        deployments = sum(1 for m in manifests if m["kind"] == "Deployment")
        ready = FirstTimes(self.kube, "Deployment", namespace, deployment_ready)
        window = CpuWindow(self.pid_dir)
        started = time.time()
        for manifest in manifests:
            self.kube.apply(manifest)
        applied = time.time()
        converged = ready.wait(deployments, timeout)
        finished = max(ready.times.values()) if ready.times else time.time()
        machine = window.stop()
        ready.stop()
        return {
            "namespace": namespace,
            "machine_converge": machine,
            "objects": len(manifests),
            "converged": converged,
            "apply_seconds": applied - started,
            "converge_seconds": finished - started,
        }

    def delete_namespaces(self, *names: str, timeout: float) -> None:
        for name in names:
            self.cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
        if timeout <= 0:
            return  # the last size: nothing follows that needs an empty cluster
        deadline = time.time() + timeout
        for name in names:
            while time.time() < deadline:
                found = self.cluster.kubectl("get", "namespace", name, check=False)
                if found.returncode != 0:
                    break
                time.sleep(2)
            else:
                print(f"namespace {name} still terminating after {timeout:.0f} s", file=sys.stderr)


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'N':>6} {'Ready':>6} {'converge s':>10} {'floor s':>8} {'ratio':>6} "
        f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'+1 p50':>7} {'peak MB':>8} {'CPU s':>7} "
        f"{'reqs':>7} {'writes':>7} {'rest reqs':>9} {'rest writes':>11}"
    )
    print(head)
    for row in rows:
        latency = row["create_to_ready_seconds"]
        converge = row.get("requests_converge", {})
        rest = row.get("requests_steady", {})
        total_writes = sum(v for k, v in converge.items() if k not in ("get", "list", "watch"))
        print(
            f"{row['n']:>6} {row['ready']:>6} {row['converge_seconds']:>10.1f} "
            f"{row['floor']['converge_seconds']:>8.1f} {row['ratio_to_floor']:>6.2f} "
            f"{latency.get('p50', 0) * 1000:>7.0f} {latency.get('p90', 0) * 1000:>7.0f} "
            f"{latency.get('p99', 0) * 1000:>7.0f} "
            f"{row['one_more_create_to_ready_seconds'].get('p50', 0) * 1000:>7.0f} "
            f"{row['operator_rss_mb_peak']:>8.0f} "
            f"{row['operator_cpu_seconds_converge']:>7.1f} {sum(converge.values()):>7} "
            f"{total_writes:>7} {sum(rest.values()):>9} {row.get('writes_steady', '-'):>11}"
        )
    for row in rows:
        for who, part in (("operator", row), ("floor", row["floor"])):
            machine = part.get("machine_converge")
            if machine:
                print(
                    f"N={row['n']}: while the {who} converged, all CPUs were "
                    f"{machine['busy_fraction']:.0%} busy; CPU seconds {machine['cpu_seconds']}"
                )
        print(f"N={row['n']}: requests while converging {row.get('requests_converge')}")
        if "requests_per_service" in row:
            print(
                f"N={row['n']}: {row['requests_per_service']:.3f} requests per ModelService "
                f"(in its namespace), {row['requests_fixed']} across namespaces (watches), "
                f"{row['requests_other_namespaces']} about other namespaces (not counted)"
            )
        print(
            f"N={row['n']}: requests in {row['steady_seconds']:.0f} s at rest "
            f"{row.get('requests_steady')}"
        )


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - optional: the `bench` extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sizes = [row["n"] for row in rows]
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    ax = axes[0][0]
    ax.plot(sizes, [r["converge_seconds"] for r in rows], "o-", label="operator")
    for row in rows:
        if not row["converged"]:  # timed out: the time is a lower bound
            ax.annotate(
                f"{row['ready']}/{row['n']} Ready at timeout",
                (row["n"], row["converge_seconds"]),
                textcoords="offset points",
                xytext=(-6, -12),
                ha="right",
                fontsize=8,
            )
    ax.plot(
        sizes, [r["floor"]["converge_seconds"] for r in rows], "s--", label="floor (plain loop)"
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="ModelServices",
        ylabel="seconds to all Ready",
        title="Converge time",
    )
    ax.legend()
    ax = axes[0][1]
    for key in ("p50", "p90", "p99"):
        ax.plot(sizes, [r["create_to_ready_seconds"].get(key, 0) for r in rows], "o-", label=key)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="ModelServices",
        ylabel="seconds",
        title="create -> Ready per object",
    )
    ax.legend()
    ax = axes[1][0]
    ax.plot(sizes, [r["operator_rss_mb_peak"] for r in rows], "o-", label="peak RSS (MB)")
    ax.plot(
        sizes, [r["operator_cpu_seconds_converge"] for r in rows], "s-", label="CPU s to converge"
    )
    ax.set(xscale="log", yscale="log", xlabel="ModelServices", title="Operator cost")
    ax.legend()
    ax = axes[1][1]
    for row in rows:
        series = row["rss_series"]
        ax.plot([t for t, _ in series], [r for _, r in series], label=f"N={row['n']}")
    ax.set(xlabel="seconds since operator start", ylabel="RSS (MB)", title="Operator RSS")
    ax.legend()
    figure.suptitle(f"modelops reconcile scale ({platform.node()}, {_cpus()} CPUs, shared)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _cpus() -> int:
    import os  # noqa: PLC0415

    return os.cpu_count() or 0


def save(rows: list[dict[str, Any]], out: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    report = {
        "machine": {"host": platform.node(), "cpus": _cpus(), "python": platform.python_version()},
        "sizes": rows,
    }
    (RESULTS / f"{out}.json").write_text(json.dumps(report, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="N = 100, 1000; 30 s at rest")
    parser.add_argument("--big", action="store_true", help="also N = 10,000")
    parser.add_argument("--sizes", help="comma-separated N (overrides --quick/--big)")
    parser.add_argument("--steady", type=float, help="seconds at rest (300; 30 with --quick)")
    parser.add_argument(
        "--probes",
        type=int,
        default=10,
        help="ModelServices created one at a time after the N (latency)",
    )
    parser.add_argument("--out", default="reconcile", help="bench/results/OUT.json and .png")
    parser.add_argument("--no-floor", action="store_true", help="skip the plain-loop floor")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds to wait for convergence per N (max(120, N x 0.2)); a loaded machine "
        "needs more, or the request counts cover only the services that got Ready",
    )
    args = parser.parse_args()
    sizes = [100, 1000] if args.quick else [100, 1000, 5000] + ([10000] if args.big else [])
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    steady = args.steady if args.steady is not None else (30.0 if args.quick else 300.0)
    cluster = acquire()
    if cluster.kubectl("get", "nodes", "-l", REAL_NODE_LABEL, "-o", "name").stdout.strip():
        release(cluster)
        print(
            "This cluster has a real node, whose kube-proxy programs iptables rules for every "
            "Service and would skew the figures: run on a cluster without one "
            "(make bench-reconcile starts it with REAL_NODES=0; make cluster-down first).",
            file=sys.stderr,
        )
        sys.exit(2)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            bench = Bench(cluster, Path(workdir))
            for n in sizes:
                timeout = args.timeout or max(120.0, n * 0.2)
                print(f"N={n}: operator ...", flush=True)
                row = bench.run_operator(n, steady, timeout, args.probes)
                print(f"N={n}: converged in {row['converge_seconds']:.1f} s; floor ...", flush=True)
                if args.no_floor:
                    row["floor"] = {"converge_seconds": float("nan")}
                else:
                    row["floor"] = bench.run_floor(n, timeout)
                row["ratio_to_floor"] = row["converge_seconds"] / row["floor"]["converge_seconds"]
                rows.append(row)
                save(rows, args.out)  # before the (slow) clean-up: a long run keeps its rows
                names = [row["namespace"]] + (
                    [row["floor"]["namespace"]] if "namespace" in row["floor"] else []
                )
                # Waited for only when another size follows: each starts from an empty cluster.
                wait = n != sizes[-1]
                bench.delete_namespaces(*names, timeout=max(300.0, n * 0.3) if wait else 0.0)
            if bench.audit is not None:
                bench.audit.stop()
    finally:
        release(cluster)
    print_table(rows)
    try:
        plot(rows, RESULTS / f"{args.out}.png")
    except ImportError:
        print("matplotlib missing (make bench-venv): no plot", file=sys.stderr)


if __name__ == "__main__":
    main()
