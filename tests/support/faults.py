"""Fault injection for tests on the local control plane: stop and start one component
(hack/cluster-component.sh, the exact flags of hack/cluster-up.sh), and a trace of what a
ModelService's status went through while it happened."""

import os
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config

from modelops.api import GROUP, PLURAL, VERSION
from tests.support.cluster import HACK, REPO, Cluster


def component(cluster: Cluster, action: str, name: str) -> None:
    """``hack/cluster-component.sh action name``; only the local control plane has components
    this machine can stop, so another cluster fails the test with the reason."""
    local = str(REPO / ".cluster" / "kubeconfig")
    if os.path.realpath(cluster.kubeconfig) != os.path.realpath(local):
        raise AssertionError(
            f"fault tests stop control-plane processes of the local cluster ({local}); "
            f"KUBECONFIG={cluster.kubeconfig} is another one: unset KUBECONFIG"
        )
    result = subprocess.run(
        ["bash", str(HACK / "cluster-component.sh"), action, name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"cluster-component.sh {action} {name}:\n{result.stderr}"


@contextmanager
def stopped(cluster: Cluster, name: str, seconds: float) -> Iterator[None]:
    """``name`` stopped for ``seconds`` (the block runs at the start of the outage), then
    started again and ready."""
    component(cluster, "stop", name)
    down_at = time.monotonic()
    try:
        yield
        time.sleep(max(0.0, seconds - (time.monotonic() - down_at)))
    finally:
        component(cluster, "start", name)


# What a step of a rollout is made of, as the status shows it.
Point = tuple[str | None, str | None, int | None, int | None]


@dataclass
class StatusTrace:
    """Every distinct (phase, stage, currentStep, canaryWeight) a ModelService's status went
    through, read every ``interval`` seconds; reads that failed (the API server away) are
    counted, not fatal."""

    points: list[Point] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)
    failed_reads: int = 0

    def record(self, status: dict[str, Any]) -> None:
        self.last = status
        point = (
            status.get("phase"),
            status.get("stage"),
            status.get("currentStep"),
            status.get("canaryWeight"),
        )
        if not self.points or self.points[-1] != point:
            self.points.append(point)

    def weights(self) -> list[int]:
        """The canary weights in the order they were seen, each run of one weight once."""
        out: list[int] = []
        for _, stage, _, weight in self.points:
            if stage == "Canary" and weight and (not out or out[-1] != weight):
                out.append(weight)
        return out

    def stages(self) -> list[str]:
        out: list[str] = []
        for _, stage, _, _ in self.points:
            if stage and (not out or out[-1] != stage):
                out.append(stage)
        return out


def custom_objects(cluster: Cluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(config_file=cluster.kubeconfig))


IN_FLIGHT = ("Canary", "Promoting")  # the stages --max-concurrent-rollouts counts


@dataclass
class NamespaceTrace:
    """A StatusTrace per ModelService of a namespace, all read with one LIST, and how many were
    in flight (stage Canary or Promoting) in each reading."""

    traces: defaultdict[str, StatusTrace] = field(default_factory=lambda: defaultdict(StatusTrace))
    in_flight: list[int] = field(default_factory=list)
    failed_reads: int = 0

    def record(self, items: list[dict[str, Any]]) -> None:
        flying = 0
        for item in items:
            status = item.get("status") or {}
            self.traces[item["metadata"]["name"]].record(status)
            flying += status.get("stage") in IN_FLIGHT
        self.in_flight.append(flying)


@contextmanager
def traced_namespace(
    cluster: Cluster, namespace: str, interval: float = 0.2
) -> Iterator[NamespaceTrace]:
    api = custom_objects(cluster)
    trace = NamespaceTrace()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            try:
                found = api.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, _request_timeout=10
                )
            except Exception:  # the API server or etcd away: that is the point
                trace.failed_reads += 1
                for one in list(trace.traces.values()):
                    one.failed_reads += 1
            else:
                trace.record(found.get("items") or [])
            done.wait(interval)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield trace
    finally:
        done.set()
        thread.join(timeout=30)


@contextmanager
def traced(
    cluster: Cluster, namespace: str, name: str, interval: float = 0.2
) -> Iterator[StatusTrace]:
    """The StatusTrace of one ModelService (read with its namespace's LIST)."""
    with traced_namespace(cluster, namespace, interval) as trace:
        yield trace.traces[name]


def events(cluster: Cluster, namespace: str, name: str) -> list[tuple[str, str]]:
    """(reason, message) of the ModelService's Events, one per occurrence (``count``)."""
    found = cluster.get(
        "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )
    return [
        (e["reason"], e.get("message", ""))
        for e in found["items"]
        for _ in range(int(e.get("count") or 1))
    ]


def results_of(status: dict[str, Any], version: str) -> list[str]:
    """The history results recorded for ``version`` (Promoted, RolledBack, Superseded...)."""
    return [h["result"] for h in status.get("history") or [] if h["version"] == version]
