"""A real Prometheus scraping a real ``modelops gateway`` process, all on 127.0.0.1.

Missing ``prometheus`` fails, loudly: run hack/install-test-deps.sh (Debian's package).
"""

import asyncio
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.processes import START_TIMEOUT, free_port, gateway_argv, stop, wait_http_ok
from tests.support.prometheus import running_prometheus
from tests.support.scrape import (
    DISCOVERED,
    RELABEL,
    STREAM_PAUSE,
    STREAM_TOKENS,
    GatewayProcess,
)


async def stream(request: web.Request) -> web.StreamResponse:
    """An OpenAI-style stream whose last event carries usage, as the gateway expects."""
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    await out.write(b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n')
    await asyncio.sleep(STREAM_PAUSE)
    usage = {"prompt_tokens": 3, "completion_tokens": STREAM_TOKENS, "total_tokens": 13}
    await out.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
    await out.write(b"data: [DONE]\n\n")
    await out.write_eof()
    return out


@pytest.fixture
def upstream() -> Iterator[str]:
    """A model server stub: ``/fail`` answers 500, ``/stream`` an LLM stream, anything else 200.

    aiohttp on its own event loop in a thread: the test itself is synchronous and the
    gateway in front of it is another process."""

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path == "/fail":
            return web.json_response({"error": "boom"}, status=500)
        if request.path == "/stream":
            return await stream(request)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    url = asyncio.run_coroutine_threadsafe(start(), loop).result(START_TIMEOUT)
    yield url
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(START_TIMEOUT)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=START_TIMEOUT)
    loop.close()


@pytest.fixture
def canary_gateway(upstream: str) -> Iterator[GatewayProcess]:
    """``modelops gateway --track canary`` in front of the stub, as in a canary pod."""
    port = free_port()
    process = subprocess.Popen(
        gateway_argv(port, upstream, "--track", "canary"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", process, "modelops gateway")
        yield GatewayProcess(f"http://127.0.0.1:{port}", port)
    finally:
        stop(process)


@pytest.fixture
def prometheus(canary_gateway: GatewayProcess, tmp_path: Path) -> Iterator[str]:
    """A Prometheus scraping the gateway every second; yields its base URL."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "modelops-gateway",
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{canary_gateway.port}"], "labels": DISCOVERED}
                ],
                "relabel_configs": RELABEL,
            }
        ],
    }
    with running_prometheus(config, tmp_path) as url:
        yield url
