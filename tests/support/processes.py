"""Helpers for tests that run real programs on loopback: ports, binaries, the gateway's argv."""

import shutil
import socket
import sys

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
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
