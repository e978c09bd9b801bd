"""The data path through a real gateway process: API keys (401, tiers from the key, rotation
without a restart, logs), input checks (400 before the model), retries (never repeating a
streamed answer) and the fallback chain."""

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from modelops.api.datapath import StaticResponse
from modelops.gateway.logs import JsonFormatter
from tests.gateway.support import (
    STEP_TIMEOUT,
    Stub,
    closed_port_url,
    gateway,
    metric,
    proxied,
    run,
    serve,
    write_policy,
)

CHAT = "/v1/chat/completions"
PROMPT = {"messages": [{"role": "user", "content": "hi"}]}
POLICY = """
clientHeader: X-API-Key
tierHeader: X-Tier
tiers: [{name: free, requestsPerMinute: 1}, {name: team, requestsPerMinute: 1000}]
defaultTier: free
auth: {secretName: keys}
"""
FREE_KEY, TEAM_KEY, NEW_KEY = "sk-free-1", "sk-team-1", "sk-rotated-2"


def _keys(path: Path, *entries: dict[str, str]) -> Path:
    path.write_text(yaml.safe_dump({"keys": list(entries)}))
    return path


def _sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Recorder:
    """An upstream that answers 200 and keeps the headers of each request it got."""

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self.headers: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(CHAT, self.answer)
        return app

    async def answer(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        return web.json_response({"answered_by": self.name})


def _auth_files(tmp_path: Path) -> tuple[Path, Path]:
    policy = write_policy(tmp_path / "policy.yaml", POLICY)
    keys = _keys(
        tmp_path / "keys.yaml",
        {"key": FREE_KEY, "client": "trial", "tier": "free"},
        {"sha256": _sha(TEAM_KEY), "client": "search", "tier": "team"},
    )
    return policy, keys


async def _post(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: Any = None
) -> tuple[int, dict[str, str], Any]:
    async with http.post(url + CHAT, json=PROMPT if body is None else body, headers=headers) as r:
        text = await r.text()
        return r.status, dict(r.headers), json.loads(text) if text.startswith("{") else text


def test_keys_decide_client_and_tier_and_unknown_keys_get_401(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy, keys = _auth_files(tmp_path)
    model = Recorder()

    async def scenario() -> None:
        async with (
            serve(model.app()) as upstream,
            gateway(upstream, policy, keys_path=keys) as (url, gw),
            aiohttp.ClientSession() as http,
        ):
            for headers, kind in (
                ({}, "missing_api_key"),
                ({"X-API-Key": "sk-guess"}, "invalid_api_key"),
            ):
                status, _, body = await _post(http, url, headers)
                assert status == 401
                assert body["error"]["type"] == kind
                assert body["error"]["code"] == 401 and body["error"]["message"]
            # The free key names the team tier: ignored, and never passed to the model.
            spoofed = {"X-API-Key": FREE_KEY, "X-Tier": "team"}
            assert (await _post(http, url, spoofed))[0] == 200
            assert (await _post(http, url, spoofed))[0] == 429  # free: 1 a minute
            assert "X-Tier" not in model.headers[0]
            # A key stored as its digest works, with its own tier.
            for _ in range(3):
                assert (await _post(http, url, {"X-API-Key": TEAM_KEY}))[0] == 200
            labels = {"tier": "team", "code": "200", "track": "stable"}
            assert metric(gw, "modelops_gateway_requests_total", labels) == 3
            assert model.headers[-1]["X-API-Key"] == TEAM_KEY  # the model may check it too

    with caplog.at_level(logging.INFO, logger="modelops.gateway"):
        run(scenario)
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name.startswith("modelops")]
    assert lines
    for line in lines:
        assert FREE_KEY not in line and TEAM_KEY not in line and "sk-guess" not in line
    assert any(f'"key":"{_sha(TEAM_KEY)[:12]}"' in line for line in lines)


def test_keys_rotated_in_the_file_take_effect_without_a_restart(tmp_path: Path) -> None:
    policy, keys = _auth_files(tmp_path)

    async def scenario() -> None:
        async with proxied(Stub(), policy, keys_path=keys) as (url, gw, http):
            assert (await _post(http, url, {"X-API-Key": TEAM_KEY}))[0] == 200
            _keys(keys, {"key": NEW_KEY, "client": "search", "tier": "team"})
            for _ in range(100):
                if (await _post(http, url, {"X-API-Key": NEW_KEY}))[0] == 200:
                    break
                await asyncio.sleep(0.05)
            assert (await _post(http, url, {"X-API-Key": NEW_KEY}))[0] == 200
            assert (await _post(http, url, {"X-API-Key": TEAM_KEY}))[0] == 401
            # A broken file keeps the keys in force.
            keys.write_text("keys: [{key: x}]")
            await asyncio.sleep(0.3)
            assert (await _post(http, url, {"X-API-Key": NEW_KEY}))[0] == 200
            failed = {"result": "keys_failed"}
            assert metric(gw, "modelops_gateway_policy_reloads_total", failed) >= 1

    run(scenario)


def test_input_checks_answer_400_before_the_model() -> None:
    stub = Stub()

    async def scenario() -> None:
        async with proxied(stub, max_message_chars=20, max_tokens=64) as (url, _, http):
            too_long = {"messages": [{"role": "user", "content": "x" * 21}]}
            cases = [
                ({**PROMPT, "max_tokens": 65}, "max_tokens"),
                (too_long, "messages[0].content"),
            ]
            for body, param in cases:
                status, _, answer = await _post(http, url, {"X-API-Key": "k"}, body)
                assert status == 400
                assert answer["error"]["type"] == "invalid_request_error"
                assert answer["error"]["param"] == param
            assert stub.calls == 0
            assert (await _post(http, url, {"X-API-Key": "k"}, {**PROMPT, "max_tokens": 64}))[
                0
            ] == 200
            assert stub.calls == 1

    run(scenario)


class Flaky:
    """Answers 503 ``failures`` times, then like the stub; or, with ``break_stream``, sends
    the first chunk of a stream and drops the connection."""

    def __init__(self, failures: int = 0, break_stream: bool = False) -> None:
        self.failures, self.break_stream, self.calls = failures, break_stream, 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(CHAT, self.answer)
        return app

    async def answer(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        await request.read()
        if self.calls <= self.failures:
            return web.json_response({"error": "busy"}, status=503)
        if not self.break_stream:
            return web.json_response({"ok": True})
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        await out.write(b'data: {"choices":[{"delta":{"content":"first"}}]}\n\n')
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.abort()  # the model dies mid-answer
        return out


async def _read_cut_stream(http: aiohttp.ClientSession, url: str) -> bytes:
    """What a streamed answer delivered before it was cut (the client must see the cut: a
    complete-looking answer would hide that it is not)."""
    received = b""
    async with http.post(url + CHAT, json={**PROMPT, "stream": True}) as r:
        assert r.status == 200
        try:
            async for chunk in r.content.iter_any():
                received += chunk
        except aiohttp.ClientPayloadError:
            return received
    raise AssertionError(f"the stream ended as if complete after {received!r}")


def test_503s_are_retried_with_backoff_then_answered() -> None:
    flaky = Flaky(failures=2)

    async def scenario() -> None:
        async with (
            serve(flaky.app()) as upstream,
            gateway(upstream, retries=2, retry_backoff=0.01) as (url, gw),
            aiohttp.ClientSession() as http,
        ):
            status, headers, _ = await _post(http, url, {})
            assert status == 200 and flaky.calls == 3
            assert headers["X-Modelops-Upstream"] == "primary"
            failed = {"upstream": "primary", "reason": "http_503"}
            assert metric(gw, "modelops_gateway_upstream_failures_total", failed) == 2

    run(scenario)


def test_retries_stop_at_the_count_and_pass_the_last_503_on() -> None:
    flaky = Flaky(failures=10)

    async def scenario() -> None:
        async with (
            serve(flaky.app()) as upstream,
            gateway(upstream, retries=2, retry_backoff=0.01) as (url, _),
            aiohttp.ClientSession() as http,
        ):
            assert (await _post(http, url, {}))[0] == 503
            assert flaky.calls == 3

    run(scenario)


def test_connect_errors_are_retried() -> None:
    async def scenario() -> None:
        async with (
            gateway(closed_port_url(), retries=3, retry_backoff=0.01, breaker_failures=10) as (
                url,
                gw,
            ),
            aiohttp.ClientSession() as http,
        ):
            assert (await _post(http, url, {}))[0] == 503
            refused = {"upstream": "primary", "reason": "connect"}
            assert metric(gw, "modelops_gateway_upstream_failures_total", refused) == 4

    run(scenario)


def test_a_stream_broken_after_its_first_byte_is_never_retried() -> None:
    flaky = Flaky(break_stream=True)

    async def scenario() -> None:
        async with (
            serve(flaky.app()) as upstream,
            gateway(upstream, retries=3, retry_backoff=0.01) as (url, _),
            aiohttp.ClientSession() as http,
        ):
            received = await _read_cut_stream(http, url)
            assert received.count(b"first") == 1
            await asyncio.sleep(0.2)
            assert flaky.calls == 1

    run(scenario)


def test_fallback_chain_skips_a_failing_link_and_says_who_answered() -> None:
    small, tiny = Recorder("small"), Recorder("tiny")
    static = StaticResponse(body='{"answer": "busy"}', status=503)

    async def scenario() -> None:
        async with (
            serve(Stub(fail_status=500).app()) as primary,
            serve(small.app()) as small_url,
            serve(tiny.app()) as tiny_url,
            aiohttp.ClientSession() as http,
        ):
            chain = (("gone", closed_port_url()), ("small", small_url), ("tiny", tiny_url))
            async with gateway(primary, fallbacks=chain, static_response=static) as (url, _):
                status, headers, body = await _post(http, url, {})
                assert (status, headers["X-Modelops-Upstream"], body) == (
                    200,
                    "small",
                    {"answered_by": "small"},
                )
                # The fallback learns it is one, so its own chain never sends the request on.
                assert small.headers[0]["X-Modelops-Fallback"] == "1"
                assert tiny.headers == []
            dead = (("gone", closed_port_url()),)
            async with gateway(primary, fallbacks=dead, static_response=static) as (url, _):
                status, headers, body = await _post(http, url, {})
                assert (status, headers["X-Modelops-Upstream"], body) == (
                    503,
                    "static",
                    {"answer": "busy"},
                )
                # Asked as another gateway's fallback: its model only, no static answer.
                status, _, _ = await _post(http, url, {"X-Modelops-Fallback": "1"})
                assert status == 500

    run(scenario)


def test_total_timeout_bounds_a_whole_answer() -> None:
    stub = Stub(hold_stream=True)

    async def scenario() -> None:
        async with proxied(stub, upstream_total_timeout=0.5) as (url, _, http):
            received = await _read_cut_stream(http, url)
            assert b"first" in received and b"second" not in received
            stub.release.set()

    asyncio.run(asyncio.wait_for(scenario(), STEP_TIMEOUT))
