"""The streaming half of bench/gateway.py (target ``gateway-streaming``): many concurrent SSE
streams, straight to an SSE stub and through the gateway, in the same run.

The pieces, both cheap so that the load side is never the limit (bench/gateway.py puts them on
the load core and prints whether the direct run kept its schedule):

- ``STUB``: one asyncio process (uvloop when installed) on raw Protocols. A POST is answered
  with ``text/event-stream``, chunked: ``chunks`` events, the first at once and one every
  ``1 / rate`` s after (one timer a millisecond for all streams, no coroutine), the last
  carrying an OpenAI-style ``usage`` followed by ``data: [DONE]``. ``?chunks=N`` in the
  target asks for fewer (the warm-up). ``GET /ready`` answers 200. Keep-alive, so the
  gateway's pool reuses connections.
- ``run_streams``: the client, also raw Protocols in this process: ``streams`` connections
  opened evenly over ``ramp`` seconds, one request each (``Connection: close``); each SSE
  event's arrival is stamped as its bytes are read (``perf_counter``), counting the blank lines
  that end events.

What is measured per stream: time to first token (request written -> first event read), the
gaps between consecutive events, and each event's lateness against its schedule (first event
+ i / rate): the last one says whether the stub and the client kept up (a direct run that is
late is a load side that could not). Numbers only, no timed assertions.
"""

import asyncio
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

PATH = "/v1/chat/completions"
BODY = b'{"stream":true,"messages":[{"role":"user","content":"hi"}]}'
KEYS = 32
EVENT_END = b"\n\n"

STUB = r"""
import asyncio, gc, math, sys
CHUNKS, RATE = int(sys.argv[2]), float(sys.argv[3])
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")
READY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

def frame(data):
    return b"%x\r\n%b\r\n" % (len(data), data)

def event(i):
    return frame(b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","choices":'
                 b'[{"index":0,"delta":{"content":"token%d "}}]}\n\n' % i)

def last(n):
    usage = (b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","choices":[],'
             b'"usage":{"prompt_tokens":5,"completion_tokens":%d,"total_tokens":%d}}\n\n'
             % (n, n + 5))
    return frame(usage) + frame(b"data: [DONE]\n\n") + b"0\r\n\r\n"

EVENTS = [event(i) for i in range(CHUNKS)]
LAST = {CHUNKS: last(CHUNKS)}

class Stream(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer, self.busy = transport, b"", False

    def data_received(self, data):
        self.buffer += data
        if not self.busy:
            self.request()

    def request(self):
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        length, self.close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                self.close = value.strip().lower() == "close"
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length:]
        if method != "POST":
            self.transport.write(READY)
            return self.request()
        chunks = CHUNKS
        if "chunks=" in target:
            chunks = max(2, min(CHUNKS, int(target.rpartition("chunks=")[2])))
        if chunks not in LAST:
            LAST[chunks] = last(chunks)
        self.busy = True
        self.transport.write(HEAD + EVENTS[0])
        start = asyncio.get_running_loop().time()
        TICKER.add(start + 1 / RATE, self, 1, start, chunks)

    def send(self, i, start, chunks):
        if self.transport.is_closing():
            return
        if i < chunks - 1:
            self.transport.write(EVENTS[i])
            TICKER.add(start + (i + 1) / RATE, self, i + 1, start, chunks)
            return
        self.transport.write(EVENTS[i] + LAST[chunks] if i else LAST[chunks])
        self.busy = False
        if self.close:
            self.transport.close()
        else:
            self.request()

# One timer a millisecond for every stream (uvloop's timers tick in milliseconds anyway),
# not a timer per chunk.
class Ticker:

    def __init__(self):
        self.due, self.loop, self.done = {}, None, 0

    def add(self, at, *args):
        tick = max(math.ceil(at * 1000), self.done + 1)  # a late chunk goes at the next tick
        self.due.setdefault(tick, []).append(args)

    def start(self, loop):
        self.loop, self.done = loop, math.floor(loop.time() * 1000)
        self.tick()

    def tick(self):
        now = math.floor(self.loop.time() * 1000)
        for tick in range(self.done + 1, now + 1):
            for stream, *args in self.due.pop(tick, ()):
                stream.send(*args)
        self.done = now
        self.loop.call_at((now + 1) / 1000, self.tick)

TICKER = Ticker()

async def main():
    # No cyclic collection while it serves: a pause here would be counted as the target's
    # (direct or gateway) latency. Garbage is freed by reference counting; the few cycles
    # left (a protocol and its transport) die with this short-lived process.
    gc.collect()
    gc.freeze()
    gc.disable()
    TICKER.start(asyncio.get_running_loop())
    server = await asyncio.get_running_loop().create_server(
        Stream, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with server:
        await server.serve_forever()

try:
    import uvloop
    runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
except ImportError:
    runner = asyncio.Runner()
with runner:
    runner.run(main())
"""


@dataclass(frozen=True)
class StreamPlan:
    streams: int = 1000
    chunks: int = 200
    rate: float = 20.0  # chunks per second of one stream
    ramp: float = 2.0  # seconds over which the streams are opened

    @property
    def duration(self) -> float:
        """Seconds from a stream's first event to its last."""
        return (self.chunks - 1) / self.rate

    @property
    def plateau(self) -> tuple[float, float]:
        """When every stream is open (seconds after the first opened), a margin either side."""
        return self.ramp + 0.25, self.duration - 0.25


@dataclass
class _Stream:
    request: bytes
    sent: float = math.nan
    arrivals: list[float] = field(default_factory=list)
    status_ok: bool | None = None
    tail: bytes = b""


class _Client(asyncio.Protocol):
    """One stream: writes its request when connected, stamps each event as it is read."""

    def __init__(self, stream: _Stream, ended: asyncio.Future[None]) -> None:
        self.stream, self.ended = stream, ended

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.stream.sent = time.perf_counter()
        transport.write(self.stream.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        stream = self.stream
        if stream.status_ok is None:
            stream.status_ok = data.startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 "))
        # The blank line that ends an event may be split across two reads: one byte carried.
        ended = (stream.tail + data).count(EVENT_END)
        stream.tail = data[-1:]
        stream.arrivals.extend(itertools.repeat(now, ended))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


def _requests(port: int, chunks: int | None) -> list[bytes]:
    target = PATH if chunks is None else f"{PATH}?chunks={chunks}"
    return [
        (
            f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nX-API-Key: bench-key-{i + 1}\r\n"
            f"Connection: close\r\nContent-Length: {len(BODY)}\r\n\r\n"
        ).encode()
        + BODY
        for i in range(KEYS)
    ]


@dataclass
class StreamRun:
    """One target's streams: sorted figures in ms, and what the probes read meanwhile."""

    target: str
    plan: StreamPlan
    held: int  # streams answered 200 with every event
    failed: int
    ttft_ms: list[float]
    gaps_ms: list[float]
    late_ms: list[float]
    plateau_events_per_second: float
    probes: dict[str, float] = field(default_factory=dict)

    def pct(self, figures: str, pct: float) -> float:
        ordered: Sequence[float] = getattr(self, figures)
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * pct / 100) - 1)]


async def run_streams(
    port: int,
    plan: StreamPlan,
    probes: Sequence[tuple[float, Callable[[], None]]] = (),
    *,
    chunks: int | None = None,
) -> StreamRun:
    """``plan.streams`` streams to 127.0.0.1:port; each probe is called ``offset`` seconds
    after the first stream opened (from this loop, so keep it short)."""
    loop = asyncio.get_running_loop()
    requests = _requests(port, chunks)
    streams = [_Stream(requests[i % KEYS]) for i in range(plan.streams)]
    ended = [loop.create_future() for _ in streams]
    opening: list[asyncio.Future[object]] = []
    start = loop.time() + 0.05
    handles = [loop.call_at(start + offset, probe) for offset, probe in probes]
    origin = time.perf_counter() + (start - loop.time())
    step = plan.ramp / plan.streams
    for i, (stream, done) in enumerate(zip(streams, ended, strict=True)):
        delay = start + i * step - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        opening.append(
            asyncio.ensure_future(
                loop.create_connection(
                    lambda s=stream, d=done: _Client(s, d),  # type: ignore[misc]
                    "127.0.0.1",
                    port,
                )
            )
        )
    wait = plan.duration + plan.ramp + 30
    await asyncio.wait([*opening, *ended], timeout=wait)
    for future in [*opening, *ended]:
        future.cancel()
    for handle in handles:
        handle.cancel()
    for task in opening:
        if task.done() and not task.cancelled() and task.exception() is None:
            task.result()[0].close()  # type: ignore[index]
    return _summarise(streams, plan, chunks or plan.chunks, origin)


def _summarise(streams: list[_Stream], plan: StreamPlan, chunks: int, origin: float) -> StreamRun:
    ttft, gaps, late = [], [], []
    held = failed = 0
    low, high = plan.plateau
    in_plateau = 0
    for stream in streams:
        times = stream.arrivals[:chunks]
        if stream.status_ok and len(times) == chunks:
            held += 1
        else:
            failed += 1
        if not times:
            continue
        ttft.append((times[0] - stream.sent) * 1000)
        first = times[0]
        for i in range(1, len(times)):
            gaps.append((times[i] - times[i - 1]) * 1000)
            late.append((times[i] - first - i / plan.rate) * 1000)
        in_plateau += sum(1 for t in times if low <= t - origin <= high)
    return StreamRun(
        target="",
        plan=plan,
        held=held,
        failed=failed,
        ttft_ms=sorted(ttft),
        gaps_ms=sorted(gaps),
        late_ms=sorted(late),
        plateau_events_per_second=in_plateau / (high - low),
    )


@dataclass(frozen=True)
class LoopLag:
    """The gateway's event-loop lag over a run, from its histogram read before and after."""

    ticks: int  # timers observed (one due every 10 ms)
    p99_ms: float  # the histogram bound under which 99% of them fired (inf: past the last)
    late_share: float  # the share fired more than ``LATE_MS`` late


LATE_MS = 5.0


def lag_over(before: dict[float, float], after: dict[float, float]) -> LoopLag:
    """``before`` and ``after``: cumulative counts by ``le`` (seconds, ``inf`` included) of
    ``modelops_gateway_event_loop_lag_seconds``."""
    bounds = sorted(after)
    counted = {le: after[le] - before.get(le, 0.0) for le in bounds}
    ticks = counted[math.inf] if bounds else 0.0
    if ticks <= 0:
        return LoopLag(0, math.nan, math.nan)
    p99 = next(le for le in bounds if counted[le] >= 0.99 * ticks)
    on_time = max((counted[le] for le in bounds if le <= LATE_MS / 1000), default=0.0)
    return LoopLag(int(ticks), p99 * 1000, (ticks - on_time) / ticks)
