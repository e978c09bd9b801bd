"""Helpers of the end-to-end tests: the real node, its addresses, the operator installed from
the Helm chart, ModelServices whose pods run there, and HTTP through a Service's ClusterIP.

Every request goes from this test process to a Service's ClusterIP (routed into the real
node's network namespace by hack/real-node-up.sh, answered by kube-proxy's rules there), or to
a pod IP for a scrape, never through a port-forward.
"""

import contextlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes

from modelops.render.meta import LABEL_INSTANCE, LABEL_TRACK
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status
from tests.support.scrape import RELABEL

NODE_NAME = "real-node-0"
NODE_LABEL = "modelops.dev/real-node"
ON_REAL_NODE: dict[str, Any] = {
    "nodeSelector": {NODE_LABEL: "true"},
    "tolerations": [
        {"key": NODE_LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ],
}
OPERATOR_IMAGE = "localhost/modelops:dev"
DEMO_IMAGE = "localhost/modelops-demo-model:dev"
DEMO_PORT = 8080
CLIENT_HEADER = "X-API-Key"
RELEASE = "modelops-e2e"
OPERATOR_NAMESPACE = "modelops-e2e"
# No proxy from the environment: every address here is on this machine.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def node_problem(cluster: Cluster) -> str | None:
    """Why the real node cannot run the e2e tests, or None when it is there and Ready."""
    found = cluster.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
    if found.returncode != 0:
        return (
            f"node {NODE_NAME} does not exist ({found.stderr.strip()}); hack/cluster-up.sh "
            "starts it unless REAL_NODES=0 (hack/real-node-up.sh, root needed)"
        )
    node = json.loads(found.stdout)
    ready = [c for c in node["status"].get("conditions", []) if c["type"] == "Ready"]
    if not ready or ready[0]["status"] != "True":
        detail = ready[0].get("message", "") if ready else "no Ready condition"
        return f"node {NODE_NAME} is not Ready: {detail}"
    if node["metadata"].get("labels", {}).get(NODE_LABEL) != "true":
        return f"node {NODE_NAME} lacks the label {NODE_LABEL}=true"
    return None


@dataclass
class Release:
    """The operator's Helm release and the values it was installed with."""

    name: str
    namespace: str
    values: dict[str, object]

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component=operator"


# The shared ModelService's limits: a tier per test that counts, so no test spends another's.
SERVED_VERSION = "1.0.0"
REQUEST_LIMIT = 3
TOKEN_BUDGET = 100
# A daily budget of the "capped" tier, in a zone far from UTC: the image must have tzdata.
DAILY_BUDGET = 2
BUDGET_ZONE = "Asia/Tokyo"
SERVED_LIMITS: dict[str, Any] = {
    "clientHeader": CLIENT_HEADER,
    "tiers": [
        {"name": "free", "requestsPerMinute": REQUEST_LIMIT},
        {"name": "budget", "tokensPerMinute": TOKEN_BUDGET},
        {"name": "metered", "requestsPerMinute": 100000, "tokensPerMinute": 100000000},
        {"name": "pro", "requestsPerMinute": 100000, "tokensPerMinute": 100000000},
        {"name": "capped"},
    ],
    "clients": [
        {"id": "key-free", "tier": "free"},
        {"id": "key-budget", "tier": "budget"},
        {"id": "key-metered", "tier": "metered"},
        {"id": "key-capped", "tier": "capped"},
    ],
    "defaultTier": "pro",
    "budgets": {
        "timeZone": BUDGET_ZONE,
        "limits": [
            {"name": "capped-daily", "period": "Day", "tier": "capped", "requests": DAILY_BUDGET}
        ],
    },
}


@dataclass
class Served:
    namespace: str
    name: str
    url: str  # http://<ClusterIP>:<port>
    version: str


def release_pods(cluster: Cluster, release: Release) -> list[dict[str, Any]]:
    found = cluster.get("pods", "-n", release.namespace, "-l", release.selector)
    items: list[dict[str, Any]] = found["items"]
    return items


# --- ModelServices on the real node -----------------------------------------------------------


def probes() -> dict[str, Any]:
    """The demo model's endpoints, probed often: the tests wait on readiness."""
    return {
        "readiness": {"path": "/ready", "periodSeconds": 1, "failureThreshold": 1},
        "liveness": {"path": "/health", "periodSeconds": 5},
        "startup": {"path": "/health", "periodSeconds": 1, "failureThreshold": 60},
    }


def demo_service(
    name: str,
    version: str,
    *,
    env: dict[str, str] | None = None,
    replicas: int = 1,
    **spec: Any,
) -> dict[str, Any]:
    """A ModelService of the demo model image, scheduled on the real node."""
    variables = {"MODEL_VERSION": version, **(env or {})}
    body: dict[str, Any] = {
        "model": {
            "name": "demo-model",
            "version": version,
            "image": DEMO_IMAGE,
            "port": DEMO_PORT,
            "env": [{"name": key, "value": value} for key, value in sorted(variables.items())],
            "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}},
            # The demo model writes nothing outside /tmp: both containers run read-only.
            "readOnlyRootFilesystem": True,
        },
        "podTemplate": ON_REAL_NODE,
        "replicas": replicas,
        "probes": probes(),
        **spec,
    }
    return {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": name},
        "spec": body,
    }


def cache_claim(cluster: Cluster, namespace: str, directory: Path, size: str) -> None:
    """A ReadWriteMany claim ``model-cache`` in ``namespace``, bound to a hostPath volume of
    that name on the real node: the local cluster has no RWX storage class, and its one real
    node is this machine."""
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": namespace},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": str(directory), "type": "Directory"},
                "claimRef": {"namespace": namespace, "name": "model-cache"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/hostname",
                                        "operator": "In",
                                        "values": [NODE_NAME],
                                    }
                                ]
                            }
                        ]
                    }
                },
            },
        }
    )
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "model-cache"},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "volumeName": namespace,
                "resources": {"requests": {"storage": size}},
            },
        },
        namespace,
    )


def error_rate_analysis(prometheus: str) -> dict[str, Any]:
    """A canary analysis that rolls back above 20% errors (the ErrorRate preset), run every
    3 s and failing after two runs: what the e2e rollbacks through Prometheus use."""
    return {
        "interval": "3s",
        "failureLimit": 2,
        "metrics": [
            {
                "name": "error-rate",
                "preset": "ErrorRate",
                "prometheus": {"address": prometheus},
                "max": 0.2,
            }
        ],
    }


def wait_ready(cluster: Cluster, namespace: str, name: str, timeout: float = 120) -> None:
    """The ModelService's Ready condition is True, or fail with its status and pods."""

    def ready() -> bool:
        conditions = status(cluster, namespace, name).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    try:
        wait_until(ready, timeout, interval=0.5, message=f"ModelService {name} Ready")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{describe(cluster, namespace, name)}") from None


def wait_phase(
    cluster: Cluster, namespace: str, name: str, want: str, timeout: float
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        current = status(cluster, namespace, name)
        return current if current.get("phase") == want else None

    try:
        found: dict[str, Any] = wait_until(
            reached, timeout, interval=0.5, message=f"{name} in phase {want}"
        )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{describe(cluster, namespace, name)}") from None
    return found


def describe(cluster: Cluster, namespace: str, name: str) -> str:
    """The ModelService's status and its pods' states, for a failure message."""
    current = status(cluster, namespace, name)
    pods = cluster.kubectl(
        "get", "pods", "-n", namespace, "-l", f"{LABEL_INSTANCE}={name}", "-o", "wide", check=False
    )
    return f"status: {json.dumps(current, indent=1)[-3000:]}\npods:\n{pods.stdout}{pods.stderr}"


def pods(cluster: Cluster, namespace: str, name: str, track: str = "") -> list[dict[str, Any]]:
    selector = f"{LABEL_INSTANCE}={name}" + (f",{LABEL_TRACK}={track}" if track else "")
    items: list[dict[str, Any]] = cluster.get("pods", "-n", namespace, "-l", selector)["items"]
    return items


def deployments(cluster: Cluster, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    items = cluster.get("deployment", "-n", namespace, "-l", f"{LABEL_INSTANCE}={name}")["items"]
    return {d["metadata"]["labels"][LABEL_TRACK]: d for d in items}


def last_history(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    history = status(cluster, namespace, name).get("history") or [{}]
    return dict(history[-1])


# --- HTTP through the Service ------------------------------------------------------------------


def service_url(cluster: Cluster, namespace: str, name: str) -> str:
    """http://<ClusterIP>:<port> of the ModelService's Service."""
    ip = cluster.kubectl(
        "get", "svc", name, "-n", namespace, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout.strip()
    port = cluster.kubectl(
        "get", "svc", name, "-n", namespace, "-o", "jsonpath={.spec.ports[0].port}"
    ).stdout.strip()
    assert ip and ip != "None" and port, f"Service {namespace}/{name} has no ClusterIP ({ip!r})"
    return f"http://{ip}:{port}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def chat_body(text: str = "Say hello.") -> dict[str, Any]:
    return {"model": "demo-model", "messages": [{"role": "user", "content": text}]}


def post(url: str, body: dict[str, Any], client: str | None, timeout: float = 10) -> Answer:
    """One POST on a new connection (urllib never reuses one), so kube-proxy picks an endpoint
    for every request: what makes the replica-ratio split visible."""
    headers = {"Content-Type": "application/json"}
    if client is not None:
        headers[CLIENT_HEADER] = client
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers.items()), error.read())


def chat(base: str, client: str | None = "e2e", text: str = "Say hello.") -> Answer:
    return post(f"{base}/v1/chat/completions", chat_body(text), client)


def version_of(answer: Answer) -> str:
    return answer.headers.get("X-Model-Version", "")


def wait_serving(base: str, client: str, version: str, timeout: float = 60) -> None:
    """The Service answers 200 from ``version`` (kube-proxy's rules follow endpoints within a
    second or two of the pods turning ready)."""
    last: list[Answer | str] = []

    def answered() -> bool:
        try:
            answer = chat(base, client)
        except OSError as error:
            last[:] = [repr(error)]
            return False
        last[:] = [answer]
        return answer.status == 200 and version_of(answer) == version

    wait_until(answered, timeout, interval=0.5, message=f"{base} answering {version} ({last})")


@dataclass
class Traffic:
    """Requests sent in a loop by a thread, one new connection each, with what came back."""

    base: str
    client: str
    pause: float = 0.05
    answers: list[tuple[float, int, str]] = field(default_factory=list)  # (time, status, version)
    errors: list[str] = field(default_factory=list)
    running: bool = True

    def run(self) -> None:
        while self.running:
            try:
                answer = chat(self.base, self.client)
                self.answers.append((time.monotonic(), answer.status, version_of(answer)))
            except OSError as error:
                self.errors.append(repr(error))
            time.sleep(self.pause)


# --- Prometheus ---------------------------------------------------------------------------------


def prometheus_scrape_config(targets_file: Path) -> dict[str, Any]:
    """Scrape what ``PodTargets`` writes each second, relabelled as modelops.health.presets
    assumes (the rules of its docstring, tests/support/scrape.py's RELABEL)."""
    return {
        "job_name": "modelops-pods",
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "1s"}],
        "relabel_configs": RELABEL,
    }


class PodTargets:
    """Kubernetes pod discovery for a Prometheus built without it (Debian's package has no
    kubernetes_sd_configs): every second the real node's running pods annotated
    ``prometheus.io/scrape: "true"`` become file_sd targets at ``<pod IP>:<prometheus.io/port>``
    with the ``__meta_kubernetes_*`` labels Kubernetes discovery would give them."""

    def __init__(self, kubeconfig: str, path: Path) -> None:
        self._api = kubernetes.client.CoreV1Api(
            kubernetes.config.new_client_from_config(config_file=kubeconfig)
        )
        self.path = path
        self._stop = threading.Event()
        self.write()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def targets(self) -> list[dict[str, Any]]:
        listed = self._api.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={NODE_NAME},status.phase=Running", _request_timeout=5
        )
        out = []
        for pod in listed.items:
            notes = pod.metadata.annotations or {}
            ip = pod.status.pod_ip if pod.status else None
            if notes.get("prometheus.io/scrape") != "true" or not ip:
                continue
            labels = {
                "__meta_kubernetes_namespace": pod.metadata.namespace,
                "__meta_kubernetes_pod_name": pod.metadata.name,
                "__meta_kubernetes_pod_label_app_kubernetes_io_instance": (
                    pod.metadata.labels or {}
                ).get(LABEL_INSTANCE, ""),
                "__metrics_path__": notes.get("prometheus.io/path", "/metrics"),
            }
            port = notes.get("prometheus.io/port", "80")
            out.append({"targets": [f"{ip}:{port}"], "labels": labels})
        return sorted(out, key=lambda t: str(t["targets"]))

    def write(self) -> None:
        staged = self.path.with_suffix(".tmp")
        staged.write_text(json.dumps(self.targets()))
        staged.replace(self.path)  # Prometheus never reads half a file

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):  # a missed round is retried a second later
                self.write()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def promql(base: str, query: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with OPENER.open(url, timeout=5) as response:
        doc = json.loads(response.read())
    assert doc["status"] == "success", doc
    result: list[dict[str, Any]] = doc["data"]["result"]
    return result


def promql_value(base: str, query: str) -> float | None:
    """The one value of an instant query; None when it has no series."""
    result = promql(base, query)
    if not result:
        return None
    assert len(result) == 1, result
    return float(result[0]["value"][1])
