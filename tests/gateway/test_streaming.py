"""Streamed (SSE) answers pass through as they arrive, and their usage is charged."""

import asyncio
from pathlib import Path

from tests.gateway.support import Stub, metric, proxied, run, statuses, write_policy

CHAT = "/v1/chat/completions"
STREAM = {"stream": True, "messages": [{"role": "user", "content": "hello"}]}


def test_first_chunk_arrives_before_the_stream_ends(tmp_path: Path) -> None:
    """The stub holds the rest of the stream until the client has seen the first chunk:
    a gateway that buffered would never deliver it, and the wait would time out."""
    stub = Stub(hold_stream=True)

    async def scenario() -> None:
        async with proxied(stub) as (gw_url, gw, http):
            async with http.post(gw_url + CHAT, json=STREAM) as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/event-stream")
                first = await asyncio.wait_for(r.content.readuntil(b"\n\n"), 5)
                assert b"first" in first
                assert not stub.release.is_set()
                stub.release.set()
                rest = await asyncio.wait_for(r.content.read(), 5)
            assert b"third" in rest
            assert rest.rstrip().endswith(b"[DONE]")
            labels = {"tier": "none", "track": "stable"}
            assert metric(gw, "modelops_gateway_tokens_total", labels) == 10
            assert metric(gw, "modelops_gateway_time_to_first_token_seconds_count", labels) == 1
            assert metric(gw, "modelops_gateway_tokens_per_second_count", labels) == 1

    run(scenario)


def test_tokens_charged_from_the_final_sse_usage(tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.yaml", "globalTokensPerMinute: 50\n")
    stub = Stub(tokens=30)

    async def scenario() -> None:
        async with proxied(stub, policy) as (gw_url, _, http):
            calls = [(gw_url + CHAT, STREAM, client) for client in ("a", "b", "c")]
            assert await statuses(http, calls) == [200, 200, 429]

    run(scenario)


def test_reload_during_a_stream_does_not_cut_it(tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.yaml", "requestsPerMinute: 10\n")
    stub = Stub(hold_stream=True)

    async def scenario() -> None:
        async with proxied(stub, policy) as (gw_url, gw, http):
            async with http.post(gw_url + CHAT, json=STREAM, headers={"X-API-Key": "k"}) as r:
                await asyncio.wait_for(r.content.readuntil(b"\n\n"), 5)
                policy.write_text("requestsPerMinute: 0\n")
                for _ in range(100):
                    if metric(gw, "modelops_gateway_policy_reloads_total", {"result": "reloaded"}):
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("policy was not reloaded")
                stub.release.set()
                rest = await asyncio.wait_for(r.content.read(), 5)
                assert rest.rstrip().endswith(b"[DONE]")
            # New requests see the new policy.
            assert await statuses(http, [(gw_url + CHAT, STREAM, "k")]) == [429]

    run(scenario)


def test_a_client_that_stops_reading_gets_every_chunk_in_order(tmp_path: Path) -> None:
    """20 MB of events while the client reads nothing for a while: chunks that cannot go at
    once (the client's socket is full) queue behind the ones sent, none lost or reordered,
    and the usage at the end is still counted."""
    stub = Stub(filler=20000)

    async def scenario() -> None:
        async with proxied(stub) as (gw_url, gw, http):
            async with http.post(gw_url + CHAT, json=STREAM) as r:
                assert r.status == 200
                await asyncio.sleep(0.5)
                body = await asyncio.wait_for(r.content.read(), 10)
            events = [e for e in body.split(b"\n\n") if e]
            numbered = [int(e.split()[1]) for e in events[1:20001]]
            assert numbered == list(range(20000))
            assert b"second" in events[20001] and events[-1] == b"data: [DONE]"
            labels = {"tier": "none", "track": "stable"}
            assert metric(gw, "modelops_gateway_tokens_total", labels) == 10

    run(scenario)
