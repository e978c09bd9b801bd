"""spec.rateLimit.auth and spec.dataPath: admission rules, the gateway flags and volume they
render, and how a change reaches the pods (a new revision, so a rollout)."""

from typing import Any

import pytest

from modelops.api import SpecError
from modelops.gateway.app import build_parser, config_from_args
from modelops.manifests import parse_model_service
from modelops.render import RenderContext, desired_children
from modelops.render.pod import revision, shaping
from modelops.rollout.plan import with_shaping
from tests.support.samples import model_service

DATA_PATH = {
    "timeouts": {"connect": "1500ms", "idle": "30s", "total": "5m"},
    "retries": {"attempts": 2, "backoff": "50ms", "maxBackoff": "1s"},
    "circuitBreaker": {"failures": 3, "cooldown": "10s"},
    "fallback": {
        "modelServices": ["small", "tiny"],
        "staticResponse": {"body": '{"answer": "busy"}', "status": 503},
    },
    "validation": {"maxBodyBytes": 65536, "maxMessageChars": 4000, "maxTokens": 512},
}
LIMITS = {"requestsPerMinute": 10}


def _gateway(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    document = {**document, "metadata": {"name": document["metadata"]["name"], "namespace": "ml"}}
    children = desired_children(RenderContext.steady(parse_model_service(document)))
    (deployment,) = [c for c in children if c["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (gateway,) = [c for c in pod["containers"] if c["name"] == "gateway"]
    return pod, gateway


def test_data_path_renders_gateway_flags_the_gateway_parses() -> None:
    _, gateway = _gateway(model_service("a", replicas=1, rateLimit=LIMITS, dataPath=DATA_PATH))
    config = config_from_args(build_parser().parse_args(gateway["args"]))
    assert (config.upstream_connect_timeout, config.upstream_timeout) == (1.5, 30.0)
    assert config.upstream_total_timeout == 300.0
    assert (config.retries, config.retry_backoff, config.retry_max_backoff) == (2, 0.05, 1.0)
    assert (config.breaker_failures, config.breaker_cooldown) == (3, 10.0)
    assert config.fallbacks == (
        ("small", "http://small.ml.svc:80"),
        ("tiny", "http://tiny.ml.svc:80"),
    )
    assert config.static_response is not None
    assert (config.static_response.status, config.static_response.body) == (
        503,
        '{"answer": "busy"}',
    )
    assert (config.max_body_bytes, config.max_message_chars, config.max_tokens) == (
        65536,
        4000,
        512,
    )


def test_without_data_path_the_gateway_runs_its_defaults() -> None:
    _, gateway = _gateway(model_service("a", replicas=1, rateLimit=LIMITS))
    config = config_from_args(build_parser().parse_args(gateway["args"]))
    assert config.keys_path is None and config.fallbacks == () and config.retries == 0
    assert config.static_response is None and config.max_tokens is None


def test_api_keys_mount_the_secret_into_the_gateway_only() -> None:
    auth = {**LIMITS, "auth": {"secretName": "a-keys"}}
    pod, gateway = _gateway(model_service("a", replicas=1, rateLimit=auth))
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["api-keys"]["secret"] == {
        "secretName": "a-keys",
        "items": [{"key": "keys.yaml", "path": "keys.yaml"}],
    }
    assert {"name": "api-keys", "mountPath": "/etc/modelops/auth", "readOnly": True} in gateway[
        "volumeMounts"
    ]
    (model,) = [c for c in pod["containers"] if c["name"] == "model"]
    assert "volumeMounts" not in model
    config = config_from_args(build_parser().parse_args(gateway["args"]))
    assert str(config.keys_path) == "/etc/modelops/auth/keys.yaml"


def test_a_data_path_change_is_a_new_revision_and_stable_keeps_the_old_one() -> None:
    plain = parse_model_service(model_service("a", replicas=1, rateLimit=LIMITS)).spec
    changed = parse_model_service(
        model_service("a", replicas=1, rateLimit=LIMITS, dataPath=DATA_PATH)
    ).spec
    # A spec without dataPath hashes as before it existed: upgrading rolls no pods.
    assert "dataPath" not in shaping(plain)
    assert revision(changed) != revision(plain)
    stable = with_shaping(changed, shaping(plain))
    assert stable.data_path is None
    assert revision(stable) == revision(plain)
    assert with_shaping(plain, shaping(changed)).data_path == changed.data_path


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"replicas": 3, "rateLimit": LIMITS},
            "rateLimit without redis counts in each pod alone: set rateLimit.redis",
        ),
        (
            {"replicas": 1, "autoscaling": {"maxReplicas": 4}, "rateLimit": LIMITS},
            "or run at most 1 replica (replicas, autoscaling.maxReplicas)",
        ),
        ({"replicas": 1, "dataPath": {}}, "dataPath needs rateLimit"),
        (
            {
                "replicas": 1,
                "rateLimit": LIMITS,
                "dataPath": {"retries": {"attempts": 1, "backoff": "2m"}},
            },
            "backoff must be between 1ms and 1m",
        ),
    ],
)
def test_refused_specs_say_why(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_model_service(model_service("a", **spec))
    assert any(message in line for line in raised.value.messages), raised.value.messages


@pytest.mark.parametrize(
    "spec",
    [
        {"replicas": 1, "rateLimit": LIMITS},
        {"replicas": 0, "rateLimit": LIMITS},
        {"replicas": 3, "rateLimit": {**LIMITS, "redis": {"address": "r:6379"}}},
        {"replicas": 5, "autoscaling": {"maxReplicas": 1}, "rateLimit": LIMITS},
        {"replicas": 3},
    ],
)
def test_limits_that_hold_for_the_service_are_accepted(spec: dict[str, Any]) -> None:
    parse_model_service(model_service("a", **spec))
