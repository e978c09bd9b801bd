"""A webhook receiver on loopback for the notification tests: records what it is posted."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    body: dict[str, Any]
    at: float  # time.time() when the body was read


class Receiver:
    """Answers with ``codes`` in turn (then 200); records every 2xx'd post; holds each answer
    while ``gate`` is clear."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self.received: list[Received] = []
        self.gate = threading.Event()
        self.gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                at = time.time()
                receiver.gate.wait(10)
                code = receiver.codes.pop(0) if receiver.codes else 200
                if code == 200:
                    receiver.received.append(Received(self.path, json.loads(body), at))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [r.body for r in self.received if r.path == path]


@contextmanager
def receiving() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.gate.set()
        found.server.shutdown()
