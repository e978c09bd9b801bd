"""How the gateway reaches Redis: one address or Sentinel, with AUTH and TLS.

Where Redis is comes from the policy (``RateLimit.redis``); the secrets come from the pod:
the ACL user and password as environment variables filled from the Secret the spec names,
the CA as a file mounted from its Secret. The operator renders references to them and never
reads their values. The client only connects: batches go out on the connection through
``redis_channel.ReplyChannel``, packed by ``redis_encode``.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as redis_async
from redis.asyncio.connection import (
    Connection,
    ConnectionPool,
    SSLConnection,
    parse_url,
)
from redis.asyncio.sentinel import (
    Sentinel,
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)

from modelops.api.spec import REDIS_PASSWORD_ENV, REDIS_USERNAME_ENV
from modelops.api.spec import RedisBackend as RedisSpec


@dataclass(frozen=True)
class RedisSecrets:
    """What the pod holds for Redis: never in the policy, never logged."""

    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], ca_file: Path | None) -> "RedisSecrets":
        username = env.get(REDIS_USERNAME_ENV) or None
        return cls(username, env.get(REDIS_PASSWORD_ENV) or None, ca_file)

    def __repr__(self) -> str:  # the password must not reach a log through a repr
        return f"RedisSecrets(username={self.username!r}, ca_file={self.ca_file!r})"


def redis_url(address: str) -> str:
    """The policy allows ``host:port`` or a ``redis://`` URL."""
    if "://" in address:
        return address
    return f"redis://{address}"


def _uses_tls(spec: RedisSpec) -> bool:
    return spec.tls is not None or (spec.address or "").startswith("rediss://")


def _secret_options(spec: RedisSpec, secrets: RedisSecrets) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if secrets.password is not None:
        options["password"] = secrets.password
        if secrets.username is not None:
            options["username"] = secrets.username
    if _uses_tls(spec) and secrets.ca_file is not None:
        options["ssl_ca_certs"] = str(secrets.ca_file)
    return options


def _timeouts(timeout: float) -> dict[str, Any]:
    return {
        # No socket_timeout on the primary's connections: every command already has its
        # deadline (``ReplyChannel.call``), and redis-py would add its own per
        # command, a task for each write (``wait_for``: an extra turn of the loop, about
        # 20 us of CPU a batch measured with ``time.process_time``) and a timer per read.
        "socket_connect_timeout": timeout,
        # A dead Redis must cost one quick failure per batch, not a retry storm.
        "retry_on_timeout": False,
    }


def _sentinel_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def connect(spec: RedisSpec, secrets: RedisSecrets, timeout: float) -> "redis_async.Redis":
    """A client of the primary: at ``spec.address``, or wherever the sentinels say it is now
    (after a failover the next connection asks them again)."""
    # One batch is in flight at a time, on the one connection the backend keeps (the script
    # is loaded on it too): the pool only connects it.
    common = {**_timeouts(timeout), **_secret_options(spec, secrets), "max_connections": 1}
    if spec.sentinel is None:
        options: dict[str, Any] = dict(parse_url(redis_url(spec.address or "")))
        plain = options.pop("connection_class", Connection)
        if spec.tls is not None:
            plain = SSLConnection
        pool = ConnectionPool(connection_class=plain, **options, **common)
        return redis_async.Redis.from_pool(pool)
    tls = _uses_tls(spec)
    sentinel_options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    if tls:
        sentinel_options["ssl"] = True
        if secrets.ca_file is not None:
            sentinel_options["ssl_ca_certs"] = str(secrets.ca_file)
    # redis-py types Sentinel from 8.2 on; before that it is an untyped call.
    sentinels = Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
        [_sentinel_address(a) for a in spec.sentinel.addresses], sentinel_kwargs=sentinel_options
    )
    connection = SentinelManagedSSLConnection if tls else SentinelManagedConnection
    client: redis_async.Redis = sentinels.master_for(
        spec.sentinel.master_name,
        connection_pool_class=SentinelConnectionPool,
        connection_class=connection,
        **common,
    )
    return client


def secrets_from_pod(ca_file: Path | None) -> RedisSecrets:
    return RedisSecrets.from_env(os.environ, ca_file)
