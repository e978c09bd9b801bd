"""False positives of the baseline comparison: 20 healthy canaries, each judged against its stable.

Every canary and every stable is a real ``modelops gateway`` process (``--track canary`` or
``--track stable``) in front of a real demo model server (examples/demo-model) answering 500 to
``ERROR_RATE`` of its requests, the same rate for both tracks: each canary is as healthy as its
stable, so every rollback is a false positive. One demo model per track serves all 20 of that
track's gateways (each request fails independently, so sharing changes nothing). A real
Prometheus (Debian's package) scrapes the 40 gateways every second, each target labelled as
Kubernetes discovery would label ``bench/canary-N``'s pods (tests/support/scrape.RELABEL).
This process sends each gateway ``--rate`` requests per second (one track of a 50% canary step).

Each canary's analysis is the operator's own code: ``run_analysis`` (the queries, the
comparison) every ``--interval`` for ``--runs`` runs after a warm-up of one window, and the
rollout machine's ``judge`` and ``analysis_after`` counting failures in a row: a canary is rolled
back when they reach failureLimit (2). Several checks are judged over the same traffic and
the same moments, each on its own: the baseline measured in the same run is a fixed threshold
(``max``) on the canary's error rate, as before this feature. Not modelled: the sampler, which
runs the analysis early after a failing sample, adds runs (and chances to fail) between these.

  make bench-baseline  (PYTHONPATH=. .venv/bin/python bench/baseline.py [--canaries 20] [--rate 5])
Prints a table and writes bench/results/baseline.json. Numbers only, no verdict.
"""

import argparse
import asyncio
import contextlib
import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from tests.support.demo_model import running_demo_model
from tests.support.processes import free_port, gateway_argv, http_ok, stop
from tests.support.prometheus import running_prometheus
from tests.support.samples import model_service
from tests.support.scrape import RELABEL

from modelops.api.base import k8s_time
from modelops.api.spec import ModelServiceSpec
from modelops.api.status import ModelServiceStatus
from modelops.gateway.metrics import PREFIX
from modelops.health.analysis import run_analysis
from modelops.health.prometheus import query_scalar
from modelops.manifests import parse_model_service
from modelops.rollout.observe import WorkloadObservation
from modelops.rollout.verdict import analysis_after, judge

NAMESPACE = "bench"
START_SECONDS = 300.0
FAILURE_LIMIT = 2  # the API's default: failed runs in a row that roll back
RESULTS = Path(__file__).resolve().parent / "results" / "baseline.json"
# Judged side by side over the same traffic. The README's example first.
CHECKS: dict[str, dict[str, Any]] = {
    "baseline 1.2x + 0.5 pt, 1m, min 100": {
        "baseline": {"maxRatio": 1.2, "margin": 0.005, "minSamples": 100, "window": "1m"}
    },
    "baseline 1.2x + 2 pt, 1m, min 100": {
        "baseline": {"maxRatio": 1.2, "margin": 0.02, "minSamples": 100, "window": "1m"}
    },
    "fixed max 5% (1m)": {"max": 0.05},
}


@dataclass
class Verdicts:
    """One check's runs over every canary: per canary its status, and the counts."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    status: dict[str, ModelServiceStatus] = field(default_factory=dict)
    rolled_back: set[str] = field(default_factory=set)
    runs: dict[str, int] = field(default_factory=lambda: {"pass": 0, "fail": 0, "inconclusive": 0})


@contextlib.contextmanager
def gateways(upstreams: dict[str, str], canaries: int) -> Iterator[dict[tuple[str, str], int]]:
    """(canary name, track) -> port of its gateway."""
    ports: dict[tuple[str, str], int] = {}
    processes: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
    try:
        for index in range(canaries):
            for track, upstream in upstreams.items():
                key = (f"canary-{index}", track)
                ports[key] = free_port()
                processes[key] = subprocess.Popen(  # noqa: S603 - generated arguments
                    gateway_argv(ports[key], upstream, "--track", track),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
        # Forty interpreters starting at once on two shared cores take longer than a test's
        # start timeout: wait for all of them together, longer.
        deadline = time.monotonic() + START_SECONDS
        waiting = dict(ports)
        while waiting:
            for key, port in list(waiting.items()):
                if processes[key].poll() is not None:
                    raise RuntimeError(f"gateway {' '.join(key)} exited")
                if http_ok(f"http://127.0.0.1:{port}/healthz"):
                    del waiting[key]
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateways not ready within {START_SECONDS}s: {sorted(waiting)}")
            time.sleep(0.5)
        yield ports
    finally:
        for process in processes.values():
            stop(process)


def scrape_config(ports: dict[tuple[str, str], int]) -> dict[str, Any]:
    targets = [
        {
            "targets": [f"127.0.0.1:{port}"],
            "labels": {
                "__meta_kubernetes_namespace": NAMESPACE,
                "__meta_kubernetes_pod_name": f"{name}-{track}",
                "__meta_kubernetes_pod_label_app_kubernetes_io_instance": name,
            },
        }
        for (name, track), port in sorted(ports.items())
    ]
    job = {
        "job_name": "gateways",
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "static_configs": targets,
        "relabel_configs": RELABEL,
    }
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [job],
    }


async def send(port: int, rate: float, done: asyncio.Event, counts: dict[int, int]) -> None:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = {"model": "demo-model", "messages": [{"role": "user", "content": "Say hello."}]}
    async with aiohttp.ClientSession() as session:
        start, sent = time.monotonic(), 0
        while not done.is_set():
            async with session.post(url, json=body, headers={"X-API-Key": "bench"}) as answer:
                await answer.read()
                counts[answer.status] = counts.get(answer.status, 0) + 1
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))


def spec_of(check: dict[str, Any], prometheus: str, interval: str) -> ModelServiceSpec:
    metric = {"name": "errors", "preset": "ErrorRate", "prometheus": {"address": prometheus}}
    analysis = {
        "interval": interval,
        "failureLimit": FAILURE_LIMIT,
        "metrics": [{**metric, **check}],
    }
    body = model_service("bench", rollout={"steps": [{"weight": 50}], "analysis": analysis})
    return parse_model_service(body).spec


def judge_one(spec: ModelServiceSpec, seen: Verdicts, name: str, now: str) -> None:
    """One analysis run of one canary, through the operator's code, and its verdict."""
    ready = WorkloadObservation(exists=True, desired=1, replicas=1, updated=1, ready=1, available=1)
    previous = seen.status.get(name, ModelServiceStatus())
    metrics = run_analysis(spec, NAMESPACE, name)
    health = judge(spec, previous, ready, metrics, started_for=0.0)
    kind = {True: "pass", False: "fail", None: "inconclusive"}[metrics[0].ok]
    analysis = analysis_after(previous, health, metrics, now)
    with seen.lock:
        seen.runs[kind] += 1
        seen.status[name] = previous.model_copy(update={"analysis": analysis})
        if analysis.consecutive_failures >= FAILURE_LIMIT:
            seen.rolled_back.add(name)


def judge_all(
    specs: dict[str, ModelServiceSpec], verdicts: dict[str, Verdicts], names: list[str]
) -> None:
    """Every canary's run at the same moment (a pool, so a run fits in its interval)."""
    now = k8s_time(datetime.now(UTC))
    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = [
            pool.submit(judge_one, spec, verdicts[label], name, now)
            for label, spec in specs.items()
            for name in names
        ]
        for run in runs:
            run.result()


def observations(prometheus: str) -> tuple[float, float]:
    """(mean, least) requests per track and canary in the last minute: what one 1m window
    of a comparison rests on."""
    selector = f'{PREFIX}requests_total{{namespace="{NAMESPACE}"}}'
    per_track = f"sum by (instance_name, track) (increase({selector}[1m]))"
    return (
        query_scalar(prometheus, f"avg({per_track})"),
        query_scalar(prometheus, f"min({per_track})"),
    )


async def run(
    args: argparse.Namespace, prometheus: str, ports: dict[tuple[str, str], int]
) -> tuple[dict[str, Verdicts], list[tuple[float, float]]]:
    names = sorted({name for name, _ in ports})
    specs = {
        label: spec_of(check, prometheus, f"{args.interval}s") for label, check in CHECKS.items()
    }
    verdicts = {label: Verdicts() for label in CHECKS}
    counts: dict[int, int] = {}
    done = asyncio.Event()
    senders = [asyncio.create_task(send(port, args.rate, done, counts)) for port in ports.values()]
    seen: list[tuple[float, float]] = []
    await asyncio.sleep(args.warmup)
    for number in range(args.runs):
        began = time.monotonic()
        await asyncio.to_thread(judge_all, specs, verdicts, names)
        seen.append(await asyncio.to_thread(observations, prometheus))
        print(
            f"run {number + 1}/{args.runs}: {time.monotonic() - began:.1f}s, answers {counts}, "
            f"requests per track in 1m: mean {seen[-1][0]:.0f}, least {seen[-1][1]:.0f}",
            flush=True,
        )
        await asyncio.sleep(max(0.0, began + args.interval - time.monotonic()))
    done.set()
    await asyncio.gather(*senders)
    print(f"answers: {counts}")
    return verdicts, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=20)
    parser.add_argument("--error-rate", type=float, default=0.01)
    parser.add_argument("--rate", type=float, default=5.0, help="requests/s to each gateway")
    parser.add_argument("--interval", type=int, default=15, help="seconds between analysis runs")
    parser.add_argument("--runs", type=int, default=8, help="analysis runs per canary (its step)")
    parser.add_argument("--warmup", type=int, default=65, help="seconds of traffic before run 1")
    args = parser.parse_args()
    rate = str(args.error_rate)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (
            running_demo_model(work, "1.0.0", ERROR_RATE=rate) as stable,
            running_demo_model(work, "2.0.0", ERROR_RATE=rate) as canary,
            gateways({"stable": stable, "canary": canary}, args.canaries) as ports,
            running_prometheus(scrape_config(ports), work) as prometheus,
        ):
            verdicts, windows = asyncio.run(run(args, prometheus, ports))
    mean = sum(m for m, _ in windows) / len(windows)
    least = min(low for _, low in windows)
    report: dict[str, Any] = {
        "settings": vars(args),
        "requests_per_track_per_minute": {"mean": mean, "least": least},
        "checks": {},
    }
    print(
        f"\n{args.canaries} healthy canaries (both tracks at {args.error_rate:.0%} errors); "
        f"requests per track in a 1m window: mean {mean:.0f}, least {least:.0f}"
    )
    print(
        f"{'check':<40} {'rolled back':>12} {'FP rate':>8} {'runs failed':>12} {'inconclusive':>13}"
    )
    fixed = len(verdicts["fixed max 5% (1m)"].rolled_back) / args.canaries
    for label, seen in verdicts.items():
        runs = sum(seen.runs.values())
        rate = len(seen.rolled_back) / args.canaries
        print(
            f"{label:<40} {len(seen.rolled_back):>12} {rate:>8.0%} "
            f"{seen.runs['fail'] / runs:>12.1%} {seen.runs['inconclusive'] / runs:>13.1%}"
        )
        report["checks"][label] = {
            "check": CHECKS[label],
            "rolled_back": sorted(seen.rolled_back),
            "false_positive_rate": rate,
            "runs": seen.runs,
            "vs_fixed": None if fixed == 0 else rate / fixed,
        }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
