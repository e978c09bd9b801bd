"""The least a reverse proxy on the gateway's own stack does per request: the floor.

Why: issue 19 asks whether the HTTP stack (uvloop's event loop, httptools' llhttp parser,
Python) is what keeps the gateway from nginx's CPU per request. This proxy runs on the same
stack and does only what every proxied request needs: parse the client's request, send it
on over a kept upstream connection, parse the answer, send it back. No limits, no metrics, no
header rules, no timeouts: its cost against nginx's is the stack's, and the gateway's against
it is the gateway's own work. bench/gateway.py and bench/gateway_instructions.py run it as the
target ``python-floor``.

Handles what those benches send (keep-alive HTTP/1.1, Content-Length bodies, one upstream
connection per client connection, answers in order) and nothing else; ``GET /ready`` is
answered here. Not a product: nothing imports it.

  python bench/floor_proxy.py LISTEN_PORT UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import httptools
import uvloop

READY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _Side(asyncio.Protocol):
    """What both sides parse alike: the bytes fed to a parser, Content-Type, the body."""

    parser: httptools.HttpRequestParser | httptools.HttpResponseParser

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.content_type = b"application/octet-stream"
        self.body: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self.content_type = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def take_body(self) -> bytes:
        body = b"".join(self.body)
        self.body.clear()
        return body


class Upstream(_Side):
    """One kept connection to the upstream: each answer parsed and handed to the client."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP connection's
        self.client.upstream_ready()

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()  # type: ignore[union-attr]  # a response's
        self.client.answer(status, self.content_type, self.take_body())


class Client(_Side):
    """One client connection: its requests parsed and sent on, their answers sent back."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__()
        self.upstream_port = upstream_port
        self.parser = httptools.HttpRequestParser(self)
        self.upstream: Upstream | None = None
        self.connecting: asyncio.Task[object] | None = None
        self.waiting: deque[bytes] = deque()  # requests made before the upstream connected
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP connection's
        loop = asyncio.get_running_loop()
        upstream = Upstream(self)
        self.upstream = upstream
        connect = loop.create_connection(lambda: upstream, "127.0.0.1", self.upstream_port)
        self.connecting = loop.create_task(connect)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_complete(self) -> None:
        if self.url == b"/ready" and self.transport is not None:
            self.transport.write(READY)
            return
        body = self.take_body()
        method = self.parser.get_method()  # type: ignore[union-attr]  # a request's
        request = (
            b"%b %b HTTP/1.1\r\nHost: upstream\r\nContent-Type: %b\r\nContent-Length: %d\r\n\r\n%b"
            % (
                method,
                self.url,
                self.content_type,
                len(body),
                body,
            )
        )
        upstream = self.upstream
        if upstream is None or upstream.transport is None:
            self.waiting.append(request)
        else:
            upstream.transport.write(request)

    def upstream_ready(self) -> None:
        upstream = self.upstream
        while self.waiting and upstream is not None and upstream.transport is not None:
            upstream.transport.write(self.waiting.popleft())

    def answer(self, status: int, content_type: bytes, body: bytes) -> None:
        if self.transport is not None:
            self.transport.write(
                b"HTTP/1.1 %d OK\r\nContent-Type: %b\r\nContent-Length: %d\r\n\r\n%b"
                % (status, content_type, len(body), body)
            )


async def serve(port: int, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Client(upstream_port), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
