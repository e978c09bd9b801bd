"""The gateway process under bad requests and a bad upstream: slow clients (a byte a second,
hundreds of connections), oversized bodies, a flood from one client, malformed JSON answers.
Other clients keep being served within their limits, memory stays bounded, nothing crashes,
and the log holds no key, prompt or answer. The gateway's RSS under the slow-client flood is
printed (``pytest -s``) for the notes.
"""

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.gateway.support import serve
from tests.support.processes import free_port, gateway_argv

KEY, OTHER_KEY = "sk-bad-client-key-91c2", "sk-good-client-key-5d7e"
PROMPT, ANSWER = "prompt-marker-confidential-3b8f", "answer-marker-private-a41d"
SLOW_CONNECTIONS = 300
IDLE_TIMEOUT = 3  # seconds: --client-idle-timeout and --client-body-timeout in this test
MAX_BODY = 64 * 1024
# A few kilobytes per open connection; far below this even for all of them at once.
RSS_GROWTH_LIMIT_MB = 64

# Bodies a broken upstream may send with Content-Type: application/json.
MALFORMED = {
    "/garbage": b"{not json at all",
    "/truncated": b'{"choices": [{"message": {"content": "' + ANSWER.encode(),
    "/deep": b"[" * 100_000 + b"]" * 100_000,
    "/huge-number": b'{"usage": {"total_tokens": 1' + b"0" * 5000 + b"}}",
    "/wrong-types": b'{"usage": {"total_tokens": "many", "prompt_tokens": [1]}}',
    "/binary": bytes(range(256)) * 4,
}


HUGE_JSON_MB = 100
ENDLESS_STREAM_MB = 256  # more than every socket buffer on the way holds


async def _upstream(request: web.Request) -> web.StreamResponse:
    await request.read()
    if request.path == "/stream":
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        try:
            for _ in range(ENDLESS_STREAM_MB * 16):
                await out.write(b"data: " + b"s" * (64 * 1024 - 8) + b"\n\n")
            await out.write_eof()
        except ConnectionError:
            pass  # the gateway cut the answer off: what this path is for
        return out
    if request.path == "/huge-json":
        # Chunked, no length: the gateway cannot know in advance how much is coming.
        out = web.StreamResponse(headers={"Content-Type": "application/json"})
        await out.prepare(request)
        await out.write(b'{"data": "')
        for _ in range(HUGE_JSON_MB):
            await out.write(b"z" * (1 << 20))
        await out.write(b'"}')
        await out.write_eof()
        return out
    body = MALFORMED.get(request.path)
    if body is not None:
        return web.Response(body=body, content_type="application/json")
    answer = {"choices": [{"message": {"content": ANSWER}}], "usage": {"total_tokens": 3}}
    return web.json_response(answer)


def _upstream_app() -> web.Application:
    app = web.Application(client_max_size=4 * MAX_BODY)
    app.router.add_route("*", "/{tail:.*}", _upstream)
    return app


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _wait_up(http: aiohttp.ClientSession, url: str, proc: Any) -> None:
    for _ in range(300):
        if proc.returncode is not None:
            raise AssertionError("gateway exited at start")
        try:
            async with http.get(url + "/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("gateway did not come up")


async def _slow_header_client(port: int, cut: asyncio.Event) -> bool:
    """Send a request's headers one byte a second; True when the gateway closed on us."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for byte in f"POST /v1/chat HTTP/1.1\r\nX-API-Key: {KEY}\r\n".encode():
            if cut.is_set():
                return False
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                return True
            try:
                if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                    return True
            except TimeoutError:
                continue
            except ConnectionError:
                return True
        return False
    finally:
        writer.close()


async def _post(
    http: aiohttp.ClientSession, url: str, key: str, data: Any = None, **kw: Any
) -> tuple[int, bytes]:
    async with http.post(url, data=data, headers={"X-API-Key": key}, **kw) as response:
        return response.status, await response.read()


async def _slow_reader(port: int) -> int:
    """Ask for a stream, read nothing for twice the idle timeout, then read what is left:
    the number of bytes that came (all of them, had the gateway waited forever)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /stream HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    writer.write(head.encode())
    await asyncio.sleep(IDLE_TIMEOUT * 2)
    received = 0
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 20), IDLE_TIMEOUT * 5):
            received += len(chunk)
    except ConnectionError:
        pass
    finally:
        writer.close()
    return received


async def _slow_body(port: int) -> bytes:
    """Headers at once, then a declared 100-byte body one byte a second."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /v1/chat HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    writer.write(head.encode())
    try:
        for _ in range(100):
            writer.write(b" ")
            await writer.drain()
            try:
                answer = await asyncio.wait_for(reader.read(4096), 1.0)
            except TimeoutError:
                continue
            return answer
        return b""
    finally:
        writer.close()


def test_bad_clients_and_a_bad_upstream(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    # One tier for everyone: 20 requests a minute per client.
    policy.write_text("requestsPerMinute: 20\n")
    port = free_port()
    report: dict[str, Any] = {}

    async def scenario() -> None:
        async with serve(_upstream_app()) as upstream, aiohttp.ClientSession() as http:
            proc = await asyncio.create_subprocess_exec(
                *gateway_argv(
                    port,
                    upstream,
                    "--policy",
                    str(policy),
                    "--client-idle-timeout",
                    str(IDLE_TIMEOUT),
                    "--client-body-timeout",
                    str(IDLE_TIMEOUT),
                    "--max-body-bytes",
                    str(MAX_BODY),
                    "--log-level",
                    "DEBUG",
                ),
                stderr=asyncio.subprocess.PIPE,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                await _wait_up(http, url, proc)
                await _scenario(http, url, port, proc.pid, report)
                assert proc.returncode is None, "the gateway died"
            finally:
                if proc.returncode is None:
                    proc.terminate()
                assert proc.stderr is not None
                log = (await proc.stderr.read()).decode(errors="replace")
                await proc.wait()
            report["log"] = log

    asyncio.run(asyncio.wait_for(scenario(), 180))
    log = report.pop("log")
    print("\ngateway under bad clients: " + json.dumps(report))
    for secret in (KEY, OTHER_KEY, PROMPT, ANSWER):
        assert secret not in log, secret
    assert "Traceback" not in log and '"level":"error"' not in log, log[-3000:]
    assert report["slow_connections_cut"] == SLOW_CONNECTIONS
    assert report["rss_peak_mb"] - report["rss_before_mb"] < RSS_GROWTH_LIMIT_MB


async def _scenario(
    http: aiohttp.ClientSession, url: str, port: int, pid: int, report: dict[str, Any]
) -> None:
    chat = url + "/v1/chat"
    prompt = json.dumps({"messages": [{"content": PROMPT}]})
    # Warm up, then the baseline memory.
    assert (await _post(http, chat, OTHER_KEY, prompt))[0] == 200
    report["rss_before_mb"] = round(_rss_mb(pid), 1)

    # Slow-header flood: hundreds of connections at a byte a second. The gateway cuts each
    # after the idle timeout, and serves another client meanwhile.
    cut = asyncio.Event()
    slow = [asyncio.create_task(_slow_header_client(port, cut)) for _ in range(SLOW_CONNECTIONS)]
    peak = 0.0
    served_meanwhile = []
    for _ in range(IDLE_TIMEOUT * 2):
        await asyncio.sleep(0.5)
        peak = max(peak, _rss_mb(pid))
        served_meanwhile.append((await _post(http, chat, OTHER_KEY, prompt))[0])
    results = await asyncio.wait_for(asyncio.gather(*slow), IDLE_TIMEOUT * 10)
    cut.set()
    report["slow_connections"] = SLOW_CONNECTIONS
    report["slow_connections_cut"] = sum(results)
    report["rss_peak_mb"] = round(max(peak, _rss_mb(pid)), 1)
    assert set(served_meanwhile) == {200}, served_meanwhile

    # A body trickled a byte a second: 408 once the body timeout passes.
    answer = await asyncio.wait_for(_slow_body(port), IDLE_TIMEOUT * 10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]

    # A client that reads nothing of a streamed answer is cut after the idle timeout.
    received = await _slow_reader(port)
    report["slow_reader_received_mb"] = round(received / (1 << 20), 1)
    assert received < ENDLESS_STREAM_MB * (1 << 20)

    # Oversized bodies, declared and chunked: 400, never buffered whole.
    big = b"x" * (MAX_BODY + 1)
    assert (await _post(http, chat, KEY, big))[0] == 400

    async def chunks() -> Any:
        for _ in range(8):
            yield b"y" * (MAX_BODY // 4)

    assert (await _post(http, chat, KEY, chunks()))[0] == 400

    # Malformed JSON from the upstream reaches the client as sent; no 500.
    for path, body in MALFORMED.items():
        status, got = await _post(http, url + path, KEY, prompt)
        assert (status, got) == (200, body), (path, status, got[:200])

    # A JSON answer far larger than the gateway may hold to count its tokens: it streams
    # through whole, and memory does not grow with it.
    async with http.post(url + "/huge-json", data=prompt, headers={"X-API-Key": KEY}) as r:
        assert r.status == 200
        received, peak = 0, 0.0
        async for chunk in r.content.iter_any():
            received += len(chunk)
            peak = max(peak, _rss_mb(pid))
    assert received == HUGE_JSON_MB * (1 << 20) + len(b'{"data": ""}')
    report["huge_json_mb"] = HUGE_JSON_MB
    report["rss_peak_huge_json_mb"] = round(peak, 1)
    assert peak - report["rss_before_mb"] < RSS_GROWTH_LIMIT_MB

    # A flood from one client: it is limited, the other client is not.
    flood = await asyncio.gather(*(_post(http, chat, KEY, prompt) for _ in range(60)))
    codes = [status for status, _ in flood]
    assert codes.count(429) >= 40 and set(codes) <= {200, 429}, codes
    assert (await _post(http, chat, OTHER_KEY, prompt))[0] == 200
    report["rss_after_mb"] = round(_rss_mb(pid), 1)
