"""Redis as teams run it once one instance is not enough: persistent (AOF), with an ACL user,
over TLS, a primary with a replica behind Sentinel. Each server is a real process on a free
loopback port, started and stopped by the test."""

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.processes import free_port, require_binary

START_TIMEOUT = 10.0


@dataclass
class RedisProcess:
    """One redis-server (or sentinel) that can be killed and started again on its port."""

    argv: list[str]
    port: int
    client_options: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{self.argv[0]} did not start on port {self.port}", pytrace=False)
            time.sleep(0.05)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def freeze(self) -> None:
        """SIGSTOP: Redis keeps its socket open but never answers (a hung server)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def client(self) -> "redis.Redis":
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=1, **self.client_options
        )

    def answers(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed beyond what appendfsync already wrote."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a frozen one too
            self.process.kill()
            self.process.wait(timeout=10)


@contextmanager
def running(*servers: RedisProcess) -> Iterator[None]:
    try:
        for server in servers:
            server.start()
        yield
    finally:
        for server in servers:
            server.kill()


def redis_server(directory: Path, *options: str, **client_options: Any) -> RedisProcess:
    """redis-server on a free port, files in ``directory``; ``options`` are its flags."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        require_binary("redis-server"),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        str(directory),
        *options,
    ]
    return RedisProcess(argv, port, client_options)


# What the budgets need of Redis (README "Budgets"): the append-only file, synced every second.
DURABLE = ("--appendonly", "yes", "--appendfsync", "everysec")


def tls_redis(directory: Path) -> tuple[RedisProcess, Path]:
    """redis-server speaking only TLS, with a certificate from a CA made here; returns the CA."""
    openssl = require_binary("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        directory / name for name in ("ca.key", "ca.crt", "redis.key", "redis.csr", "redis.crt")
    )
    extensions = directory / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    new_key = ["-newkey", "rsa:2048", "-nodes", "-keyout"]
    steps = [  # a CA, a key and request for 127.0.0.1, the CA's signature on it
        ["req", "-x509", *new_key, str(ca_key), "-out", str(ca), "-subj", "/CN=ca", "-days", "1"],
        ["req", *new_key, str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"],
        [
            *("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key)),
            *("-out", str(cert), "-CAcreateserial", "-days", "1", "-extfile", str(extensions)),
        ],
    ]
    for step in steps:
        subprocess.run([openssl, *step], check=True, capture_output=True)
    server = redis_server(directory / "data", "--port", "0")
    port = server.port
    server.argv += [
        "--tls-port",
        str(port),
        "--tls-cert-file",
        str(cert),
        "--tls-key-file",
        str(key),
        "--tls-ca-cert-file",
        str(ca),
        "--tls-auth-clients",
        "no",
    ]
    server.client_options = {"ssl": True, "ssl_ca_certs": str(ca)}
    return server, ca


def sentinel(directory: Path, master: str, primary: RedisProcess) -> RedisProcess:
    """A redis-sentinel watching ``primary`` (quorum 1), quick to declare it down."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
        f"sentinel monitor {master} 127.0.0.1 {primary.port} 1\n"
        f"sentinel down-after-milliseconds {master} 500\n"
        f"sentinel failover-timeout {master} 5000\n"
    )
    return RedisProcess([require_binary("redis-sentinel"), str(config)], port)
