"""How fast a failing canary is rolled back: modelops against Argo Rollouts, same cluster, same run.

Every run is a fresh rollout of 4 replicas whose v1 is fully rolled out first; v2 is a canary at
25 % (one step, a pause only a failure can end) on the replica ratio (our ``trafficRouting:
{replicas: {}}``, Argo's basic canary without a traffic router). Scenarios:

- metric (modelops as shipped, modelops with sampling between runs off, and Argo Rollouts;
  analysis interval 5 s and 15 s, interleaved run by run):
  both query the same real Prometheus (Debian's package) with the same query and interval and
  roll back on the first failed measurement (our failureLimit 1 = Argo's failureLimit 0, see
  bench/argo_rollouts.py). Once the canary pauses at its first step, and after a wait in
  [0, interval) (one per equal slice of it, shuffled, the same for both controllers) so that the
  failures cover the analysis cycle evenly, the bench switches the rollout's error ratio from 0
  to 0.5 (limit 0.05; bench/failing_metric.py).
  first failing observation (t_fail): the first poll of Prometheus' query API, with that query,
  answering above the limit: the failing series is visible to whoever asks.
- crash-loop: v2's pods carry ``modelops.dev/simulate: crash-loop`` (KWOK fails them). t_fail is
  when a watch on v2's pods (opened before v2 is applied) first delivers one in CrashLoopBackOff:
  a poll could miss it, since the rollback may remove the pod within one poll. Argo Rollouts
  gets one run, waited on for 60 s: with its defaults it does not abort a canary for crashing
  pods (only a failed analysis, or progressDeadlineAbort, which is off by default, does).

100 % on stable (t_stable), for both: the first poll where the controller reports the rollback
(our ``status.phase == RolledBack``; Argo's ``status.abort``) and no pod of v2 is serving (Ready
and not terminating; the Service's endpoints follow exactly these). Reported: t_stable - t_fail
("rollback"), and t_fail to the rollback reported ("detect"). For the metric scenario the
rollback time is split at the controller's own first failing measurement (its first query that
Prometheus answered failing, noted by a pass-through the controllers query Prometheus through):
"measurement_wait" before it (the wait for the next scheduled measurement) and "reaction" after.
Goals (issue 7): our median <= interval + 2 s, and Argo's median / ours >= 5.

Polls every 50 ms with the Python client, so every polled time is late by up to one poll plus
the calls' own time (tens of ms on a busy machine), alike for both controllers. Our operator is
the real ``modelops run --standalone`` and Argo's the real ``rollouts-controller`` (built by
hack/build-argo-rollouts.sh), both subprocesses on the control plane in KUBECONFIG or the local
one (tests.support.cluster.acquire, same rules as the tests). Numbers only, no verdict on CI.

  PYTHONPATH=. .venv/bin/python bench/rollback.py [--runs 10] [--quick]
Writes bench/results/rollback.json and rollback.png (matplotlib, the ``bench`` extra).
"""

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import watch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import argo_rollouts as argo  # noqa: E402
from bench.failing_metric import (  # noqa: E402
    FAILING,
    HEALTHY,
    FailingMetric,
    error_query,
    failing_in_prometheus,
    failing_metric_source,
    spread_waits,
)
from bench.rollback_contenders import (  # noqa: E402
    V1,
    V2,
    Analysis,
    Api,
    ArgoRollouts,
    Contender,
    Modelops,
)
from bench.rollback_plot import plot  # noqa: E402
from bench.rollback_report import comparison, print_summary, scenario, table  # noqa: E402
from tests.support.cluster import acquire, release, versions  # noqa: E402
from tests.support.operator import OperatorProcess, install_crd  # noqa: E402

from modelops.render.meta import LABEL_INSTANCE, LABEL_VERSION  # noqa: E402

POLL = 0.05
TIMEOUT = 90.0  # per wait: a stuck run is reported as such, never a hang
INTERVALS = (5.0, 15.0)
ARGO_CRASH_WAIT = 60.0  # how long the crash-loop run waits for Argo to act
RESULTS = REPO / "bench" / "results"


def crash_looping(pod: Any) -> bool:
    return any(
        status.state and status.state.waiting and status.state.waiting.reason == "CrashLoopBackOff"
        for status in (pod.status and pod.status.container_statuses) or []
    )


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {TIMEOUT:g}s")
        time.sleep(POLL)


# When something first held (monotonic seconds), or None while it has not.
Moment = Callable[[], float | None]


def polled(condition: Callable[[], bool]) -> Moment:
    return lambda: time.monotonic() if condition() else None


def first_of(moments: dict[str, Moment], timeout: float = TIMEOUT) -> dict[str, float]:
    """Polls all ``moments`` every POLL seconds until each has held once (or ``timeout``)."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(moments) and time.monotonic() < deadline:
        for key, moment in moments.items():
            if key not in seen and (at := moment()) is not None:
                seen[key] = at
        time.sleep(POLL)
    return seen


class CrashWatch:
    """Watches v2's pods from before v2 is applied: the moment one first shows
    CrashLoopBackOff, even when the rollback removes it before a poll could see it."""

    def __init__(self, api: Api, name: str) -> None:
        self.first: float | None = None
        self._watch = watch.Watch()
        self._stream = self._watch.stream(
            api.core.list_namespaced_pod,
            api.namespace,
            label_selector=f"{LABEL_INSTANCE}={name},{LABEL_VERSION}={V2}",
            timeout_seconds=int(2 * TIMEOUT),
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
        self._thread.join(timeout=2 * TIMEOUT + 5)


def row(run: int, since: float, seen: dict[str, float], error: str | None = None) -> dict[str, Any]:
    """Times from ``since`` (v2 applied, or the metric switched), the time from the first
    failing observation to the rollback reported (``detect``) and to 100 % on stable
    (``rollback``, the figure the goals are about); for the metric scenario, that time split at
    the controller's own first failing measurement (``measurement_wait`` + ``reaction``)."""
    t_fail = seen.get("fail")

    def after(start: float | None, key: str) -> float | None:
        return None if start is None or key not in seen else seen[key] - start

    result: dict[str, Any] = {
        "run": run,
        "t_fail": after(since, "fail"),
        "t_stable": after(since, "stable"),
        "detect": after(t_fail, "reported"),
        "rollback": after(t_fail, "stable"),
        "measurement_wait": after(t_fail, "measured"),
        "reaction": after(seen.get("measured"), "stable"),
    }
    if error:
        result["error"] = error
    return result


@dataclass
class Bench:
    api: Api
    source: FailingMetric | None = None  # the metric scenario's; crash-loop runs need none

    def measure(
        self,
        contender: Contender,
        name: str,
        analysis: Analysis | None,
        fail: Callable[[], tuple[float, dict[str, Moment]]],
        timeout: float = TIMEOUT,
    ) -> tuple[float, dict[str, float]]:
        """v1 fully rolled out, then ``fail()`` (which starts the failure and returns when it
        did and the moments to watch: "fail", the first failing observation, and others);
        polls them, the rollback reported and 100 % on stable."""
        try:
            contender.deploy(name, V1, analysis, crash=False)
            wait_for(f"{name} v1 rolled out", lambda: contender.first_version_done(name))
            since, failing = fail()
            reported = polled(lambda: contender.reports_rollback(name))
            on_stable = polled(
                lambda: contender.reports_rollback(name) and not self.api.version_serving(name, V2)
            )
            moments = {**failing, "reported": reported, "stable": on_stable}
            seen = first_of(moments, timeout)
            if "stable" in seen:  # on stable implies reported; one poll round checks both in turn
                seen["reported"] = min(seen.get("reported", seen["stable"]), seen["stable"])
            return since, seen
        finally:
            contender.remove(name)

    def crash_loop(self, contender: Contender, run: int, timeout: float) -> dict[str, Any]:
        """v2's pods crash-loop (KWOK); the failing observation is the watch's first one."""
        name = f"{contender.prefix}-crash-{run}"
        watcher = CrashWatch(self.api, name)

        def crash() -> tuple[float, dict[str, Moment]]:
            applied = time.monotonic()
            contender.deploy(name, V2, None, crash=True)
            return applied, {"fail": lambda: watcher.first}

        try:
            since, seen = self.measure(contender, name, None, crash, timeout)
        except TimeoutError as error:
            return row(run, 0.0, {}, str(error))
        finally:
            watcher.close()
        missing = "" if "stable" in seen else f"not on stable within {timeout:g} s"
        return row(run, since, seen, missing)

    def metric(
        self, contender: Contender, interval: float, run: int, wait: float
    ) -> dict[str, Any]:
        """The canary pauses at step 1 with a healthy error ratio, which turns failing ``wait``
        seconds later (drawn in [0, interval): anywhere in the analysis cycle)."""
        name = f"{contender.prefix}-{interval:g}s-{run}"
        source = self.source
        assert source is not None, "the metric scenario needs a FailingMetric source"
        analysis = Analysis(source.recorder.url, error_query(name), interval)

        def switch() -> tuple[float, dict[str, Moment]]:
            contender.deploy(name, V2, analysis, crash=False)
            wait_for(f"{name} canary at step 1", lambda: contender.at_first_step(name))
            time.sleep(wait)
            switched = time.monotonic()
            source.exporter.set(name, FAILING)
            return switched, {
                "fail": polled(lambda: failing_in_prometheus(source.prometheus, name)),
                "measured": lambda: source.recorder.first_failing_measurement(name),
            }

        source.exporter.set(name, HEALTHY)
        try:
            since, seen = self.measure(contender, name, analysis, switch)
        except TimeoutError as error:
            return row(run, 0.0, {}, str(error))
        finally:
            source.exporter.drop(name)
        return row(run, since, seen)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per scenario and controller")
    parser.add_argument("--quick", action="store_true", help="3 runs each (about 4 minutes)")
    parser.add_argument("--seed", type=int, default=7, help="for the waits before a failure")
    parser.add_argument("--out", type=Path, default=RESULTS / "rollback.json")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    cluster = acquire()
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    operator: OperatorProcess | None = None
    controller: argo.ArgoController | None = None
    metric: list[dict[str, Any]] = []
    try:
        install_crd(cluster)
        binary = argo.prepare(cluster)
        cluster.kubectl("create", "namespace", namespace)
        api = Api(cluster.kubeconfig, namespace)
        operator = OperatorProcess(cluster)
        controller = argo.ArgoController(binary, cluster.kubeconfig, namespace)
        print(f"operator log: {operator.log_path}\nargo-rollouts log: {controller.log_path}")
        ours, theirs = Modelops(cluster, api), ArgoRollouts(cluster, api)
        unsampled = Modelops(cluster, api, sampled=False)
        contenders: list[Contender] = [ours, unsampled, theirs]
        with (
            tempfile.TemporaryDirectory() as workdir,
            failing_metric_source(Path(workdir)) as source,
        ):
            waits = random.Random(args.seed)  # noqa: S311 (reproducible waits, not secrets)
            bench = Bench(api, source)
            crash = {
                ours.label: [bench.crash_loop(ours, run, TIMEOUT) for run in range(runs)],
                # One run shows what Argo does with crashing canary pods: nothing, by default.
                theirs.label: [bench.crash_loop(theirs, 0, ARGO_CRASH_WAIT)],
            }
            for interval in INTERVALS:
                rows: dict[str, list[dict[str, Any]]] = {c.label: [] for c in contenders}
                for run, wait in enumerate(spread_waits(waits, runs, interval)):
                    # Rotate who goes first, so none always runs on a warmer machine.
                    shift = run % len(contenders)
                    for contender in contenders[shift:] + contenders[:shift]:
                        measured = bench.metric(contender, interval, run, wait)
                        rows[contender.label].append(measured)
                metric.append(comparison(interval, rows))
    finally:
        if operator is not None:
            operator.stop()
        if controller is not None:
            controller.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        release(cluster)
    for label, crashed in crash.items():
        table(f"crash-loop canary, {label}: CrashLoopBackOff seen -> 100 % on stable", crashed)
    for c in metric:
        for label in (c.label for c in contenders):
            table(
                f"failing metric, interval {c['interval_seconds']:g}s, {label}: "
                "failing value in Prometheus -> 100 % on stable",
                c[label]["rows"],
            )
    print_summary(metric)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "poll_seconds": POLL,
        "runs": runs,
        "argo_rollouts_version": versions()["ARGO_ROLLOUTS_VERSION"],
        "definitions": {
            "t_fail": "metric: first poll of Prometheus' query API answering above the limit; "
            "crash-loop: first CrashLoopBackOff pod delivered by a watch",
            "t_stable": "first poll with the rollback reported (RolledBack / status.abort) and "
            "no v2 pod Ready and not terminating",
            "detect": "from t_fail to the first poll with the rollback reported, seconds",
            "rollback": "t_stable - t_fail, seconds",
            "measurement_wait": "metric: from t_fail to the controller's first query that "
            "Prometheus answered failing (noted by a pass-through in front of Prometheus)",
            "reaction": "metric: from that query to t_stable, seconds",
            "waits": "metric: the failure starts after a wait in [0, interval) from the canary "
            "pausing at step 1, one per equal slice of the interval, shuffled, the same for both",
        },
        "crash_loop": {label: scenario(crashed) for label, crashed in crash.items()},
        "metric": metric,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    image = args.out.with_suffix(".png")
    plot(result, image)
    print(f"\nwritten: {args.out}, {image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
