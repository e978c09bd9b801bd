"""Calendar budgets in real gateways: the 429 that names the budget, a budget shared by two
gateways through Redis, and a spent budget that stands after Redis restarts."""

import asyncio
import time
from datetime import datetime
from pathlib import Path

import aiohttp

from modelops.gateway.budget_answers import BUDGET_NAME_HEADER, BUDGET_RESET_HEADER
from tests.gateway.conftest import RedisServer
from tests.gateway.redis_setups import DURABLE, redis_server, running
from tests.gateway.support import STEP_TIMEOUT, Stub, gateway, metric, run, serve, write_policy

CHAT = "/v1/chat/completions"
DAILY = "budgets: {timeZone: Europe/Paris, limits: [{name: daily, period: Day, requests: 3}]}\n"


async def _post(http: aiohttp.ClientSession, url: str, client: str) -> aiohttp.ClientResponse:
    async with http.post(url + CHAT, json={}, headers={"X-API-Key": client}) as response:
        await response.read()
        return response


def test_a_spent_budget_answers_429_naming_it_and_its_reset(tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.yaml", DAILY)

    async def scenario() -> None:
        async with (
            serve(Stub().app()) as up,
            gateway(up, policy) as (url, gw),
            aiohttp.ClientSession() as http,
        ):
            codes = [(await _post(http, url, "a")).status for _ in range(3)]
            assert codes == [200, 200, 200]
            async with http.post(url + CHAT, json={}, headers={"X-API-Key": "a"}) as refused:
                body = await refused.json()
                headers = refused.headers
            assert refused.status == 429
            error = body["error"]
            assert (error["type"], error["budget"], error["unit"]) == (
                "budget_exceeded",
                "daily",
                "requests",
            )
            assert headers[BUDGET_NAME_HEADER] == "daily"
            resets = datetime.fromisoformat(headers[BUDGET_RESET_HEADER])
            assert resets == datetime.fromisoformat(error["resets_at"])
            assert (resets.hour, resets.minute, resets.second) == (0, 0, 0)
            assert resets.utcoffset() is not None and resets.utcoffset() != 0  # Paris, not UTC
            until = resets.timestamp() - time.time()
            assert abs(int(headers["Retry-After"]) - until) <= 2
            assert headers["X-RateLimit-Remaining"] == "0"
            assert (await _post(http, url, "b")).status == 200  # a per-client budget
            used = metric(
                gw,
                "modelops_gateway_budget_used_total",
                {"budget": "daily", "tier": "none", "unit": "requests", "track": "stable"},
            )
            assert used == 4
            limited = {"tier": "none", "limit": "budget:daily", "track": "stable"}
            assert metric(gw, "modelops_gateway_rate_limited_total", limited) == 1

    run(scenario)


def test_two_gateways_share_one_budget(tmp_path: Path, redis_server: RedisServer) -> None:
    policy = write_policy(
        tmp_path / "p.yaml",
        "budgets: {limits: [{name: all, period: Month, scope: Global, requests: 5}]}\n"
        f"redis: {{address: '{redis_server.address}'}}\n",
    )

    async def scenario() -> None:
        async with (
            serve(Stub().app()) as up,
            gateway(up, policy) as (one, _),
            gateway(up, policy) as (two, _),
            aiohttp.ClientSession() as http,
        ):
            codes = [(await _post(http, (one, two)[i % 2], f"c{i}")).status for i in range(8)]
            assert codes == [200] * 5 + [429] * 3

    run(scenario)


def test_a_spent_budget_stands_after_redis_restarts(tmp_path: Path) -> None:
    """Money is not lost on a restart: with the AOF synced every second, a Redis killed mid
    period comes back with the spent budget, and the gateway keeps refusing."""
    durable = redis_server(tmp_path / "redis", *DURABLE)
    policy = write_policy(
        tmp_path / "p.yaml",
        DAILY + f"failureMode: Closed\nredis: {{address: '127.0.0.1:{durable.port}'}}\n",
    )

    async def scenario() -> None:
        async with (
            serve(Stub().app()) as up,
            gateway(up, policy, redis_timeout=2.0) as (url, _),
            aiohttp.ClientSession() as http,
        ):
            assert [(await _post(http, url, "a")).status for _ in range(4)] == [200] * 3 + [429]
            await asyncio.sleep(1.5)  # appendfsync everysec: the AOF has it on disk now
            durable.kill()
            assert (await _post(http, url, "a")).status == 503  # Closed while Redis is down
            await asyncio.to_thread(durable.start)
            deadline = time.monotonic() + STEP_TIMEOUT
            status = 503
            while status == 503 and time.monotonic() < deadline:
                status = (await _post(http, url, "a")).status
            assert status == 429
            assert (await _post(http, url, "b")).status == 200

    with running(durable):
        run(scenario)
