"""The two controllers the rollback bench compares, behind one interface, and the reads it polls.

modelops gets a ModelService; Argo Rollouts a Rollout plus AnalysisTemplate that mirror it
(bench/argo_rollouts.py). Both have 4 replicas, one canary step at 25 % with a pause only a
failure can end, the replica ratio as the traffic split, and, for the metric scenario, the same
Prometheus query at the same interval, rolling back on the first failed measurement. modelops
runs twice: as shipped, sampling the metrics between runs (``analysis.sampleInterval``, a tenth
of the interval by default), and with sampling off, measuring only at the interval as Argo
Rollouts does.
"""

from dataclasses import dataclass
from typing import Any, Protocol, cast

from bench import argo_rollouts as argo
from bench.failing_metric import LIMIT
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tests.cluster.test_canary import canary_service
from tests.support.cluster import Cluster

from modelops.api import GROUP, PLURAL, VERSION
from modelops.render.meta import LABEL_INSTANCE, LABEL_VERSION

V1, V2 = "1.0.0", "2.0.0"
CRASH_LABELS = {"modelops.dev/simulate": "crash-loop"}  # KWOK's crash-loop stage
LONG_PAUSE = "1h"


def serving(pod: Any) -> bool:
    """Ready and not terminating: what the Service's endpoints send traffic to."""
    if pod.metadata.deletion_timestamp is not None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


class Api:
    """The few reads the polls make, through one API client."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        api = config.new_client_from_config(config_file=kubeconfig)
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace

    def custom_object(self, group: str, version: str, plural: str, name: str) -> dict[str, Any]:
        body = self.custom.get_namespaced_custom_object(
            group, version, self.namespace, plural, name
        )
        return cast(dict[str, Any], body)

    def phase(self, name: str) -> str | None:
        status = self.custom_object(GROUP, VERSION, PLURAL, name).get("status") or {}
        return status.get("phase")

    def canary_ready(self, name: str) -> bool:
        try:
            found = self.apps.read_namespaced_deployment(f"{name}-canary", self.namespace)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return bool(found.status and (found.status.ready_replicas or 0) == found.spec.replicas)

    def version_serving(self, name: str, version: str) -> bool:
        """Does any pod of ``version`` of this rollout still take traffic?"""
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"{LABEL_INSTANCE}={name},{LABEL_VERSION}={version}"
        )
        return any(serving(pod) for pod in pods.items)


@dataclass(frozen=True)
class Analysis:
    prometheus: str
    query: str
    interval: float


class Contender(Protocol):
    """One controller under test: how it is given a version, and what its status says."""

    label: str
    prefix: str

    def deploy(self, name: str, version: str, analysis: Analysis | None, crash: bool) -> None: ...
    def first_version_done(self, name: str) -> bool: ...
    def at_first_step(self, name: str) -> bool: ...
    def reports_rollback(self, name: str) -> bool: ...
    def remove(self, name: str) -> None: ...


class Modelops:
    """As shipped (the metrics sampled between runs every interval/10, the default), or with
    ``sampled=False`` (``sampleInterval: 0s``): measurements only at the interval, as Argo's."""

    def __init__(self, cluster: Cluster, api: Api, *, sampled: bool = True) -> None:
        self.cluster, self.api = cluster, api
        self.sampled = sampled
        self.label = "modelops" if sampled else "modelops-unsampled"
        self.prefix = "ours" if sampled else "oursns"

    def manifest(
        self, name: str, version: str, analysis: Analysis | None, crash: bool
    ) -> dict[str, Any]:
        rollout: dict[str, Any] = {}
        if analysis is not None:
            metric = {
                "name": "errors",
                "max": LIMIT,
                "prometheus": {"address": analysis.prometheus, "query": analysis.query},
            }
            rollout["analysis"] = {
                "interval": f"{analysis.interval:g}s",
                "failureLimit": 1,
                "metrics": [metric],
                **({} if self.sampled else {"sampleInterval": "0s"}),
            }
        steps = [{"weight": 25, "pause": LONG_PAUSE}]
        extra = {"podTemplate": {"labels": CRASH_LABELS}} if crash else {}
        return canary_service(name, version, steps, rollout=rollout, **extra)

    def deploy(self, name: str, version: str, analysis: Analysis | None, crash: bool) -> None:
        self.cluster.apply(self.manifest(name, version, analysis, crash), self.api.namespace)

    def first_version_done(self, name: str) -> bool:
        return self.api.phase(name) == "Stable"

    def at_first_step(self, name: str) -> bool:
        return self.api.canary_ready(name)

    def reports_rollback(self, name: str) -> bool:
        return self.api.phase(name) == "RolledBack"

    def remove(self, name: str) -> None:
        self.cluster.kubectl(
            "delete", "msvc", name, "-n", self.api.namespace, "--wait=false", check=False
        )


class ArgoRollouts:
    label, prefix = "argo-rollouts", "argo"

    def __init__(self, cluster: Cluster, api: Api) -> None:
        self.cluster, self.api = cluster, api

    def _rollout(self, name: str) -> dict[str, Any]:
        return self.api.custom_object(argo.GROUP, argo.VERSION, argo.ROLLOUTS, name)

    def deploy(self, name: str, version: str, analysis: Analysis | None, crash: bool) -> None:
        if analysis is not None:
            template = argo.analysis_template(
                name, analysis.prometheus, analysis.query, analysis.interval
            )
            self.cluster.apply(template, self.api.namespace)
        labels = CRASH_LABELS if crash else {}
        body = argo.rollout(name, version, name if analysis else None, labels)
        self.cluster.apply(body, self.api.namespace)

    def first_version_done(self, name: str) -> bool:
        return argo.healthy(self._rollout(name))

    def at_first_step(self, name: str) -> bool:
        return argo.paused_at_first_step(self._rollout(name))

    def reports_rollback(self, name: str) -> bool:
        return argo.aborted(self._rollout(name))

    def remove(self, name: str) -> None:
        for kind in ("rollout", "analysistemplate"):
            self.cluster.kubectl(
                "delete", kind, name, "-n", self.api.namespace, "--wait=false", check=False
            )
