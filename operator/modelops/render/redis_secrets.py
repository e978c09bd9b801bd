"""What the gateway sidecar needs to reach a Redis that asks for a password or TLS: the ACL
user and password as environment variables from the Secret the spec names, the CA as a file
mounted from its Secret. Only references: the operator never reads a Secret's values (its
RBAC grants no access to Secrets; the kubelet resolves them for the pod)."""

from typing import Any

from modelops.api.spec import REDIS_PASSWORD_ENV, REDIS_USERNAME_ENV, RedisBackend

REDIS_CA_VOLUME = "redis-ca"
REDIS_CA_DIR = "/etc/modelops/redis-ca"
REDIS_CA_FILE = "ca.crt"


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def redis_env(redis: RedisBackend | None) -> list[dict[str, Any]]:
    if redis is None or redis.credentials is None:
        return []
    creds = redis.credentials
    env = [_secret_env(REDIS_PASSWORD_ENV, creds.secret, creds.password_key)]
    if creds.username_key is not None:
        env.insert(0, _secret_env(REDIS_USERNAME_ENV, creds.secret, creds.username_key))
    return env


def _ca(redis: RedisBackend | None) -> Any:
    return redis.tls.ca_secret if redis and redis.tls and redis.tls.ca_secret else None


def redis_ca_args(redis: RedisBackend | None) -> list[str]:
    return ["--redis-ca-file", f"{REDIS_CA_DIR}/{REDIS_CA_FILE}"] if _ca(redis) else []


def redis_ca_mounts(redis: RedisBackend | None) -> list[dict[str, Any]]:
    if not _ca(redis):
        return []
    return [{"name": REDIS_CA_VOLUME, "mountPath": REDIS_CA_DIR, "readOnly": True}]


def redis_ca_volumes(redis: RedisBackend | None) -> list[dict[str, Any]]:
    ca = _ca(redis)
    if ca is None:
        return []
    items = [{"key": ca.key, "path": REDIS_CA_FILE}]
    return [{"name": REDIS_CA_VOLUME, "secret": {"secretName": ca.name, "items": items}}]
