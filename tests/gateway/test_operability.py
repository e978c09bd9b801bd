"""Health, readiness, metrics and logs that never hold prompts or keys."""

import logging
from pathlib import Path

import aiohttp
import pytest

from modelops.gateway.logs import JsonFormatter
from modelops.gateway.policy import client_hash
from tests.gateway.support import Stub, closed_port_url, gateway, proxied, run


def test_healthz_and_readyz_follow_the_model() -> None:
    stub = Stub(ready=False)

    async def scenario() -> None:
        async with proxied(stub) as (gw_url, _, http):
            async with http.get(gw_url + "/healthz") as r:
                assert r.status == 200
            async with http.get(gw_url + "/readyz") as r:
                assert r.status == 503
            stub.ready = True
            async with http.get(gw_url + "/readyz") as r:
                assert r.status == 200

    run(scenario)


def test_readyz_fails_when_the_model_is_down() -> None:
    async def scenario() -> None:
        async with gateway(closed_port_url()) as (gw_url, _), aiohttp.ClientSession() as http:
            async with http.get(gw_url + "/healthz") as r:
                assert r.status == 200
            async with http.get(gw_url + "/readyz") as r:
                assert r.status == 503

    run(scenario)


def test_metrics_endpoint_labels_tier_code_and_track(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("defaultTier: gold\ntiers: [{name: gold, requestsPerMinute: 10}]\n")

    async def scenario() -> None:
        async with proxied(Stub(), policy, track="canary") as (gw_url, _, http):
            async with http.post(
                gw_url + "/v1/chat/completions", json={}, headers={"X-API-Key": "k"}
            ) as r:
                assert r.status == 200
            async with http.get(gw_url + "/metrics") as r:
                text = await r.text()
            labels = 'code="200",tier="gold",track="canary",traffic="live"'
            assert f"modelops_gateway_requests_total{{{labels}}} 1.0" in text
            assert "modelops_gateway_request_duration_seconds_bucket" in text
            assert "modelops_gateway_breaker_state" in text

    run(scenario)


def test_logs_hold_neither_prompt_nor_answer_nor_key(caplog: pytest.LogCaptureFixture) -> None:
    secret, prompt = "sk-very-secret-123", "my private medical question"

    async def scenario() -> None:
        async with proxied(Stub()) as (gw_url, _, http):
            for stream in (False, True):
                async with http.post(
                    gw_url + f"/v1/chat/completions?api_key={secret}",
                    json={"stream": stream, "messages": [{"content": prompt}]},
                    headers={"X-API-Key": secret, "Authorization": f"Bearer {secret}"},
                ) as r:
                    assert r.status == 200
                    await r.read()

    with caplog.at_level(logging.DEBUG, logger="modelops.gateway"):
        run(scenario)
    formatter = JsonFormatter()
    lines = [formatter.format(rec) for rec in caplog.records if rec.name.startswith("modelops")]
    access = [line for line in lines if '"msg":"request"' in line]
    assert len(access) == 2
    for line in lines:
        assert secret not in line
        assert prompt not in line
        assert "first" not in line  # the streamed answer's text
    assert client_hash(secret) in access[0]
    assert '"path":"/v1/chat/completions"' in access[0]
