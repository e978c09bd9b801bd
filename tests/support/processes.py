"""Helpers for tests that run real programs on loopback: ports, binaries, the gateway's argv."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def require_binary(command: str) -> str:
    """The program's path; a missing one fails the test (never a skip) with the fix."""
    binary = shutil.which(command)
    if binary is None:
        pytest.fail(
            f"{command} is not installed; run hack/install-test-deps.sh "
            f"(apt-get install {command})",
            pytrace=False,
        )
    return binary


def gateway_argv(port: int, upstream: str, *flags: str) -> list[str]:
    """``modelops gateway`` on 127.0.0.1:port in front of ``upstream``, as a process."""
    return [
        sys.executable,
        "-m",
        "modelops.gateway",
        "--listen",
        f"127.0.0.1:{port}",
        "--upstream",
        upstream,
        *flags,
    ]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Does ``url`` answer 200 now? (False while nothing listens there yet.)"""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# Bound on each wait here: a hang fails the test instead of blocking CI.
START_TIMEOUT = 30.0


def wait_http_ok(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            pytest.fail(f"{what} exited ({process.returncode}):\n{err[-3000:]}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready at {url} within {START_TIMEOUT}s", pytrace=False)
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
