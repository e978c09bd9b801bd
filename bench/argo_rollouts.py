"""Argo Rollouts, the baseline of the rollback bench, on the same local control plane.

Its controller is built from its Go module and its CRDs are taken from the same module by
hack/build-argo-rollouts.sh (cached outside the repository; nothing of Argo's is committed).
The controller runs with its default settings; only its listening ports are chosen (free ones,
since other programs on this machine may hold its defaults) and POD_NAMESPACE names the
namespace it keeps its leader-election Lease in, as its Deployment would set it.

The Rollout mirrors a ModelService canary: 4 replicas, a basic canary without a traffic router
(the replica ratio, like our ``trafficRouting: {replicas: {}}``), ``setWeight: 25`` then a pause
only the analysis can end, and a background analysis from step 0 with the same Prometheus query
and interval. Failure counts differ in convention only: Argo fails a metric when failures exceed
``failureLimit``, we roll back when they reach ``failureLimit``; so Argo's 0 is our 1 (roll back
on the first failed measurement).
"""

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.support.cluster import HACK, Cluster, wait_until
from tests.support.operator import install_crds
from tests.support.processes import free_port, http_ok, stop

from modelops.render.meta import LABEL_INSTANCE, LABEL_VERSION

GROUP, VERSION, ROLLOUTS = "argoproj.io", "v1alpha1", "rollouts"
LONG_PAUSE = "1h"  # the step's pause: only the analysis can end the step within a run


def prepare(cluster: Cluster) -> Path:
    """Build (or find cached) the controller and install the CRDs; the controller's path."""
    script = str(HACK / "build-argo-rollouts.sh")
    built = subprocess.run([script], capture_output=True, text=True, check=False)  # noqa: S603
    if built.returncode != 0:
        raise RuntimeError(f"hack/build-argo-rollouts.sh failed:\n{built.stderr[-3000:]}")
    home = Path(built.stdout.strip().splitlines()[-1])
    install_crds(cluster, home / "crds")
    return home / "rollouts-controller"


class ArgoController:
    """``rollouts-controller`` as a subprocess against the cluster, its log in a temp file."""

    def __init__(self, binary: Path, kubeconfig: str, namespace: str) -> None:
        self.healthz_port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="argo-rollouts-", suffix=".log")[1])
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 (our argv: the built binary, our flags)
            [
                str(binary),
                f"--kubeconfig={kubeconfig}",
                f"--metricsPort={free_port()}",
                f"--healthzPort={self.healthz_port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "POD_NAMESPACE": namespace},
        )
        wait_until(self.healthy, 60, message=f"argo-rollouts /healthz (log: {self.log_path})")

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"argo-rollouts exited; log: {self.log_path}")
        return http_ok(f"http://127.0.0.1:{self.healthz_port}/healthz")

    def stop(self) -> None:
        stop(self.process)
        self._log.close()


def analysis_template(name: str, prometheus: str, query: str, interval: float) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {
            "metrics": [
                {
                    "name": "errors",
                    "interval": f"{interval:g}s",
                    "failureLimit": 0,
                    "successCondition": "result[0] <= 0.05",
                    "provider": {"prometheus": {"address": prometheus, "query": query}},
                }
            ]
        },
    }


def rollout(
    name: str, version: str, template: str | None, labels: dict[str, str]
) -> dict[str, Any]:
    """The Rollout of ``version``, pods like the ModelService sample's (KWOK runs both alike),
    with extra pod ``labels`` and, when ``template`` names one, a background analysis."""
    canary: dict[str, Any] = {"steps": [{"setWeight": 25}, {"pause": {"duration": LONG_PAUSE}}]}
    if template is not None:
        canary["analysis"] = {"templates": [{"templateName": template}], "startingStep": 0}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {LABEL_INSTANCE: name}},
            "template": {
                "metadata": {"labels": {LABEL_INSTANCE: name, LABEL_VERSION: version, **labels}},
                "spec": {
                    "containers": [
                        {
                            "name": "model",
                            "image": f"registry.invalid/demo:{version}",
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ]
                },
            },
            "strategy": {"canary": canary},
        },
    }


def healthy(body: dict[str, Any]) -> bool:
    """The first version fully rolled out."""
    status = body.get("status") or {}
    return (
        status.get("phase") == "Healthy"
        and bool(status.get("stableRS"))
        and status.get("stableRS") == status.get("currentPodHash")
    )


def paused_at_first_step(body: dict[str, Any]) -> bool:
    """setWeight 25 done (its canary pods available), pausing at step index 1."""
    status = body.get("status") or {}
    return status.get("currentStepIndex") == 1 and status.get("phase") == "Paused"


def aborted(body: dict[str, Any]) -> bool:
    return bool((body.get("status") or {}).get("abort"))
