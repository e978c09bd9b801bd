"""A webhook receiver in the test process, for the gate and notification tests: a real HTTP
server on a free loopback port that answers each path's POSTs with the codes queued for it
(200 once they run out), holds its answers while ``gate`` is clear, and records every post
with its times."""

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    code: int  # what the receiver answered
    body: dict[str, Any]
    at: float  # time.time() when the body was read: compared with Events' times
    monotonic: float  # time.monotonic() then: compared with other moments in the test


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, list[int]] = defaultdict(list)
        self.always: dict[str, int] = {}  # a path answered this whatever is queued
        self.posts: list[Received] = []
        self.gate = threading.Event()
        self.gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                at, monotonic = time.time(), time.monotonic()
                receiver.gate.wait(10)
                with receiver.lock:
                    queued = receiver.codes[self.path]
                    code = receiver.always.get(self.path) or (queued.pop(0) if queued else 200)
                    receiver.posts.append(Received(self.path, code, body, at, monotonic))
                answer = f"answer {code}".encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def received(self) -> list[Received]:
        """The posts answered 2xx: what a sender counts as delivered."""
        with self.lock:
            return [post for post in self.posts if 200 <= post.code < 300]

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """Every body posted to ``path``, whatever it was answered."""
        with self.lock:
            return [post.body for post in self.posts if post.path == path]

    def delivered(self, path: str) -> list[dict[str, Any]]:
        """The bodies posted to ``path`` and answered 2xx."""
        return [post.body for post in self.received if post.path == path]

    def calls(self, path: str) -> list[tuple[float, int]]:
        """(monotonic time, code answered) of each post to ``path``."""
        with self.lock:
            return [(post.monotonic, post.code) for post in self.posts if post.path == path]

    def stop(self) -> None:
        self.gate.set()
        self.server.shutdown()


@contextmanager
def receiving() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.stop()
