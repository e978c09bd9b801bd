"""The model pod template: container, probes, security defaults, placement."""

import hashlib
import json
from typing import Any

from modelops.api.spec import DEFAULT_DRAIN_SECONDS, HttpProbe, ModelServiceSpec, Probes
from modelops.render.context import RenderContext, Track
from modelops.render.forwarding import (
    forwarding_args,
    forwarding_mounts,
    forwarding_volumes,
    uses_gateway_routing,
)
from modelops.render.meta import LABEL_TRACK, LABEL_VERSION, common_labels, track_selector
from modelops.render.redis_secrets import redis_ca_volumes
from modelops.render.sidecar import GATEWAY_PORT, gateway_container, gateway_volumes
from modelops.render.source import (
    fetch_container,
    model_dir_env,
    model_files_mount,
    model_files_volume,
)

CONTAINER_NAME = "model"
PORT_NAME = "http"
MODEL_TMP_VOLUME = "model-tmp"  # the writable /tmp of a read-only model container
# A mount point inside the pod, not a file this process opens.
MODEL_TMP_PATH = "/tmp"  # noqa: S108  # nosec B108


# Pods run with the restricted Pod Security Standard's settings. Functions, not constants:
# every manifest gets its own dicts, so nothing is shared (or dumped as a YAML alias).
def pod_security_context() -> dict[str, Any]:
    return {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _http_probe(probe: HttpProbe) -> dict[str, Any]:
    out: dict[str, Any] = {"httpGet": {"path": probe.path, "port": probe.port or PORT_NAME}}
    fields = {
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }
    out.update({key: value for key, value in fields.items() if value is not None})
    return out


def _probes(probes: Probes | None) -> dict[str, Any]:
    if probes is None:
        # A TCP check works for any server. The startup probe gives a loading model
        # 10 minutes before liveness may restart it.
        return {
            "readinessProbe": {"tcpSocket": {"port": PORT_NAME}, "periodSeconds": 5},
            "livenessProbe": {"tcpSocket": {"port": PORT_NAME}, "periodSeconds": 10},
            "startupProbe": {
                "tcpSocket": {"port": PORT_NAME},
                "periodSeconds": 10,
                "failureThreshold": 60,
            },
        }
    out = {}
    if probes.readiness:
        out["readinessProbe"] = _http_probe(probes.readiness)
    if probes.liveness:
        out["livenessProbe"] = _http_probe(probes.liveness)
    if probes.startup:
        out["startupProbe"] = _http_probe(probes.startup)
    return out


def model_container(spec: ModelServiceSpec) -> dict[str, Any]:
    model = spec.model
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": model.image,
        "ports": [{"name": PORT_NAME, "containerPort": model.port, "protocol": "TCP"}],
        "securityContext": container_security_context(),
        **_probes(spec.probes),
    }
    if model.command:
        container["command"] = list(model.command)
    if model.args:
        container["args"] = list(model.args)
    if model.env:
        container["env"] = [env.to_api() for env in model.env]
    if model.source:
        # First, so a MODEL_DIR of the spec's own env overrides it.
        container["env"] = [model_dir_env(model.source), *container.get("env", [])]
    if model.resources:
        container["resources"] = model.resources.to_api()
    if model.read_only_root_filesystem:
        container["securityContext"]["readOnlyRootFilesystem"] = True
        container["volumeMounts"] = [{"name": MODEL_TMP_VOLUME, "mountPath": MODEL_TMP_PATH}]
    if model.source:
        mounts = container.get("volumeMounts", [])
        container["volumeMounts"] = [*mounts, model_files_mount(model.source)]
    return container


def drain_seconds(spec: ModelServiceSpec) -> int:
    """How long a deleted pod's containers keep serving (``podTemplate.drainSeconds``)."""
    chosen = spec.pod_template.drain_seconds if spec.pod_template else None
    return DEFAULT_DRAIN_SECONDS if chosen is None else chosen


def pod_template(ctx: RenderContext, spec: ModelServiceSpec, track: Track) -> dict[str, Any]:
    """The pod template of one track's Deployment, for the spec that track runs."""
    extra = spec.pod_template
    labels = {
        **(extra.labels if extra and extra.labels else {}),
        **common_labels(ctx),
        **track_selector(ctx, track),
        LABEL_VERSION: spec.model.version,
        LABEL_TRACK: track.value,
    }
    gated = spec.rate_limit is not None
    annotations = {
        **(extra.annotations if extra and extra.annotations else {}),
        "prometheus.io/scrape": "true",
        # With the gateway, Prometheus scrapes its per-track request metrics.
        "prometheus.io/port": str(GATEWAY_PORT if gated else spec.model.port),
        "prometheus.io/path": "/metrics",
    }
    containers = [model_container(spec)]
    pod: dict[str, Any] = {"securityContext": pod_security_context(), "containers": containers}
    if not (extra and extra.service_account_name):
        # A model server has no business with the Kubernetes API: the namespace's default
        # account's token stays out of the pod. A named account is the user's choice, token
        # and all.
        pod["automountServiceAccountToken"] = False
    volumes = []
    if spec.model.read_only_root_filesystem:
        volumes.append({"name": MODEL_TMP_VOLUME, "emptyDir": {}})
    if gated:
        sidecar = gateway_container(ctx, spec, track, container_security_context())
        containers.append(sidecar)
        volumes.extend(gateway_volumes(ctx, spec))
        volumes.extend(redis_ca_volumes(spec.rate_limit.redis if spec.rate_limit else None))
        if uses_gateway_routing(ctx):
            sidecar["args"] += forwarding_args()
            sidecar["volumeMounts"] += forwarding_mounts()
            volumes += forwarding_volumes(ctx)
    drain = drain_seconds(spec)
    if drain:
        for container in containers:
            container["lifecycle"] = {"preStop": {"sleep": {"seconds": drain}}}
    if spec.model.source:
        volumes.append(model_files_volume(spec.model.source))
        fetch = fetch_container(spec.model.source, ctx.gateway_image, container_security_context())
        if fetch:
            pod["initContainers"] = [fetch]
    if volumes:
        pod["volumes"] = volumes
    if extra:
        optional = {
            "nodeSelector": extra.node_selector,
            "tolerations": extra.tolerations,
            "affinity": extra.affinity,
            "serviceAccountName": extra.service_account_name,
            "priorityClassName": extra.priority_class_name,
            "terminationGracePeriodSeconds": extra.termination_grace_period_seconds,
        }
        pod.update({key: value for key, value in optional.items() if value is not None})
        if extra.image_pull_secrets:
            pod["imagePullSecrets"] = [{"name": name} for name in extra.image_pull_secrets]
    return {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod}


def shaping(spec: ModelServiceSpec) -> dict[str, Any]:
    """The part of a spec that shapes the pods, written once: ``revision`` hashes it, and a
    rollout keeps it in status.stableTemplate to render stable from it (``with_shaping``)."""
    out: dict[str, Any] = {"model": spec.model.to_api()}
    if spec.pod_template:
        out["podTemplate"] = spec.pod_template.to_api()
    if spec.probes:
        out["probes"] = spec.probes.to_api()
    if spec.data_path:
        # Only when set: specs without it keep their revision (and pods) across upgrades.
        out["dataPath"] = spec.data_path.to_api()
    return out


def revision(spec: ModelServiceSpec) -> str:
    """A short hash of everything that shapes the pods; a new one means a new rollout."""
    # Absent parts hash as null, as they always have: the same spec keeps its revision
    # across operator upgrades (a changed hash would start a rollout of every service).
    hashed = {"podTemplate": None, "probes": None, **shaping(spec)}
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()
    return digest[:10]
