"""Where the gateway's Redis settings come from: the policy says where, the pod holds secrets."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.asyncio.connection import SSLConnection

from modelops.api.spec import REDIS_PASSWORD_ENV, REDIS_USERNAME_ENV, RedisBackend
from modelops.gateway.redis_connect import RedisSecrets, connect


def test_secrets_come_from_the_environment_and_never_show_in_a_repr() -> None:
    env = {REDIS_USERNAME_ENV: "gateway", REDIS_PASSWORD_ENV: "s3cret"}
    secrets = RedisSecrets.from_env(env, Path("/ca.crt"))
    assert (secrets.username, secrets.password) == ("gateway", "s3cret")
    assert "s3cret" not in repr(secrets)
    assert RedisSecrets.from_env({REDIS_PASSWORD_ENV: ""}, None) == RedisSecrets()


@pytest.mark.parametrize(
    "redis",
    [{}, {"address": "r:6379", "sentinel": {"masterName": "m", "addresses": ["s:26379"]}}],
)
def test_exactly_one_of_address_and_sentinel(redis: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="exactly one of address and sentinel"):
        RedisBackend.model_validate(redis)


def test_tls_and_credentials_reach_the_connection() -> None:
    spec = RedisBackend.model_validate({"address": "r:6380", "tls": {}})
    client = connect(spec, RedisSecrets("u", "p", Path("/ca.crt")), timeout=0.5)
    options = client.connection_pool.connection_kwargs
    assert (options["username"], options["password"]) == ("u", "p")
    assert options["ssl_ca_certs"] == "/ca.crt"
    assert client.connection_pool.connection_class is SSLConnection


def test_a_sentinel_client_asks_for_the_named_primary() -> None:
    spec = RedisBackend.model_validate(
        {"sentinel": {"masterName": "main", "addresses": ["10.0.0.1:26379", "[::1]:26380"]}}
    )
    client = connect(spec, RedisSecrets(), timeout=0.5)
    pool = client.connection_pool
    assert pool.service_name == "main"
    sentinels = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
    assert [(s["host"], s["port"]) for s in sentinels] == [("10.0.0.1", 26379), ("::1", 26380)]
