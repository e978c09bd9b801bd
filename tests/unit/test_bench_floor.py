"""bench/floor_proxy.py, the least proxy on the gateway's stack: what the benches call the
floor must proxy for real, or its cost would be the cost of doing nothing."""

import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bench.gateway import floor_argv

from tests.support.processes import free_port, stop


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = b'{"path":"' + self.path.encode() + b'","got":' + body + b"}"
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def _read_answer(conn: socket.socket, pending: bytes) -> tuple[bytes, bytes, bytes]:
    """(head, body, what follows) of one Content-Length answer."""
    while b"\r\n\r\n" not in pending:
        pending += conn.recv(65536)
    head, _, rest = pending.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += conn.recv(65536)
    return head, rest[:length], rest[length:]


def test_the_floor_proxies_keep_alive_requests_in_order(upstream: int, tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "floor.log").open("wb")
    proc = subprocess.Popen(floor_argv(port, upstream), stdout=log, stderr=subprocess.STDOUT)
    try:
        conn = _connect(port, proc)
        pending = b""
        for i, body in enumerate((b"1", b"[2,3]")):
            conn.sendall(
                b"POST /v1/x?n=%d HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%b" % (i, len(body), body)
            )
            head, answer, pending = _read_answer(conn, pending)
            assert head.startswith(b"HTTP/1.1 201 ")
            assert b"Content-Type: application/json" in head
            assert answer == b'{"path":"/v1/x?n=%d","got":%b}' % (i, body)
        conn.close()
    finally:
        stop(proc)
        log.close()


def _connect(port: int, proc: subprocess.Popen[bytes]) -> socket.socket:
    for _ in range(200):
        if proc.poll() is not None:
            raise AssertionError(f"the floor proxy exited {proc.returncode}")
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            threading.Event().wait(0.05)
    raise AssertionError("the floor proxy never listened")
