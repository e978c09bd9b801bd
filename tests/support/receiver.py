"""A webhook receiver in the test process: a real HTTP server on a free loopback port that
answers each path's POSTs with the codes queued for it (200 once they run out) and records
what arrived, with the time."""

import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, list[int]] = defaultdict(list)
        self.always: dict[str, int] = {}  # a path answered this whatever is queued
        self.got: list[tuple[float, str, int, dict[str, Any]]] = []  # (time, path, code, body)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    queued = receiver.codes[self.path]
                    code = receiver.always.get(self.path) or (queued.pop(0) if queued else 200)
                    receiver.got.append((time.monotonic(), self.path, code, body))
                self.send_response(code)
                self.end_headers()
                self.wfile.write(f"answer {code}".encode())

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for _, at, _, body in self.got if at == path]

    def calls(self, path: str) -> list[tuple[float, int]]:
        with self.lock:
            return [(when, code) for when, at, code, _ in self.got if at == path]

    def stop(self) -> None:
        self.server.shutdown()
