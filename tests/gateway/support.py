"""A model-server stub and helpers that run it and the real gateway on loopback."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from modelops.gateway.app import event_loop_factory
from modelops.gateway.config import GatewayConfig
from modelops.gateway.server import Gateway

# Bound on any single wait in these tests: a hang fails instead of blocking CI.
STEP_TIMEOUT = 10.0


@dataclass
class Stub:
    """An OpenAI-style upstream that the test can make slow, failing, or hold mid-stream."""

    tokens: int = 10
    fail_status: int | None = None
    delay: float = 0.0
    ready: bool = True
    calls: int = 0
    # Streams send their first chunk, then wait for this before the rest.
    release: asyncio.Event = field(default_factory=asyncio.Event)
    hold_stream: bool = False
    # Streams send this many more events (numbered, about 1 KB each) after the first.
    filler: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.complete)
        app.router.add_get("/ready", self.readiness)
        return app

    async def readiness(self, _: web.Request) -> web.Response:
        return web.Response(status=200 if self.ready else 503, text="ok")

    async def complete(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        body: dict[str, Any] = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_status is not None:
            return web.json_response({"error": "boom"}, status=self.fail_status)
        usage = {
            "prompt_tokens": 4,
            "completion_tokens": self.tokens - 4,
            "total_tokens": self.tokens,
        }
        if not body.get("stream"):
            return web.json_response({"choices": [{"message": {"content": "hi"}}], "usage": usage})
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        await out.write(b'data: {"choices":[{"delta":{"content":"first"}}]}\n\n')
        if self.hold_stream:
            await asyncio.wait_for(self.release.wait(), STEP_TIMEOUT)
        for n in range(self.filler):
            await out.write(b"data: %d %s\n\n" % (n, b"x" * 1000))
        for word in ("second", "third"):
            await out.write(
                f'data: {{"choices":[{{"delta":{{"content":"{word}"}}}}]}}\n\n'.encode()
            )
        await out.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def gateway(
    upstream: str, policy: Path | None = None, **settings: Any
) -> AsyncIterator[tuple[str, Gateway]]:
    config = GatewayConfig(
        upstream=upstream,
        host="127.0.0.1",
        port=0,
        policy_path=policy,
        policy_poll_interval=0.05,
        **settings,
    )
    gw = Gateway(config)
    async with gw.serving() as server:
        yield f"http://127.0.0.1:{server.port}", gw


def write_policy(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def metric(gw: Gateway, name: str, labels: dict[str, str] | None = None) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (a series' other labels,
    such as ``traffic``, summed over, as a PromQL ``sum`` would)."""
    wanted = (labels or {}).items()
    return sum(
        sample.value
        for family in gw.metrics.registry.collect()
        for sample in family.samples
        if sample.name == name and wanted <= sample.labels.items()
    )


def closed_port_url() -> str:
    """A loopback URL where nothing listens (bound and closed: refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@asynccontextmanager
async def proxied(
    stub: Stub, policy: Path | None = None, **settings: Any
) -> AsyncIterator[tuple[str, Gateway, aiohttp.ClientSession]]:
    """The stub, a gateway in front of it, and a client session."""
    async with (
        serve(stub.app()) as upstream,
        gateway(upstream, policy, **settings) as (url, gw),
        aiohttp.ClientSession() as http,
    ):
        yield url, gw, http


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """On the event loop the gateway runs on in its process (uvloop): its transports are not
    asyncio's, and a test on asyncio's loop would not see code that only works there."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(asyncio.wait_for(scenario(), STEP_TIMEOUT * 3))


async def statuses(
    http: aiohttp.ClientSession, calls: list[tuple[str, dict[str, Any], str | None]]
) -> list[int]:
    """POST each (url, json body, client key) in turn, reading each answer in full."""
    codes = []
    for url, body, client in calls:
        headers = {"X-API-Key": client} if client else {}
        async with http.post(url, json=body, headers=headers) as response:
            await response.read()
            codes.append(response.status)
    return codes
