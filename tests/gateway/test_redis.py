"""Counters shared through a real redis-server, and what happens when it dies."""

import asyncio
import time
from pathlib import Path

import aiohttp

from tests.gateway.conftest import RedisServer
from tests.gateway.support import Stub, gateway, metric, proxied, run, serve, statuses, write_policy

CHAT = "/v1/chat/completions"


def test_two_gateways_share_one_limit(tmp_path: Path, redis_server: RedisServer) -> None:
    policy = write_policy(
        tmp_path / "p.yaml",
        f"requestsPerMinute: 5\nredis: {{address: '{redis_server.address}'}}\n",
    )

    async def scenario() -> None:
        async with (
            serve(Stub().app()) as up,
            gateway(up, policy) as (one, _),
            gateway(up, policy) as (two, _),
            aiohttp.ClientSession() as http,
        ):
            codes = []
            for i in range(10):
                url = (one, two)[i % 2] + CHAT
                async with http.post(url, json={}, headers={"X-API-Key": "shared"}) as r:
                    codes.append(r.status)
                    if r.status == 429:
                        assert int(r.headers["Retry-After"]) >= 1
            assert codes.count(200) == 5
            assert codes[:5] == [200] * 5

    run(scenario)


def test_tokens_are_shared_too(tmp_path: Path, redis_server: RedisServer) -> None:
    policy = write_policy(
        tmp_path / "p.yaml",
        f"tokensPerMinute: 15\nredis: {{address: '{redis_server.address}'}}\n",
    )

    async def scenario() -> None:
        async with (
            serve(Stub(tokens=10).app()) as up,
            gateway(up, policy) as (one, _),
            gateway(up, policy) as (two, _),
            aiohttp.ClientSession() as http,
        ):
            calls = [(url + CHAT, {"stream": True}, "k") for url in (one, two, one)]
            assert await statuses(http, calls) == [200, 200, 429]

    run(scenario)


def _dead_redis_scenario(
    tmp_path: Path, redis_server: RedisServer, mode: str, hang: bool = False
) -> list[int]:
    policy = write_policy(
        tmp_path / "p.yaml",
        f"requestsPerMinute: 100\nfailureMode: {mode}\n"
        f"redis: {{address: '{redis_server.address}'}}\n",
    )
    codes: list[int] = []

    async def scenario() -> None:
        async with proxied(Stub(), policy, redis_timeout=0.3) as (gw_url, gw, http):
            async with http.post(gw_url + CHAT, json={}, headers={"X-API-Key": "k"}) as r:
                codes.append(r.status)
            if hang:
                redis_server.freeze()
            else:
                redis_server.kill()
            for _ in range(3):
                async with http.post(gw_url + CHAT, json={}, headers={"X-API-Key": "k"}) as r:
                    codes.append(r.status)
            errors = metric(gw, "modelops_gateway_redis_errors_total", {"failure_mode": mode})
            assert errors == 3

    run(scenario)
    return codes


def test_dead_redis_fails_open(tmp_path: Path, redis_server: RedisServer) -> None:
    assert _dead_redis_scenario(tmp_path, redis_server, "Open") == [200, 200, 200, 200]


def test_dead_redis_fails_closed(tmp_path: Path, redis_server: RedisServer) -> None:
    assert _dead_redis_scenario(tmp_path, redis_server, "Closed") == [200, 503, 503, 503]


def test_hung_redis_costs_a_bounded_wait_then_fails_open(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    started = time.monotonic()
    assert _dead_redis_scenario(tmp_path, redis_server, "Open", hang=True) == [200] * 4
    # Three checks against a silent Redis, each bounded by the 0.3 s Redis timeout (x2).
    assert time.monotonic() - started < 6


def test_a_connection_redis_closed_while_idle_is_replaced_not_failed(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Redis' ``timeout`` or a proxy may close the gateway's idle connection: the next check
    goes out on a new one instead of failing (Closed would turn it into a 503)."""
    policy = write_policy(
        tmp_path / "p.yaml",
        "requestsPerMinute: 100\nfailureMode: Closed\n"
        f"redis: {{address: '{redis_server.address}'}}\n",
    )
    codes: list[int] = []

    async def scenario() -> None:
        async with proxied(Stub(), policy) as (gw_url, gw, http):
            async with http.post(gw_url + CHAT, json={}, headers={"X-API-Key": "k"}) as r:
                codes.append(r.status)
            with redis_server.client() as client:
                assert client.client_kill_filter(_type="normal", skipme=True) >= 1
            await asyncio.sleep(0.2)  # the close reaches the gateway's loop
            for _ in range(2):
                async with http.post(gw_url + CHAT, json={}, headers={"X-API-Key": "k"}) as r:
                    codes.append(r.status)
            assert metric(gw, "modelops_gateway_redis_errors_total") == 0

    run(scenario)
    assert codes == [200, 200, 200]
