"""Protecting the model: body size, timeouts, circuit breaker and fallback."""

import asyncio
from collections.abc import AsyncIterator

import aiohttp

from tests.gateway.support import Stub, closed_port_url, gateway, metric, proxied, run, serve

CHAT = "/v1/chat/completions"


def test_oversized_body_is_400_and_never_reaches_the_model() -> None:
    stub = Stub()

    async def body_stream() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 500

    async def scenario() -> None:
        async with proxied(stub, max_body_bytes=1000) as (gw_url, _, http):
            async with http.post(gw_url + CHAT, data=b"x" * 2000) as r:
                assert r.status == 400
                assert (await r.json())["error"]["type"] == "invalid_request_error"
            # Chunked: no Content-Length to refuse on, the limit applies while reading.
            async with http.post(gw_url + CHAT, data=body_stream()) as r:
                assert r.status == 400
                assert (await r.json())["error"]["type"] == "invalid_request_error"
            async with http.post(gw_url + CHAT, json={"m": "small"}) as r:
                assert r.status == 200
            assert stub.calls == 1

    run(scenario)


def test_a_json_answer_past_the_cap_is_passed_on_whole_as_a_stream() -> None:
    """An answer that came whole but is larger than ``max_body_bytes`` is not held for its
    usage: it goes on chunked, every byte of it."""
    stub = Stub()

    async def scenario() -> None:
        async with proxied(stub, max_body_bytes=60) as (gw_url, _, http):
            async with http.post(gw_url + CHAT, json={}) as r:
                assert r.status == 200
                assert r.headers["Transfer-Encoding"] == "chunked"
                answer = await r.json()
            assert answer["usage"]["total_tokens"] == stub.tokens
            assert answer["choices"][0]["message"]["content"] == "hi"

    run(scenario)


def test_slow_upstream_is_504() -> None:
    stub = Stub(delay=2.0)

    async def scenario() -> None:
        async with (
            proxied(stub, upstream_timeout=0.3) as (gw_url, _, http),
            http.post(gw_url + CHAT, json={}) as r,
        ):
            assert r.status == 504
            assert (await r.json())["error"]["type"] == "upstream_timeout"

    run(scenario)


def test_breaker_opens_and_fallback_answers() -> None:
    primary, fallback = Stub(fail_status=500), Stub(tokens=5)

    async def scenario() -> None:
        async with (
            serve(fallback.app()) as f,
            proxied(primary, fallback_upstream=f, breaker_failures=2, breaker_cooldown=0.5) as (
                gw_url,
                gw,
                http,
            ),
        ):
            for _ in range(4):
                async with http.post(gw_url + CHAT, json={}) as r:
                    assert r.status == 200
            # Two failures opened the breaker: later requests skip the primary.
            assert primary.calls == 2
            assert fallback.calls == 4
            assert metric(gw, "modelops_gateway_breaker_state", {"upstream": "primary"}) == 2
            # After the cooldown a probe goes to the healed primary and closes the breaker.
            primary.fail_status = None
            await asyncio.sleep(0.6)
            async with http.post(gw_url + CHAT, json={}) as r:
                assert r.status == 200
            assert primary.calls == 3
            assert metric(gw, "modelops_gateway_breaker_state", {"upstream": "primary"}) == 0

    run(scenario)


def test_no_upstream_left_is_a_clear_503() -> None:
    async def scenario() -> None:
        async with (
            gateway(closed_port_url(), fallback_upstream=closed_port_url()) as (gw_url, gw),
            aiohttp.ClientSession() as http,
        ):
            async with http.post(gw_url + CHAT, json={}) as r:
                assert r.status == 503
                error = (await r.json())["error"]
                assert error["type"] == "upstream_unavailable"
                assert "fallback" in error["message"]
            labels = {"upstream": "primary", "reason": "connect"}
            assert metric(gw, "modelops_gateway_upstream_failures_total", labels) == 1

    run(scenario)


def test_last_upstream_5xx_is_passed_through() -> None:
    stub = Stub(fail_status=500)

    async def scenario() -> None:
        async with proxied(stub) as (gw_url, _, http), http.post(gw_url + CHAT, json={}) as r:
            assert r.status == 500

    run(scenario)


def test_open_breakers_answer_503_with_retry_after() -> None:
    async def scenario() -> None:
        async with (
            gateway(closed_port_url(), breaker_failures=1, breaker_cooldown=20) as (gw_url, _),
            aiohttp.ClientSession() as http,
        ):
            async with http.post(gw_url + CHAT, json={}) as r:
                assert r.status == 503
                assert "Retry-After" not in r.headers
            async with http.post(gw_url + CHAT, json={}) as r:
                assert r.status == 503
                assert "circuit breakers are open" in (await r.json())["error"]["message"]
                assert 19 <= int(r.headers["Retry-After"]) <= 20

    run(scenario)
