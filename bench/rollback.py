"""How fast a failing canary is rolled back, on the local control plane (numbers, no verdict).

Two scenarios, ``--runs`` times each, every run a fresh ModelService (4 replicas, Canary,
replica routing) whose v1 is Stable first:

- crash-loop: v2's pods carry ``modelops.dev/simulate: crash-loop`` (KWOK fails them), the step
  pauses 60 s so only the health check can end it. t_fail is when a watch on the canary's pods
  (opened before v2 is applied) first delivers one with ``state.waiting.reason ==
  CrashLoopBackOff``: a poll can miss it, since the rollback may remove the pod within one poll.
  t_stable is the first poll where the canary Deployment is gone and ``status.phase ==
  RolledBack`` (all traffic on stable). Reported: t_stable - t_fail.
- metric: v2 judged by a real Prometheus (Debian's package) answering ``vector(0.5)`` against a
  max of 0.05, ``failureLimit: 1``, ``interval: 5s``. Reported: from the first poll where the
  canary Deployment has readyReplicas == spec.replicas to the first poll with RolledBack, against
  the goal interval + 2 s.

Polls every 50 ms with the Python client (a kubectl call is slower than that), so every polled
time is late by up to one poll plus the calls' own time (about 10 ms). The operator is the real
``modelops run --standalone`` as a subprocess (tests.support.operator.OperatorProcess); the
control plane is the one in KUBECONFIG, or the local one (tests.support.cluster.acquire, same
rules as the tests). Run: ``.venv/bin/python bench/rollback.py --runs 5``; results also go to
``bench/results/rollback.json``.
"""

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.cluster.test_analysis import analysed  # noqa: E402
from tests.cluster.test_canary import canary_service  # noqa: E402
from tests.support.cluster import Cluster, acquire, release  # noqa: E402
from tests.support.operator import OperatorProcess, install_crd  # noqa: E402
from tests.support.prometheus import running_prometheus  # noqa: E402

from modelops.api import GROUP, PLURAL, VERSION  # noqa: E402
from modelops.render.meta import LABEL_INSTANCE, LABEL_TRACK  # noqa: E402

POLL = 0.05
TIMEOUT = 60.0  # per wait: a stuck run is reported as such, never a hang
INTERVAL = 5.0  # the metric scenario's analysis interval
CRASH = {"labels": {"modelops.dev/simulate": "crash-loop"}}


def crash_looping(pod: Any) -> bool:
    return any(
        status.state and status.state.waiting and status.state.waiting.reason == "CrashLoopBackOff"
        for status in (pod.status and pod.status.container_statuses) or []
    )


class Api:
    """The few reads the polls make, through one API client."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        api = config.new_client_from_config(config_file=kubeconfig)
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace

    def phase(self, name: str) -> str | None:
        body = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )
        return (body.get("status") or {}).get("phase")

    def canary(self, name: str) -> Any | None:
        try:
            return self.apps.read_namespaced_deployment(f"{name}-canary", self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def rolled_back(self, name: str) -> bool:
        return self.canary(name) is None and self.phase(name) == "RolledBack"

    def canary_ready(self, name: str) -> bool:
        found = self.canary(name)
        return found is not None and (found.status.ready_replicas or 0) == found.spec.replicas


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {TIMEOUT}s")
        time.sleep(POLL)


# When something first held (monotonic seconds), or None while it has not.
Moment = Callable[[], float | None]


def polled(condition: Callable[[], bool]) -> Moment:
    return lambda: time.monotonic() if condition() else None


def first_of(moments: dict[str, Moment]) -> dict[str, float]:
    """Polls all ``moments`` every POLL seconds until each has held once (or TIMEOUT)."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + TIMEOUT
    while len(seen) < len(moments) and time.monotonic() < deadline:
        for key, moment in moments.items():
            if key not in seen and (at := moment()) is not None:
                seen[key] = at
        time.sleep(POLL)
    return seen


class CrashWatch:
    """Watches the canary's pods from before v2 is applied: the moment one first shows
    CrashLoopBackOff, even when the rollback removes it before a poll could see it."""

    def __init__(self, api: Api, name: str) -> None:
        self.first: float | None = None
        self._watch = watch.Watch()
        self._stream = self._watch.stream(
            api.core.list_namespaced_pod,
            api.namespace,
            label_selector=f"{LABEL_INSTANCE}={name},{LABEL_TRACK}=canary",
            timeout_seconds=int(TIMEOUT),
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for event in self._stream:
            if crash_looping(event["object"]):
                self.first = time.monotonic()
                self._watch.stop()

    def close(self) -> None:
        self._watch.stop()
        self._thread.join(timeout=TIMEOUT + 5)


def timed_run(
    cluster: Cluster, api: Api, manifest: Callable[[str], dict[str, Any]], start: Moment
) -> tuple[float, dict[str, float]]:
    """v1 to Stable, then v2 applied: when v2 was applied, and when ``start`` and the
    rollback (canary Deployment gone, phase RolledBack) first held."""
    name = manifest("1.0.0")["metadata"]["name"]
    cluster.apply(manifest("1.0.0"), api.namespace)
    wait_for(f"{name} v1 Stable", lambda: api.phase(name) == "Stable")
    applied = time.monotonic()
    cluster.apply(manifest("2.0.0"), api.namespace)
    return applied, first_of({"start": start, "stable": polled(lambda: api.rolled_back(name))})


def row(run: int, start: str, applied: float, seen: dict[str, float]) -> dict[str, Any]:
    t_start, t_stable = seen.get("start"), seen.get("stable")
    return {
        "run": run,
        start: None if t_start is None else t_start - applied,
        "t_stable": None if t_stable is None else t_stable - applied,
        "rollback": None if t_start is None or t_stable is None else t_stable - t_start,
    }


def crash_loop_run(cluster: Cluster, api: Api, run: int) -> dict[str, Any]:
    name = f"crash-{run}"
    steps = [{"weight": 25, "pause": "60s"}]

    def manifest(version: str) -> dict[str, Any]:
        crash = {} if version == "1.0.0" else {"podTemplate": CRASH}
        return canary_service(name, version, steps, **crash)

    watcher = CrashWatch(api, name)
    try:
        applied, seen = timed_run(cluster, api, manifest, lambda: watcher.first)
    finally:
        watcher.close()
    return row(run, "t_fail", applied, seen)


def metric_run(cluster: Cluster, api: Api, prometheus: str, run: int) -> dict[str, Any]:
    name = f"metric-{run}"

    def manifest(version: str) -> dict[str, Any]:
        return analysed(name, version, prometheus, "vector(0.5)", failureLimit=1, interval="5s")

    applied, seen = timed_run(cluster, api, manifest, polled(lambda: api.canary_ready(name)))
    return row(run, "t_ready", applied, seen)


def summary(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    values = [row["rollback"] for row in rows if row["rollback"] is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "measured": 0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "measured": len(values),
    }


def seconds(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.2f}"


def table(title: str, start: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}\n  run  {start:>8}  t_stable  rollback (s, from the v2 apply)")
    for row in rows:
        print(
            f"  {row['run']:>3}  {seconds(row[start]):>8}  {seconds(row['t_stable']):>8}  "
            f"{seconds(row['rollback']):>8}"
        )
    stats = summary(rows)
    print(
        f"  median {seconds(stats['median'])}  min {seconds(stats['min'])}  "
        f"max {seconds(stats['max'])}  ({stats['measured']}/{len(rows)} runs measured)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "rollback.json")
    args = parser.parse_args()
    cluster = acquire()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    operator: OperatorProcess | None = None
    try:
        install_crd(cluster)
        cluster.kubectl("create", "namespace", namespace)
        operator = OperatorProcess(cluster)
        api = Api(cluster.kubeconfig, namespace)
        crash = [crash_loop_run(cluster, api, run) for run in range(args.runs)]
        with (
            tempfile.TemporaryDirectory() as workdir,
            running_prometheus({"global": {"scrape_interval": "15s"}}, Path(workdir)) as url,
        ):
            metric = [metric_run(cluster, api, url, run) for run in range(args.runs)]
    finally:
        if operator is not None:
            operator.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        release(cluster)
    table("crash-loop canary: CrashLoopBackOff seen -> RolledBack, canary gone", "t_fail", crash)
    table(
        "failing metric (interval 5s, failureLimit 1): canary ready -> RolledBack",
        "t_ready",
        metric,
    )
    median = summary(metric)["median"]
    goal = INTERVAL + 2
    verdict = "n/a" if median is None else ("met" if median <= goal else "MISSED")
    print(f"  goal: median <= interval + 2 s = {goal:.0f} s: {verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "poll_seconds": POLL,
        "runs": args.runs,
        "crash_loop": {"rows": crash, "rollback": summary(crash)},
        "metric": {
            "interval_seconds": INTERVAL,
            "goal_seconds": goal,
            "rows": metric,
            "rollback": summary(metric),
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
