"""The gateway against Redis as larger teams run it: an ACL user, TLS with the team's own CA,
and a primary that fails over under Sentinel while the limits keep holding."""

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from modelops.api.spec import REDIS_PASSWORD_ENV, REDIS_USERNAME_ENV
from tests.gateway.redis_setups import redis_server, running, sentinel, tls_redis
from tests.gateway.support import STEP_TIMEOUT, Stub, gateway, run, serve, write_policy

CHAT = "/v1/chat/completions"
LIMITS = "requestsPerMinute: 2\nfailureMode: Closed\n"
# Redis timeout: a TLS handshake on a loaded 2-core box can take longer than the default 0.5 s.
SLOW_BOX = 2.0


async def _codes(url: str, client: str, count: int) -> list[int]:
    async with aiohttp.ClientSession() as http:
        codes = []
        for _ in range(count):
            async with http.post(url + CHAT, json={}, headers={"X-API-Key": client}) as r:
                await r.read()
                codes.append(r.status)
        return codes


# The commands the README says the gateway's user needs, and no other: the script's, and the
# two that run it; PING and KEYS are this test's (is the server up, what did it write).
SCRIPT_COMMANDS = (
    *("+evalsha", "+script|load", "+time", "+hgetall", "+hmget", "+hset", "+hdel"),
    *("+hincrby", "+pexpire", "+get", "+incrby", "+expireat", "+ping", "+keys"),
)


def test_an_acl_user_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = redis_server(
        tmp_path / "redis",
        # Each word its own argument: redis-server quotes an argument that holds a space.
        *("--user", "default", "off"),
        *("--user", "gateway", "on", ">s3cret", "~modelops:*", *SCRIPT_COMMANDS),
        username="gateway",
        password="s3cret",
    )
    policy = write_policy(
        tmp_path / "p.yaml", LIMITS + f"redis: {{address: '127.0.0.1:{server.port}'}}\n"
    )

    async def scenario(want: list[int]) -> None:
        async with (
            serve(Stub().app()) as up,
            gateway(up, policy, redis_timeout=SLOW_BOX) as (url, _),
        ):
            assert await _codes(url, "k", 3) == want

    with running(server):
        monkeypatch.setenv(REDIS_USERNAME_ENV, "gateway")
        monkeypatch.setenv(REDIS_PASSWORD_ENV, "wrong")
        run(lambda: scenario([503, 503, 503]))  # refused by Redis: Closed
        monkeypatch.setenv(REDIS_PASSWORD_ENV, "s3cret")
        run(lambda: scenario([200, 200, 429]))
        with server.client() as client:
            assert client.keys("modelops:rl:*")


def test_tls_with_the_team_s_ca(tmp_path: Path) -> None:
    server, ca = tls_redis(tmp_path / "tls")
    policy = write_policy(
        tmp_path / "p.yaml", LIMITS + f"redis: {{address: 'rediss://127.0.0.1:{server.port}'}}\n"
    )

    async def scenario(want: list[int], ca_file: Path | None) -> None:
        async with (
            serve(Stub().app()) as up,
            gateway(up, policy, redis_ca_file=ca_file, redis_timeout=SLOW_BOX) as (url, _),
        ):
            assert await _codes(url, "k", 3) == want

    with running(server):
        run(lambda: scenario([503, 503, 503], None))  # the system CAs do not know it
        run(lambda: scenario([200, 200, 429], ca))


def test_limits_hold_across_a_sentinel_failover(tmp_path: Path) -> None:
    primary = redis_server(tmp_path / "primary")
    replica = redis_server(tmp_path / "replica")
    replica.argv += ["--replicaof", "127.0.0.1", str(primary.port)]
    watcher = sentinel(tmp_path / "sentinel", "main", primary)
    policy = write_policy(
        tmp_path / "p.yaml",
        "requestsPerMinute: 2\nfailureMode: Closed\n"
        "budgets: {limits: [{name: all, period: Day, scope: Global, requests: 4}]}\n"
        f"redis: {{sentinel: {{masterName: main, addresses: ['127.0.0.1:{watcher.port}']}}}}\n",
    )

    async def scenario() -> None:
        async with (
            serve(Stub().app()) as up,
            gateway(up, policy, redis_timeout=SLOW_BOX) as (url, _),
        ):
            assert await _codes(url, "a", 3) == [200, 200, 429]
            assert await _codes(url, "b", 1) == [200]
            with primary.client() as client:
                assert client.wait(1, 2000) == 1  # the replica has every counter
            primary.kill()
            gap = await _codes(url, "a", 1)
            assert gap == [503]  # Closed: no admission while there is no primary
            deadline = time.monotonic() + STEP_TIMEOUT
            while gap == [503] and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                gap = await _codes(url, "a", 1)
            assert gap == [429]  # the promoted replica still counts a's two requests
            # b's second request is the fourth of the global budget, c's the fifth.
            assert await _codes(url, "b", 1) == [200]
            assert await _codes(url, "c", 1) == [429]

    with running(primary, replica):
        deadline = time.monotonic() + STEP_TIMEOUT
        with replica.client() as client:
            while client.info("replication")["master_link_status"] != "up":
                assert time.monotonic() < deadline, "the replica never synced"
                time.sleep(0.05)
        with running(watcher):
            run(scenario)
