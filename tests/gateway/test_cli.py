"""The gateway as a process: flags, serving, clean exit on SIGTERM, refusal of a bad policy."""

import asyncio
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

from tests.gateway.support import Stub, run, serve
from tests.support.processes import free_port, gateway_argv


def test_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("requestsPerMinute: 10\n")
    port = free_port()
    proc = subprocess.Popen(
        gateway_argv(port, "http://127.0.0.1:1", "--policy", str(policy), "--track", "canary"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "gateway did not come up"
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert proc.stderr is not None
        assert b'"msg":"gateway stopping"' in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_bad_policy_exits_2_with_a_message(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("requestsPerMinut: 10\n")
    result = subprocess.run(
        [sys.executable, "-m", "modelops.gateway", "--policy", str(policy)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"not a valid RateLimit" in result.stderr


def test_sigterm_lets_a_stream_in_flight_finish(tmp_path: Path) -> None:
    stub = Stub(hold_stream=True)
    port = free_port()

    async def scenario() -> None:
        async with serve(stub.app()) as upstream, aiohttp.ClientSession() as http:
            proc = await asyncio.create_subprocess_exec(
                *gateway_argv(port, upstream, "--shutdown-timeout", "10"),
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                url = f"http://127.0.0.1:{port}"
                for _ in range(300):
                    try:
                        async with http.get(url + "/healthz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.05)
                else:
                    raise AssertionError("gateway did not come up")
                async with http.post(url + "/v1/chat/completions", json={"stream": True}) as r:
                    await asyncio.wait_for(r.content.readuntil(b"\n\n"), 5)
                    proc.send_signal(signal.SIGTERM)
                    await asyncio.sleep(0.3)
                    assert proc.returncode is None  # still draining
                    stub.release.set()
                    rest = await asyncio.wait_for(r.content.read(), 5)
                assert rest.rstrip().endswith(b"[DONE]")
                assert await asyncio.wait_for(proc.wait(), 15) == 0
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    run(scenario)
