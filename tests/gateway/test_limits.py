"""Request and token limits through the real gateway and a stub model on loopback."""

import asyncio
from pathlib import Path

import aiohttp

from tests.gateway.support import Stub, metric, proxied, run, statuses, write_policy

CHAT = "/v1/chat/completions"
PROMPT = {"messages": [{"role": "user", "content": "hello"}]}


def key(client: str) -> dict[str, str]:
    return {"X-API-Key": client}


def test_429_with_headers_after_the_limit(tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.yaml", "requestsPerMinute: 3\n")

    async def scenario() -> None:
        async with proxied(Stub(), policy) as (gw_url, gw, http):
            remaining = []
            for _ in range(3):
                async with http.post(gw_url + CHAT, json=PROMPT, headers=key("a")) as r:
                    assert r.status == 200
                    assert r.headers["X-RateLimit-Limit"] == "3"
                    remaining.append(r.headers["X-RateLimit-Remaining"])
            assert remaining == ["2", "1", "0"]
            async with http.post(gw_url + CHAT, json=PROMPT, headers=key("a")) as r:
                assert r.status == 429
                assert (await r.json())["error"]["type"] == "rate_limit_exceeded"
                assert r.headers["X-RateLimit-Remaining"] == "0"
                assert 55 <= int(r.headers["Retry-After"]) <= 61
                assert int(r.headers["X-RateLimit-Reset"]) == int(r.headers["Retry-After"])
            # Another client has its own budget.
            async with http.post(gw_url + CHAT, json=PROMPT, headers=key("b")) as r:
                assert r.status == 200
            labels = {"tier": "none", "limit": "requests", "track": "stable"}
            assert metric(gw, "modelops_gateway_rate_limited_total", labels) == 1

    run(scenario)


def test_global_limit_covers_all_clients(tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.yaml", "globalRequestsPerMinute: 2\n")

    async def scenario() -> None:
        async with proxied(Stub(), policy) as (gw_url, _, http):
            calls = [(gw_url + CHAT, PROMPT, client) for client in ("a", "b", "c")]
            assert await statuses(http, calls) == [200, 200, 429]

    run(scenario)


def test_missing_key_is_401_unless_anonymous(tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.yaml", "requestsPerMinute: 1\n")

    async def scenario() -> None:
        async with proxied(Stub(), policy) as (gw_url, _, http):
            async with http.post(gw_url + CHAT, json=PROMPT) as r:
                assert r.status == 401
            policy.write_text("requestsPerMinute: 1\nmissingKey: Anonymous\n")
            await _wait_reloaded(http, gw_url + CHAT, expect=200)

    run(scenario)


async def _wait_reloaded(http: aiohttp.ClientSession, url: str, expect: int) -> None:
    for _ in range(100):
        async with http.post(url, json=PROMPT) as r:
            if r.status == expect:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"policy reload never gave {expect}")


def test_tier_limits_and_reload_changes_limits(tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path / "p.yaml",
        "tierHeader: X-Tier\ntierHeaderTrusted: true\ntiers: [{name: free, requestsPerMinute: 1}]\n"
        "requestsPerMinute: 100\n",
    )

    async def scenario() -> None:
        async with proxied(Stub(), policy) as (gw_url, gw, http):
            free = {"X-API-Key": "f", "X-Tier": "free"}
            async with http.post(gw_url + CHAT, json=PROMPT, headers=free) as r:
                assert r.status == 200
            async with http.post(gw_url + CHAT, json=PROMPT, headers=free) as r:
                assert r.status == 429
            policy.write_text(
                "tierHeader: X-Tier\ntierHeaderTrusted: true\n"
                "tiers: [{name: free, requestsPerMinute: 5}]\n"
            )
            for _ in range(100):
                async with http.post(gw_url + CHAT, json=PROMPT, headers=free) as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the reloaded limit never applied")
            assert metric(gw, "modelops_gateway_policy_reloads_total", {"result": "reloaded"}) >= 1

    run(scenario)


def test_tokens_charged_from_json_answers(tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.yaml", "tokensPerMinute: 100\n")
    stub = Stub(tokens=60)

    async def scenario() -> None:
        async with proxied(stub, policy) as (gw_url, gw, http):
            codes = await statuses(http, [(gw_url + CHAT, PROMPT, "t")] * 3)
            # 60 used after the first, 120 after the second: the third finds no budget.
            assert codes == [200, 200, 429]
            assert stub.calls == 2
            labels = {"tier": "none", "track": "stable"}
            assert metric(gw, "modelops_gateway_tokens_total", labels) == 120

    run(scenario)
