"""The gateway sidecar's Redis secrets: references the kubelet resolves, never values."""

from typing import Any

from modelops.api.spec import REDIS_PASSWORD_ENV, REDIS_USERNAME_ENV
from tests.support.samples import full_model_service
from tests.unit.test_render import by_kind, render


def _pod(redis: dict[str, Any]) -> dict[str, Any]:
    document = full_model_service("a")
    document["spec"]["rateLimit"]["redis"] = redis
    (deployment,) = by_kind(render(document), "Deployment")
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _gateway(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = next(c for c in pod["containers"] if c["name"] == "gateway")
    return container


def test_acl_user_and_password_come_from_the_secret_as_env() -> None:
    pod = _pod(
        {
            "address": "redis:6379",
            "credentials": {"secret": "redis-auth", "usernameKey": "user", "passwordKey": "pw"},
        }
    )
    assert _gateway(pod)["env"] == [
        {
            "name": REDIS_USERNAME_ENV,
            "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "user"}},
        },
        {
            "name": REDIS_PASSWORD_ENV,
            "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "pw"}},
        },
    ]


def test_the_ca_is_mounted_from_its_secret_and_named_to_the_gateway() -> None:
    pod = _pod(
        {
            "sentinel": {"masterName": "main", "addresses": ["s1:26379", "s2:26379"]},
            "tls": {"caSecret": {"name": "redis-tls", "key": "ca.pem"}},
        }
    )
    gateway = _gateway(pod)
    args = gateway["args"]
    assert args[args.index("--redis-ca-file") + 1] == "/etc/modelops/redis-ca/ca.crt"
    assert {"name": "redis-ca", "mountPath": "/etc/modelops/redis-ca", "readOnly": True} in (
        gateway["volumeMounts"]
    )
    assert {
        "name": "redis-ca",
        "secret": {"secretName": "redis-tls", "items": [{"key": "ca.pem", "path": "ca.crt"}]},
    } in pod["volumes"]
    assert "env" not in gateway


def test_plain_redis_renders_as_before() -> None:
    pod = _pod({"address": "redis:6379"})
    gateway = _gateway(pod)
    assert "env" not in gateway
    assert "--redis-ca-file" not in gateway["args"]
    assert [v["name"] for v in pod["volumes"]] == ["ratelimit-policy"]
