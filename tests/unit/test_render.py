"""Renderers: golden files for whole outputs, and the rules each manifest must keep.

Regenerate the golden files after an intended change: UPDATE_GOLDEN=1 pytest tests/unit.
"""

import os
from pathlib import Path
from typing import Any

import pytest

from modelops.manifests import dump_all, parse_model_service
from modelops.render import RenderContext, Track, desired_children
from modelops.render.children import canary_replicas
from modelops.render.pod import MODEL_TMP_VOLUME, model_container, revision
from tests.support.hardening import hardening_problems, pod_specs
from tests.support.samples import full_model_service, model_service

GOLDEN = Path(__file__).parent / "golden"
SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def render(document: dict[str, Any], uid: str = "uid-1") -> list[dict[str, Any]]:
    document = {**document, "metadata": {**document["metadata"], "namespace": "ml", "uid": uid}}
    return desired_children(RenderContext.steady(parse_model_service(document)))


def by_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


@pytest.mark.parametrize("sample", sorted(p.stem for p in SAMPLES.glob("*.yaml")))
def test_samples_match_golden_files(sample: str) -> None:
    import yaml  # noqa: PLC0415

    document = yaml.safe_load((SAMPLES / f"{sample}.yaml").read_text())
    rendered = dump_all(render(document))
    golden = GOLDEN / f"{sample}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert rendered == golden.read_text(), f"{golden} differs: UPDATE_GOLDEN=1 if intended"


def test_output_is_deterministic() -> None:
    assert dump_all(render(full_model_service("a"))) == dump_all(render(full_model_service("a")))


def test_every_child_is_owned_and_labelled() -> None:
    for manifest in render(full_model_service("a")):
        meta = manifest["metadata"]
        assert meta["namespace"] == "ml"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "modelops.dev/v1alpha1",
                "kind": "ModelService",
                "name": "a",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "modelops"
        assert meta["labels"]["app.kubernetes.io/instance"] == "a"


def test_autoscaled_stable_leaves_replicas_to_the_hpa() -> None:
    (deployment,) = by_kind(render(full_model_service("a")), "Deployment")
    assert "replicas" not in deployment["spec"]
    (hpa,) = by_kind(render(full_model_service("a")), "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "a-stable"
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def test_fixed_replicas_without_autoscaling() -> None:
    manifests = render(model_service("a", replicas=3))
    (deployment,) = by_kind(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert by_kind(manifests, "HorizontalPodAutoscaler") == []
    assert by_kind(manifests, "ConfigMap") == []


def _every_pod_rendered() -> dict[str, dict[str, Any]]:
    """Stable and canary Deployments of every sample and of the full test ModelService."""
    import yaml  # noqa: PLC0415

    documents = [yaml.safe_load(p.read_text()) for p in sorted(SAMPLES.glob("*.yaml"))]
    documents.append(full_model_service("full"))
    pods = {}
    for document in documents:
        placed = {**document, "metadata": {**document["metadata"], "namespace": "ml"}}
        service = parse_model_service(placed)
        steady = RenderContext.steady(service)
        # A canary running beside stable: both tracks' pods.
        ctx = RenderContext(steady.name, "ml", "u", service.spec, service.spec, service.spec, 10)
        for name, pod in pod_specs(desired_children(ctx)).items():
            pods[f"{service.metadata.name} {name}"] = pod
    return pods


def test_pods_run_restricted() -> None:
    pods = _every_pod_rendered()
    assert len(pods) >= 14  # stable and canary of each sample and of the full service
    problems = [line for where, pod in pods.items() for line in hardening_problems(pod, where)]
    assert problems == []


def test_model_pods_get_no_api_token_unless_they_name_an_account() -> None:
    for where, pod in _every_pod_rendered().items():
        if "serviceAccountName" in pod:
            assert "automountServiceAccountToken" not in pod, where
        else:
            assert pod["automountServiceAccountToken"] is False, where


def test_every_serving_container_drains_before_it_stops() -> None:
    for where, pod in _every_pod_rendered().items():
        for container in pod["containers"]:
            hook = container["lifecycle"]["preStop"]
            assert hook == {"sleep": {"seconds": 5}}, (where, container["name"])


@pytest.mark.parametrize(
    ("template", "drain"),
    [({"drainSeconds": 0}, None), ({"drainSeconds": 20, "terminationGracePeriodSeconds": 60}, 20)],
)
def test_drain_seconds_are_the_spec_s(template: dict[str, Any], drain: int | None) -> None:
    limits = {"requestsPerMinute": 60}
    document = model_service("drained", podTemplate=template, rateLimit=limits, replicas=1)
    (deployment,) = by_kind(render(document), "Deployment")
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        got = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
        assert got == drain, container["name"]


@pytest.mark.parametrize(
    "template",
    [{"drainSeconds": 30}, {"terminationGracePeriodSeconds": 5}, {"drainSeconds": 60}],
)
def test_a_drain_that_outlasts_the_grace_period_is_refused(template: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="drainSeconds must be less than"):
        parse_model_service(model_service("drained", podTemplate=template))


def test_gpu_limits_and_placement_pass_through() -> None:
    document = model_service(
        "gpu",
        podTemplate={
            "nodeSelector": {"nvidia.com/gpu.product": "A100"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
        },
    )
    document["spec"]["model"]["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    (deployment,) = by_kind(render(document), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "A100"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_selector_never_holds_the_version() -> None:
    """A Deployment's selector is immutable: a version in it would break every upgrade."""
    for version in ("1.0.0", "2.0.0"):
        (deployment,) = by_kind(render(model_service("a", version)), "Deployment")
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert "app.kubernetes.io/version" not in selector
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/version"] == version


def test_ratelimit_configmap_holds_policy_and_envoy_config() -> None:
    import yaml  # noqa: PLC0415

    (configmap,) = by_kind(render(full_model_service("a")), "ConfigMap")
    policy = yaml.safe_load(configmap["data"]["policy.yaml"])
    assert policy["tiers"] == [{"name": "free", "requestsPerMinute": 10, "tokensPerMinute": 1000}]
    envoy = yaml.safe_load(configmap["data"]["envoy-ratelimit.yaml"])
    assert envoy["domain"] == "ml.a"
    free = envoy["descriptors"][0]
    assert free["value"] == "free"
    assert free["descriptors"][0]["rate_limit"] == {"unit": "minute", "requests_per_unit": 10}


def test_pdb_never_blocks_drains_by_default() -> None:
    (pdb,) = by_kind(render(model_service("a", replicas=1)), "PodDisruptionBudget")
    assert pdb["spec"] == {
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/component": "model-server",
                "app.kubernetes.io/instance": "a",
            }
        },
        "maxUnavailable": 1,
    }


@pytest.mark.parametrize(
    ("base", "weight", "want"), [(2, 10, 1), (10, 10, 1), (10, 25, 3), (4, 50, 2)]
)
def test_canary_replicas_round_up_and_never_zero(base: int, weight: int, want: int) -> None:
    service = parse_model_service(model_service("a", replicas=base))
    ctx = RenderContext.steady(service)
    ctx = RenderContext(ctx.name, ctx.namespace, ctx.uid, ctx.spec, ctx.spec, ctx.spec, weight)
    assert canary_replicas(ctx) == want
    canary = [
        m
        for m in desired_children(ctx)
        if m["kind"] == "Deployment" and m["metadata"]["name"].endswith(Track.CANARY.value)
    ]
    assert canary[0]["spec"]["replicas"] == want


def test_rate_limit_puts_the_gateway_in_front_of_the_model() -> None:
    manifests = render(full_model_service("a"))
    (deployment,) = by_kind(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    gateway = next(c for c in pod["containers"] if c["name"] == "gateway")
    args = gateway["args"]
    assert args[args.index("--upstream") + 1] == "http://127.0.0.1:8080"
    assert args[args.index("--track") + 1] == "stable"
    assert args[args.index("--policy") + 1] == "/etc/modelops/ratelimit/policy.yaml"
    assert gateway["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["volumes"] == [{"name": "ratelimit-policy", "configMap": {"name": "a-ratelimit"}}]
    (service,) = by_kind(manifests, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "gateway"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9000"


def test_without_rate_limit_there_is_no_sidecar() -> None:
    manifests = render(model_service("a"))
    (deployment,) = by_kind(manifests, "Deployment")
    assert [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]] == ["model"]
    (service,) = by_kind(manifests, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_read_only_model_container_gets_a_tmp_and_unset_renders_as_before() -> None:
    plain = model_service("ro", "1.0.0")
    read_only = model_service("ro", "1.0.0")
    read_only["spec"]["model"]["readOnlyRootFilesystem"] = True
    before = parse_model_service(plain).spec
    after = parse_model_service(read_only).spec
    assert revision(before) != revision(after)
    rendered = model_container(after)
    assert rendered["securityContext"]["readOnlyRootFilesystem"] is True
    assert rendered["volumeMounts"] == [{"name": MODEL_TMP_VOLUME, "mountPath": "/tmp"}]
    assert "readOnlyRootFilesystem" not in model_container(before)["securityContext"]
    assert "volumeMounts" not in model_container(before)
