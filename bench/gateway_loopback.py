"""Requests per second through the gateway on loopback, against a stub that answers at once.

Measures the gateway's own overhead: a stub model (JSON with usage) in one process, the real
gateway (``python -m modelops.gateway``) in another, and a bounded load loop here. Run:
``python bench/gateway_loopback.py [--seconds 5] [--concurrency 32] [--redis HOST:PORT]``.
"""

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

STUB = """
import sys
from aiohttp import web
BODY = b'{"choices":[{"message":{"content":"ok"}}],"usage":{"total_tokens":3}}'
async def chat(request):
    await request.read()
    return web.Response(body=BODY, content_type="application/json")
async def ready(request):
    return web.Response(text="ok")
app = web.Application()
app.router.add_post("/v1/chat/completions", chat)
app.router.add_get("/ready", ready)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_up(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with http.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


async def load(
    url: str, ready_url: str, seconds: float, concurrency: int
) -> tuple[int, int, list[float]]:
    ok = errors = 0
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    body = {"messages": [{"role": "user", "content": "hi"}]}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await wait_up(http, ready_url)

        async def worker(n: int) -> None:
            nonlocal ok, errors
            while time.monotonic() < deadline:
                start = time.monotonic()
                async with http.post(url, json=body, headers={"X-API-Key": f"k{n}"}) as r:
                    await r.read()
                    if r.status == 200:
                        ok += 1
                    else:
                        errors += 1
                latencies.append(time.monotonic() - start)

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return ok, errors, latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--redis", default=None, help="share counters through this Redis")
    parser.add_argument("--direct", action="store_true", help="measure the stub alone")
    args = parser.parse_args()
    stub_port, gw_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.yaml"
        text = "requestsPerMinute: 100000000\ntokensPerMinute: 1000000000\n"
        if args.redis:
            text += f"redis: {{address: '{args.redis}'}}\n"
        policy.write_text(text)
        stub = subprocess.Popen([sys.executable, "-c", STUB, str(stub_port)])  # noqa: S603
        gateway = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "modelops.gateway",
                "--listen",
                f"127.0.0.1:{gw_port}",
                "--upstream",
                f"http://127.0.0.1:{stub_port}",
                "--policy",
                str(policy),
                "--log-level",
                "WARNING",
            ],
        )
        try:
            base = f"http://127.0.0.1:{stub_port if args.direct else gw_port}"
            ready = base + ("/ready" if args.direct else "/readyz")
            ok, errors, latencies = asyncio.run(
                load(base + "/v1/chat/completions", ready, args.seconds, args.concurrency)
            )
        finally:
            for proc in (gateway, stub):
                proc.terminate()
                proc.wait(timeout=30)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(
        f"{'stub alone' if args.direct else 'through gateway'}: {ok / args.seconds:.0f} req/s "
        f"ok={ok} errors={errors} p50={p50:.2f}ms p99={p99:.2f}ms "
        f"concurrency={args.concurrency} redis={args.redis or 'no'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
