"""Gateway overhead in one run: direct, through the gateway (memory and Redis), through nginx.

Six targets in front of the same upstream stub (an aiohttp process that answers JSON with an
OpenAI-style ``usage`` at once), each started on a free 127.0.0.1 port and stopped after its turn:

- ``direct``: the stub itself;
- ``gateway-memory``: ``python -m modelops.gateway`` with an in-memory policy, compiled as the
  image ships it when `make bench-gateway` runs it (hack/compile-gateway.sh's tree first on
  PYTHONPATH; the first line printed says which);
- ``gateway-interpreted``: ``gateway-memory`` run from the sources (``operator/``), its baseline;
- ``gateway-redis``: the same with ``redis: {address: ...}`` on a real ``redis-server``
  (``--save '' --appendonly no``) started for the run;
- ``gateway-keys``: ``gateway-memory`` with API keys checked (``--keys``: the 32 keys stored as
  sha256 digests, as a Secret would hold them), against ``gateway-memory`` as its baseline;
- ``gateway-forwarded`` and ``gateway-mirrored``: gateway routing (``measure_routed``):
  every request forwarded to a second, canary gateway, or answered here and mirrored there;
- ``gateway-memory-budgets``, ``gateway-redis-budgets``: the same two with calendar budgets
  (``BUDGETS``: a daily one per client, a monthly global one, requests and tokens) beside the
  windows, compared with their budget-less runs (goal: at most 10% fewer requests per CPU
  second, at most +0.5 ms p99 at the open-loop rate);
- ``gateway-streaming`` (bench/gateway_streaming.py): N concurrent SSE streams (default 1,000,
  each 200 chunks at 20 chunks/s, opened over 2 s) straight to an SSE stub and through one
  gateway core, in the same run: time to first token, the gaps between chunks, the gateway's
  RSS per open stream and its CPU share while every stream is open; the stub and the client
  share the load core, and the direct run says whether they kept their schedule. Run alone
  with ``--only gateway-streaming`` (``make bench-gateway-streaming``), which skips the
  request targets, direct and nginx included;
- ``nginx``: Debian ``nginx``, one non-daemon process (``master_process off``), ``limit_req``
  keyed on ``$http_x_api_key`` and ``proxy_pass`` to a keepalive upstream: the reference.

Limits are high enough that nothing is refused: the point is the cost of the proxy, not its
verdicts. Every request carries an ``X-API-Key`` (32 keys in turn). Two load shapes per target:

- closed loop: ``wrk`` with N connections (default 32) for a fixed time -> req/s, p50, p99;
- open loop: a fixed rate (default 1,000 req/s) for a fixed time, sent by the asyncio scheduler
  in this file over raw keep-alive HTTP/1.1 connections. wrk2's fixed-rate mode is not in
  Debian, so this is Python; each latency is measured from the request's *intended* send time
  (start + i / rate), not from when it actually went out, so a stalled proxy or client cannot
  hide its stall (no coordinated omission). The client's own delay is in every target's numbers,
  ``direct`` included, and cancels out of the *added* latency (target p99 - direct p99).

Cores: with ``taskset`` and 2+ cores, the proxy under test (gateway or nginx) runs alone on
core 1 and everything else (stub, load generator, redis-server) on core 0, so "req/s through
the gateway" is the gateway on one core. This machine has only 2 cores: the stub and the load
generator share core 0 and compete, so the closed-loop ceiling may be theirs, not the proxy's.
The proxy's CPU time during each phase is read from ``/proc/PID/stat`` before and after:
``core%`` is its share of its core, and ``req/CPU-s`` = requests answered / the proxy's CPU
seconds is what one fully busy core would do at that cost per request. On a shared machine
that figure moves far less than req/s (other work steals wall time, not the proxy's CPU time
per request), so the memory/Redis comparison is also printed as CPU time per request.

Prints a table, writes ``bench/results/gateway.json``. Numbers only, no timed assertions.
  make bench-gateway                              # installs nginx/wrk/redis when missing, runs
  PYTHONPATH=. .venv/bin/python bench/gateway.py [--quick] [--stub nginx] [--no-pin]
      [--rate 300] [--only gateway-memory,gateway-keys]   # some targets (direct, nginx always)
      [--only gateway-streaming --streams 1000 --chunks 200 --chunk-rate 20 --ramp 2]
``--stub nginx`` answers from an nginx ``return`` instead of Python, which leaves more of core 0
to the load generator (same JSON body).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import math
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench import gateway_streaming as streaming
from bench.procstat import memory_mb
from prometheus_client.parser import text_string_to_metric_families
from tests.support.processes import free_port, gateway_argv, stop

T = TypeVar("T")


SOURCES = Path(__file__).resolve().parents[1] / "operator"


def interpreted_env() -> dict[str, str]:
    """A gateway process's environment that runs it from the sources whatever PYTHONPATH holds
    (the baseline of the compiled one: the same code, without mypyc's modules)."""
    return {**os.environ, "PYTHONPATH": str(SOURCES)}


def gateway_build() -> str:
    """Which gateway this run measures: the compiled one the image ships (what `make
    bench-gateway*` puts first on PYTHONPATH, hack/compile-gateway.sh), or the sources."""
    from modelops.gateway import server  # noqa: PLC0415  # the gateway processes' import

    where = Path(server.__file__ or "")
    return f"compiled ({where.parent.parent.parent})" if where.suffix == ".so" else "interpreted"


RESULTS = Path(__file__).parent / "results"
PATH = "/v1/chat/completions"
BODY = b'{"messages":[{"role":"user","content":"hi"}]}'
ANSWER = '{"choices":[{"message":{"content":"ok"}}],"usage":{"total_tokens":3}}'
KEYS = 32
GOAL_ADDED_P99_MS = 2.0
GOAL_RPS_ONE_CORE = 5000.0
GOAL_KEYS_FEWER_PER_CORE = 0.10
GOAL_KEYS_ADDED_P99_MS = 0.5
GOAL_FORWARD_P99_MS = 1.5
# Against nginx in the same run (issue 19): CPU per request at most this many times nginx's
# (closed loop, limits on), and added p99 in the open loop at most a bound and a multiple.
GOAL_NGINX_CPU_RATIO = 2.5
GOAL_NGINX_ADDED_P99_MS = 1.0
GOAL_NGINX_ADDED_P99_RATIO = 3.0
# Budgets on vs off, same run: the share of requests per CPU-second they may cost, and p99.
GOAL_BUDGET_COST = 0.10
GOAL_BUDGET_ADDED_P99_MS = 0.5
# Never spent in a run: the cost of checking and charging them is what is measured.
BUDGETS = (
    "budgets: {timeZone: Europe/Paris, limits: ["
    "{name: daily, period: Day, requests: 100000000000, tokens: 1000000000000000}, "
    "{name: all, period: Month, scope: Global, tokens: 1000000000000000}]}\n"
)
SETTLE_SECONDS = 1.0
LOOP_LAG = "modelops_gateway_event_loop_lag_seconds"
# The gateway targets, in the order they run (--only picks some).
TARGETS = (
    "gateway-memory",
    "gateway-interpreted",
    "gateway-forwarded",
    "gateway-mirrored",
    "gateway-redis",
    "gateway-memory-budgets",
    "gateway-redis-budgets",
    "gateway-keys",
    "python-floor",
)
# Streams, not requests: its own direct baseline, no nginx (bench/gateway_streaming.py).
STREAMING = "gateway-streaming"
GOAL_STREAM_TTFT_ADDED_P99_MS = 5.0
GOAL_STREAM_KB = 64.0
GOAL_STREAM_GAP_ADDED_P99_MS = 2.0
# The direct run kept its schedule (the load side is not the limit) when it delivered this
# share of the planned events per second while every stream was open, and its events came
# at most this share of the interval between chunks late at p99.
SCHEDULE_DELIVERED = 0.99
SCHEDULE_LATE_SHARE = 0.25

STUB = f"""
import sys
from aiohttp import web
BODY = b'{ANSWER}'
async def chat(request):
    await request.read()
    return web.Response(body=BODY, content_type="application/json")
async def ready(request):
    return web.Response(text="ok")
app = web.Application()
app.router.add_post("{PATH}", chat)
app.router.add_get("/ready", ready)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

WRK_LUA = f"""
local body = '{BODY.decode()}'
local reqs = {{}}
local n = 0
init = function(args)
  for i = 1, {KEYS} do
    reqs[i] = wrk.format("POST", "{PATH}",
      {{["Content-Type"] = "application/json", ["X-API-Key"] = "bench-key-" .. i}}, body)
  end
end
request = function()
  n = n % #reqs + 1
  return reqs[n]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%.0f,"duration_us":%.0f,"p50_us":%.1f,"p99_us":%.1f,' ..
    '"errors":%.0f}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""

NGINX_COMMON = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  keepalive_requests 1000000;
{http}
}}
"""

NGINX_PROXY = """
  limit_req_zone $http_x_api_key zone=z:10m rate=1000000r/s;
  upstream stub {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      limit_req zone=z burst=100000 nodelay;
      proxy_pass http://stub;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
"""

NGINX_STUB = """
  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type application/json;
      return 200 '{answer}';
    }}
  }}
"""


@dataclass
class Settings:
    closed_seconds: float
    open_seconds: float
    warmup_seconds: float
    connections: int
    rate: float
    pin: bool
    stub: str  # "python" or "nginx"
    load_core: int = 0
    proxy_core: int = 1
    # Where redis-server runs: the load core (None) beside wrk and the stub, or a labelled
    # variant's core (``--redis-core proxy`` of bench/gateway_cpu_paired.py and
    # bench/gateway_paired.py).
    redis_core: int | None = None
    # Cores the hypervisor may take in a round of the paired benches before the round is
    # retaken (``--max-steal``; 1: every round kept).
    max_steal: float = 1.0
    # The gateway targets to measure (--only); None: all. direct and nginx always run: every
    # other row is compared with them.
    only: frozenset[str] | None = None
    streams: streaming.StreamPlan = field(default_factory=streaming.StreamPlan)

    def wants(self, target: str) -> bool:
        return self.only is None or target in self.only

    @property
    def wants_requests(self) -> bool:
        """Any request target: then direct and nginx run too."""
        return self.only is None or bool(self.only & set(TARGETS))


@dataclass
class Result:
    target: str
    shape: str  # "closed" or "open"
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    load: float  # closed: connections; open: the rate in req/s
    max_ms: float | None = None
    proxy_core_share: float | None = None  # CPU-seconds per second of the proxy process
    proxy_cpu_seconds: float | None = None  # the proxy's CPU time during the phase
    other_cores: float = math.nan  # CPU use by processes outside this bench, in cores
    stolen_cores: float = math.nan  # CPU time the hypervisor took away (steal), in cores
    # filled in by compare(), against direct and nginx in the same shape
    added_p99_ms: float = math.nan
    ratio_to_direct: float = math.nan
    ratio_to_nginx: float = math.nan
    requests_per_cpu_second: float | None = None

    @property
    def label(self) -> str:
        return "closed" if self.shape == "closed" else f"open@{self.load:g}"


# --- processes -------------------------------------------------------------------------------


class Processes:
    """Everything this bench starts; ``stop_all`` ends each one, also on errors."""

    def __init__(self, pin: bool) -> None:
        self.pin = pin
        self.running: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        argv: Sequence[str],
        core: int,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        prefix = ["taskset", "-c", str(core)] if self.pin else []
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - fixed programs, generated arguments
                [*prefix, *argv], stdout=out, stderr=subprocess.STDOUT, env=env
            )
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        stop(proc)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            self.stop(proc)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: process exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not come up in {timeout:.0f}s:\n{log.read_text()}")


def wait_redis(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit(f"redis-server exited {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                return
        time.sleep(0.05)
    raise SystemExit(f"redis-server did not answer PING:\n{log.read_text()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_seconds() -> tuple[float, float]:
    """Since boot: CPU time all cores spent busy (not idle, not waiting for I/O, not stolen),
    and the time the hypervisor took them away (steal): a VM's neighbours show only there."""
    jiffies = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    steal = jiffies[7] if len(jiffies) > 7 else 0
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(jiffies) - jiffies[3] - jiffies[4] - steal) / tick, steal / tick


class Meter:
    """CPU use during one phase: the proxy's, and the machine's outside this bench.

    "Other" is all busy CPU time less that of the processes this bench runs (itself, wrk as a
    finished child, the proxy, the stub, redis-server): work of something else on the machine
    that competed with the measurement, in cores.
    """

    def __init__(self, proxy: int | None, helpers: Sequence[int]) -> None:
        self.proxy, self.pids = proxy, [*helpers, *([proxy] if proxy else [])]
        self.start = time.monotonic()
        self.proxy0 = cpu_seconds(proxy) if proxy else 0.0
        self.ours0 = self.ours()
        self.busy0, self.steal0 = machine_seconds()

    def ours(self) -> float:
        me, children = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN)
        return (
            sum(cpu_seconds(pid) for pid in self.pids)
            + me.user
            + me.system
            + children.ru_utime
            + children.ru_stime
        )

    def read(self, result: Result) -> None:
        result.proxy_cpu_seconds, result.proxy_core_share, result.other_cores = self.figures()
        result.stolen_cores = self.stolen()

    def stolen(self) -> float:
        """Cores the hypervisor took away since the start (steal time)."""
        return (machine_seconds()[1] - self.steal0) / (time.monotonic() - self.start)

    def figures(self) -> tuple[float | None, float | None, float]:
        """Since the start: the proxy's CPU seconds and share of its core (None without a
        proxy), and the cores used by processes outside this bench."""
        took = time.monotonic() - self.start
        proxy_cpu = share = None
        if self.proxy:
            proxy_cpu = cpu_seconds(self.proxy) - self.proxy0
            share = proxy_cpu / took
        other = (machine_seconds()[0] - self.busy0) - (self.ours() - self.ours0)
        return proxy_cpu, share, max(0.0, other / took)


class CoreMeter:
    """How busy one core was since the start, 0..1 (from its /proc/stat line)."""

    def __init__(self, core: int) -> None:
        self.core = core
        self.busy0, self.total0 = self._ticks()

    def _ticks(self) -> tuple[int, int]:
        name = f"cpu{self.core}"
        for line in Path("/proc/stat").read_text().splitlines():
            fields = line.split()
            if fields[0] == name:
                jiffies = [int(n) for n in fields[1:]]
                return sum(jiffies) - jiffies[3] - jiffies[4], sum(jiffies)
        raise ValueError(f"no {name} in /proc/stat")

    def busy(self) -> float:
        busy, total = self._ticks()
        return (busy - self.busy0) / max(1, total - self.total0)


# --- load ------------------------------------------------------------------------------------


def closed_loop(base: str, seconds: float, s: Settings, lua: Path) -> Result:
    """wrk, one thread, N connections, each sending its next request when the last answered."""
    argv = ["wrk", "-t1", f"-c{s.connections}", f"-d{seconds:g}s", "-s", str(lua), base + PATH]
    if s.pin:
        argv = ["taskset", "-c", str(s.load_core), *argv]
    out = subprocess.run(  # noqa: S603 - fixed program
        argv, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    took = data["duration_us"] / 1e6
    return Result(
        target="",
        shape="closed",
        requests=int(data["requests"]),
        errors=int(data["errors"]),
        seconds=took,
        rps=data["requests"] / took,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        load=s.connections,
    )


class Connection:
    """One keep-alive HTTP/1.1 connection; answers must carry Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> tuple[int, bool]:
        """Send one request, read the answer: (status, keep the connection)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, keep = -1, True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                keep = False
        if length < 0:
            raise ValueError("answer without Content-Length")
        await self.reader.readexactly(length)
        return status, keep

    def close(self) -> None:
        self.writer.close()


async def open_loop_async(port: int, rate: float, seconds: float, warm: int) -> Result:
    requests = [
        (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nX-API-Key: bench-key-{i + 1}\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        ).encode()
        + BODY
        for i in range(KEYS)
    ]
    idle: list[Connection] = []
    opened = 0

    async def connect() -> Connection:
        nonlocal opened
        opened += 1
        return Connection(*await asyncio.open_connection("127.0.0.1", port))

    idle.extend([await connect() for _ in range(warm)])
    latencies: list[float] = []
    errors = 0

    async def one(i: int, intended: float) -> None:
        nonlocal errors
        conn = idle.pop() if idle else await connect()
        try:
            status, keep = await conn.exchange(requests[i % KEYS])
        except (OSError, ValueError, asyncio.IncompleteReadError):
            errors += 1
            conn.close()
            return
        latencies.append(time.perf_counter() - intended)
        if status != 200:
            errors += 1
        if keep:
            idle.append(conn)
        else:
            conn.close()

    total = int(rate * seconds)
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter() + 0.05
    for i in range(total):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, intended)))
    sent_for = time.perf_counter() - start
    _, pending = await asyncio.wait(tasks, timeout=30)
    for task in pending:
        task.cancel()
    errors += len(pending)
    for conn in idle:
        conn.close()
    latencies.sort()
    return Result(
        target="",
        shape="open",
        requests=len(latencies),
        errors=errors,
        seconds=sent_for,
        rps=len(latencies) / sent_for,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        load=rate,
        max_ms=(latencies[-1] if latencies else math.nan) * 1000,
    )


def percentile(ordered: Sequence[float], pct: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * pct / 100) - 1)]


def on_load_core(
    s: Settings,
    main: Coroutine[Any, Any, T],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Run a load generator in this process, pinned to the load generator's core."""
    if s.pin:
        os.sched_setaffinity(0, {s.load_core})
    try:
        with collector_paused(), asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main)
    finally:
        if s.pin:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """This process's cyclic garbage collector off while it generates load and stamps times.

    Its own pauses were counted as the target's latency: with 1,000 streams open, a full
    collection of this process stalled it 75 ms in the middle of the gateway's run, and
    collections of the younger generations 3-19 ms (seen with ``gc.callbacks``). What a run
    allocates is freed by reference counting; the cycles it leaves (protocols and their
    transports) are collected when the run is over.
    """
    gc.collect()
    gc.freeze()  # what was alive before the run is not walked by the collection after it
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


def open_loop(port: int, seconds: float, s: Settings) -> Result:
    """The fixed-rate client runs in this process, pinned to the load generator's core."""
    return on_load_core(s, open_loop_async(port, s.rate, seconds, warm=s.connections))


# --- the run ---------------------------------------------------------------------------------


def nginx_argv(tmp: Path, name: str, http: str) -> list[str]:
    prefix = tmp / name
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_COMMON.format(tmp=prefix, http=http))
    return ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]


def floor_argv(port: int, upstream: int) -> list[str]:
    """bench/floor_proxy.py: the least proxy on the gateway's stack (uvloop, httptools)."""
    floor = Path(__file__).with_name("floor_proxy.py")
    return [sys.executable, str(floor), str(port), str(upstream)]


def gateway_process(
    tmp: Path,
    name: str,
    port: int,
    upstream: int,
    redis: int | None,
    *,
    keys: bool = False,
    extra: str = "",
) -> list[str]:
    policy = tmp / f"{name}.yaml"
    text = "requestsPerMinute: 100000000\ntokensPerMinute: 1000000000\n" + extra
    if redis is not None:
        text += f"redis: {{address: '127.0.0.1:{redis}'}}\n"
    policy.write_text(text)
    upstream_url = f"http://127.0.0.1:{upstream}"
    flags = ["--policy", str(policy), "--log-level", "WARNING"]
    if keys:
        table = tmp / f"{name}-keys.yaml"
        entries = [
            {"sha256": hashlib.sha256(f"bench-key-{i}".encode()).hexdigest(), "client": f"c{i}"}
            for i in range(1, KEYS + 1)
        ]
        table.write_text(json.dumps({"keys": entries}))  # JSON is YAML
        flags += ["--keys", str(table)]
    return gateway_argv(port, upstream_url, *flags)


def start_proxy(
    procs: Processes,
    s: Settings,
    tmp: Path,
    name: str,
    *,
    argv: list[str] | None,
    port: int,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes] | None:
    """The proxy under test on its own core, ready (None for direct)."""
    if argv is None:
        return None
    log = tmp / f"{name}.log"
    proxy = procs.start(argv, s.proxy_core, log, env)
    ready = "/readyz" if name.startswith("gateway") else "/ready"
    wait_http(f"http://127.0.0.1:{port}{ready}", proxy, log)
    return proxy


def measure(
    procs: Processes,
    s: Settings,
    tmp: Path,
    name: str,
    *,
    argv: list[str] | None,
    port: int,
    env: Mapping[str, str] | None = None,
) -> list[Result]:
    """Start the proxy (none for direct), warm it up, then the open and the closed loop."""
    helpers = [p.pid for p in procs.running]
    proxy = start_proxy(procs, s, tmp, name, argv=argv, port=port, env=env)
    base, lua = f"http://127.0.0.1:{port}", tmp / "bench.lua"
    try:
        closed_loop(base, s.warmup_seconds, s, lua)
        # wrk closing its connections leaves a few ms of work behind: let it settle first
        time.sleep(SETTLE_SECONDS)
        meter = Meter(proxy.pid if proxy else None, helpers)
        opened = open_loop(port, s.open_seconds, s)
        meter.read(opened)
        time.sleep(SETTLE_SECONDS)
        meter = Meter(proxy.pid if proxy else None, helpers)
        closed = closed_loop(base, s.closed_seconds, s, lua)
        meter.read(closed)
    finally:
        if proxy is not None:
            procs.stop(proxy)
    closed.target = opened.target = name
    print(f"  {name}: closed {closed.rps:,.0f} req/s, open p99 {opened.p99_ms:.2f} ms", flush=True)
    return [closed, opened]


def uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The streaming client's loop: uvloop, as the gateway and the stub use, when installed
    (a cheaper load side), else asyncio's own."""
    try:
        import uvloop  # noqa: PLC0415 - optional
    except ImportError:
        return None
    return uvloop.new_event_loop


def measure_streams(
    procs: Processes, s: Settings, tmp: Path, name: str, *, argv: list[str] | None, port: int
) -> streaming.StreamRun:
    """Start the proxy (none for direct), warm it up with a few short streams, read its idle
    RSS, then ``s.streams``: its RSS at the middle of the plateau (every stream open), its CPU
    and the load core's over the plateau."""
    helpers = [p.pid for p in procs.running]
    proxy = start_proxy(procs, s, tmp, name, argv=argv, port=port)
    plan = s.streams
    probes: dict[str, float] = {}
    meters: list[tuple[Meter, CoreMeter]] = []

    def plateau_starts() -> None:
        meters.append((Meter(proxy.pid if proxy else None, helpers), CoreMeter(s.load_core)))

    def plateau_middle() -> None:
        if proxy is not None:
            probes["rss_mb"] = memory_mb(proxy.pid)["VmRSS"]

    def plateau_ends() -> None:
        proxy_meter, load_meter = meters[0]
        _, share, probes["other_cores"] = proxy_meter.figures()
        probes["stolen_cores"] = proxy_meter.stolen()
        if share is not None:
            probes["proxy_core_share"] = share
        probes["load_core_busy"] = load_meter.busy()

    low, high = plan.plateau
    warm = streaming.StreamPlan(streams=50, chunks=4, rate=plan.rate, ramp=0.25)
    try:
        on_load_core(s, streaming.run_streams(port, warm, chunks=warm.chunks), uvloop_factory())
        time.sleep(SETTLE_SECONDS)
        if proxy is not None:
            probes["idle_rss_mb"] = memory_mb(proxy.pid)["VmRSS"]
            lag_before = loop_lag_counts(port)
        timed = [(low, plateau_starts), ((low + high) / 2, plateau_middle), (high, plateau_ends)]
        result = on_load_core(s, streaming.run_streams(port, plan, timed), uvloop_factory())
        if proxy is not None:
            lag = streaming.lag_over(lag_before, loop_lag_counts(port))
            probes["loop_lag_ticks"] = lag.ticks
            probes["loop_lag_p99_ms"] = lag.p99_ms
            probes["loop_lag_late_share"] = lag.late_share
    finally:
        if proxy is not None:
            procs.stop(proxy)
    result.target, result.probes = name, probes
    print(
        f"  {name}: {result.held}/{plan.streams} streams held, TTFT p99 "
        f"{result.pct('ttft_ms', 99):.2f} ms, gap p99 {result.pct('gaps_ms', 99):.2f} ms",
        flush=True,
    )
    return result


def loop_lag_counts(port: int) -> dict[float, float]:
    """The gateway's event-loop lag histogram from its /metrics: cumulative count per ``le``."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    counts: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == LOOP_LAG + "_bucket":
                counts[float(sample.labels["le"])] = sample.value
    return counts


def run_streaming(s: Settings, procs: Processes, tmp: Path) -> list[streaming.StreamRun]:
    """Direct to the SSE stub, then through a gateway (memory limits, as gateway-memory)."""
    plan = s.streams
    stub_port = free_port()
    log = tmp / "sse-stub.log"
    argv = [sys.executable, "-c", streaming.STUB, str(stub_port), str(plan.chunks), str(plan.rate)]
    stub = procs.start(argv, s.load_core, log)
    try:
        wait_http(f"http://127.0.0.1:{stub_port}/ready", stub, log)
        runs = [measure_streams(procs, s, tmp, "direct", argv=None, port=stub_port)]
        port = free_port()
        # Each open stream holds one upstream connection: the pool must hold them all.
        argv = gateway_process(tmp, STREAMING, port, stub_port, None)
        argv += ["--max-connections", str(plan.streams)]
        runs.append(measure_streams(procs, s, tmp, STREAMING, argv=argv, port=port))
    finally:
        procs.stop(stub)
    return runs


def start_backends(s: Settings, procs: Processes, tmp: Path) -> tuple[int, int]:
    """The upstream stub and a redis-server on the load core (and wrk's script in ``tmp``):
    their ports."""
    (tmp / "bench.lua").write_text(WRK_LUA)
    stub_port = free_port()
    if s.stub == "nginx":
        http = NGINX_STUB.format(port=stub_port, answer=ANSWER)
        stub_argv = nginx_argv(tmp, "stub", http)
    else:
        stub_argv = [sys.executable, "-c", STUB, str(stub_port)]
    stub = procs.start(stub_argv, s.load_core, tmp / "stub.log")
    wait_http(f"http://127.0.0.1:{stub_port}/ready", stub, tmp / "stub.log")
    redis_port = free_port()
    redis_log = tmp / "redis.log"
    redis = procs.start(
        [
            "redis-server",
            *("--port", str(redis_port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(tmp)),
        ],
        s.load_core if s.redis_core is None else s.redis_core,
        redis_log,
    )
    wait_redis(redis_port, redis, redis_log)
    return stub_port, redis_port


def run(s: Settings, procs: Processes, tmp: Path) -> list[Result]:
    if not s.wants_requests:
        return []
    stub_port, redis_port = start_backends(s, procs, tmp)
    results = measure(procs, s, tmp, "direct", argv=None, port=stub_port)
    if s.wants("gateway-memory"):
        port = free_port()
        argv = gateway_process(tmp, "gateway-memory", port, stub_port, None)
        results += measure(procs, s, tmp, "gateway-memory", argv=argv, port=port)
    if s.wants("gateway-interpreted"):
        port = free_port()
        argv = gateway_process(tmp, "gateway-interpreted", port, stub_port, None)
        env = interpreted_env()
        results += measure(procs, s, tmp, "gateway-interpreted", argv=argv, port=port, env=env)
    for name, table in (("gateway-forwarded", FORWARDED), ("gateway-mirrored", MIRRORED)):
        if s.wants(name):
            results += measure_routed(procs, s, tmp, stub_port, name=name, table=table)
    if s.wants("gateway-redis"):
        port = free_port()
        argv = gateway_process(tmp, "gateway-redis", port, stub_port, redis_port)
        results += measure(procs, s, tmp, "gateway-redis", argv=argv, port=port)
    for name, store in (("gateway-memory-budgets", None), ("gateway-redis-budgets", redis_port)):
        if s.wants(name):
            port = free_port()
            argv = gateway_process(tmp, name, port, stub_port, store, extra=BUDGETS)
            results += measure(procs, s, tmp, name, argv=argv, port=port)
    if s.wants("gateway-keys"):
        port = free_port()
        argv = gateway_process(tmp, "gateway-keys", port, stub_port, None, keys=True)
        results += measure(procs, s, tmp, "gateway-keys", argv=argv, port=port)
    if s.wants("python-floor"):
        port = free_port()
        argv = floor_argv(port, stub_port)
        results += measure(procs, s, tmp, "python-floor", argv=argv, port=port)
    port = free_port()
    argv = nginx_argv(tmp, "nginx", NGINX_PROXY.format(port=port, upstream=stub_port))
    results += measure(procs, s, tmp, "nginx", argv=argv, port=port)
    return results


def measure_routed(
    procs: Processes, s: Settings, tmp: Path, stub_port: int, *, name: str, table: str
) -> list[Result]:
    """A gateway with gateway routing in front of the stub, beside the canary's gateway
    (``routed_gateway``)."""
    port = free_port()
    argv, canary = routed_gateway(procs, s, tmp, stub_port, name=name, table=table, port=port)
    try:
        return measure(procs, s, tmp, name, argv=argv, port=port)
    finally:
        procs.stop(canary)


def routed_gateway(
    procs: Processes, s: Settings, tmp: Path, stub_port: int, *, name: str, table: str, port: int
) -> tuple[list[str], subprocess.Popen[bytes]]:
    """Start the canary's gateway in front of the stub (it answers marked requests itself);
    return the argv of a gateway on ``port`` with gateway routing (``table``: its split, with
    ``{canary}`` for the canary's URL), and the canary's process. The canary's gateway runs
    on the load generator's core (there are only two)."""
    key = tmp / "forward.key"
    key.write_text("k" * 64)
    canary_port = free_port()
    canary_table = tmp / f"{name}-canary-routing.yaml"
    canary_table.write_text("canaryWeight: 0\ntracks: {stable: 'http://127.0.0.1:1'}\n")
    routing = ["--routing", str(canary_table), "--forward-key", str(key), "--track", "canary"]
    canary_argv = gateway_process(tmp, f"{name}-canary", canary_port, stub_port, None) + routing
    log = tmp / f"{name}-canary.log"
    canary = procs.start(canary_argv, s.load_core, log)
    try:
        wait_http(f"http://127.0.0.1:{canary_port}/readyz", canary, log)
    except BaseException:
        procs.stop(canary)
        raise
    split = tmp / f"{name}-routing.yaml"
    split.write_text(table.format(canary=f"http://127.0.0.1:{canary_port}"))
    argv = gateway_process(tmp, name, port, stub_port, None)
    return [*argv, "--routing", str(split), "--forward-key", str(key)], canary


# ``gateway-forwarded``: every request forwarded (canary weight 100), marked, answered by the
# canary's gateway: against ``gateway-memory`` (answered locally) the difference is what
# forwarding adds (the hop, the HMAC mark and its check). ``gateway-mirrored``: every request
# answered locally and a copy mirrored (mirror 100): the difference in the gateway's CPU per
# request is what a mirrored copy costs the stable pod.
FORWARDED = "canaryWeight: 100\ntracks: {{stable: 'http://127.0.0.1:1', canary: '{canary}'}}\n"
MIRRORED = (
    "canaryWeight: 0\nmirror: 100\ntracks: {{stable: 'http://127.0.0.1:1', canary: '{canary}'}}\n"
)


# --- report ----------------------------------------------------------------------------------


def compare(results: list[Result]) -> None:
    """Added p99 vs direct, ratios to direct and to nginx (req/s closed, p99 open)."""
    by = {(r.target, r.shape): r for r in results}
    for r in results:
        direct, nginx = by[("direct", r.shape)], by[("nginx", r.shape)]
        r.added_p99_ms = r.p99_ms - direct.p99_ms
        if r.shape == "closed":
            r.ratio_to_direct, r.ratio_to_nginx = r.rps / direct.rps, r.rps / nginx.rps
        else:
            r.ratio_to_direct, r.ratio_to_nginx = r.p99_ms / direct.p99_ms, r.p99_ms / nginx.p99_ms
        if r.proxy_cpu_seconds:
            r.requests_per_cpu_second = r.requests / r.proxy_cpu_seconds


def table(results: list[Result]) -> str:
    head = (
        f"{'target':<15} {'shape':<10} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'+p99 ms':>8} {'/direct':>8} {'/nginx':>7} {'errors':>6} {'core%':>6} "
        f"{'req/CPU-s':>10} {'other%':>6} {'steal%':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        share = "-" if r.proxy_core_share is None else f"{r.proxy_core_share * 100:.0f}"
        per_core = _per_cpu(r)
        lines.append(
            f"{r.target:<15} {r.label:<10} {r.rps:>8,.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} "
            f"{r.added_p99_ms:>+8.2f} {r.ratio_to_direct:>8.2f} {r.ratio_to_nginx:>7.2f} "
            f"{r.errors:>6} {share:>6} {per_core:>10} {r.other_cores * 100:>6.0f} "
            f"{r.stolen_cores * 100:>6.0f}"
        )
    lines += [
        "/direct, /nginx: ratio of req/s on closed rows, of p99 on open rows; +p99: p99 minus",
        "direct's p99 in the same shape; core%: the proxy's CPU use of its core; req/CPU-s:",
        "requests / the proxy's CPU seconds, what one fully busy core would do at that cost;",
        "other%: CPU used by processes outside this bench during the phase (100 = one core);",
        "steal%: CPU time the hypervisor gave to other VMs meanwhile (a VM's noise shows there).",
    ]
    return "\n".join(lines)


def _per_cpu(r: Result) -> str:
    return "-" if r.requests_per_cpu_second is None else f"{r.requests_per_cpu_second:,.0f}"


def cpu_per_request(results: list[Result]) -> list[str]:
    """The noise-resistant comparison: the gateway's CPU time per request, Redis vs memory,
    from the same run and the same load shape."""
    by = {(r.target, r.label): r for r in results}
    out = []
    for label in dict.fromkeys(r.label for r in results):
        memory, redis = by.get(("gateway-memory", label)), by.get(("gateway-redis", label))
        if not (memory and redis and memory.requests_per_cpu_second):
            continue
        if not redis.requests_per_cpu_second:
            continue
        mem_us, red_us = 1e6 / memory.requests_per_cpu_second, 1e6 / redis.requests_per_cpu_second
        out.append(
            f"gateway CPU per request, {label}: memory {mem_us:.0f} us, Redis {red_us:.0f} us "
            f"(Redis/memory {red_us / mem_us:.2f}); requests per CPU-second: memory "
            f"{memory.requests_per_cpu_second:,.0f}, Redis {redis.requests_per_cpu_second:,.0f}"
        )
    for label in dict.fromkeys(r.label for r in results):
        memory, plain = by.get(("gateway-memory", label)), by.get(("gateway-interpreted", label))
        if memory and plain and memory.requests_per_cpu_second and plain.requests_per_cpu_second:
            mem_us = 1e6 / memory.requests_per_cpu_second
            plain_us = 1e6 / plain.requests_per_cpu_second
            out.append(
                f"gateway CPU per request, {label}: {gateway_build()} {mem_us:.0f} us, the same "
                f"interpreted {plain_us:.0f} us ({100 * (mem_us / plain_us - 1):+.1f}%)"
            )
    return out


def keys_cost(results: list[Result]) -> list[str]:
    """Key checking on (gateway-keys) against off (gateway-memory), same run, same shapes.
    Goal: at most 10% fewer requests per core (req/CPU-s, closed loop) and +0.5 ms p99."""
    by = {(r.target, r.shape): r for r in results}
    off_c, on_c = by.get(("gateway-memory", "closed")), by.get(("gateway-keys", "closed"))
    off_o, on_o = by.get(("gateway-memory", "open")), by.get(("gateway-keys", "open"))
    if not (off_c and on_c and off_o and on_o):
        return []
    out = [f"keys on/off, closed loop: req/s {on_c.rps / off_c.rps:.3f}"]
    if off_c.requests_per_cpu_second and on_c.requests_per_cpu_second:
        per_core = on_c.requests_per_cpu_second / off_c.requests_per_cpu_second
        verdict = "met" if per_core >= 1 - GOAL_KEYS_FEWER_PER_CORE else "not met"
        out[0] += (
            f", req/CPU-s {per_core:.3f} (goal >= {1 - GOAL_KEYS_FEWER_PER_CORE:.2f}): {verdict}"
        )
    delta = on_o.p99_ms - off_o.p99_ms
    verdict = "met" if delta <= GOAL_KEYS_ADDED_P99_MS else "not met"
    out.append(
        f"keys on/off, open loop at {on_o.load:g} req/s: p99 {off_o.p99_ms:.2f} -> "
        f"{on_o.p99_ms:.2f} ms ({delta:+.2f} ms, goal <= +{GOAL_KEYS_ADDED_P99_MS:g}): {verdict}"
    )
    return out


def budget_costs(results: list[Result]) -> list[str]:
    """Budgets on vs off, per store and load shape: requests per CPU-second (what one core
    would do; req/s on a shared 2-core box moves with everything else) and added p99."""
    by = {(r.target, r.label): r for r in results}
    out = []
    for store in ("memory", "redis"):
        for label in dict.fromkeys(r.label for r in results):
            off, on = (
                by.get((f"gateway-{store}", label)),
                by.get((f"gateway-{store}-budgets", label)),
            )
            if off is None or on is None:
                continue
            if on.shape == "open":
                added = on.p99_ms - off.p99_ms
                verdict = "met" if added <= GOAL_BUDGET_ADDED_P99_MS else "not met"
                out.append(
                    f"budgets on vs off, {store}, {label}: p99 {off.p99_ms:.2f} -> "
                    f"{on.p99_ms:.2f} ms ({added:+.2f} ms; goal <= "
                    f"+{GOAL_BUDGET_ADDED_P99_MS:g} ms): {verdict}"
                )
            if off.requests_per_cpu_second and on.requests_per_cpu_second:
                change = on.requests_per_cpu_second / off.requests_per_cpu_second - 1
                verdict = "met" if change >= -GOAL_BUDGET_COST else "not met"
                out.append(
                    f"budgets on vs off, {store}, {label}: {off.requests_per_cpu_second:,.0f} -> "
                    f"{on.requests_per_cpu_second:,.0f} req/CPU-s ({change:+.1%}; req/s "
                    f"{off.rps:,.0f} -> {on.rps:,.0f}; goal >= {-GOAL_BUDGET_COST:+.0%}): {verdict}"
                )
    return out


def goals(results: list[Result]) -> list[str]:
    out = []
    for r in results:
        if not r.target.startswith("gateway"):
            continue
        if r.shape == "open":
            verdict = "met" if r.added_p99_ms <= GOAL_ADDED_P99_MS else "not met"
            out.append(
                f"{r.target}: added p99 at {r.load:g} req/s {r.added_p99_ms:+.2f} ms "
                f"(goal <= {GOAL_ADDED_P99_MS:g} ms): {verdict}"
            )
        else:
            verdict = "met" if r.rps >= GOAL_RPS_ONE_CORE else "not met as measured"
            per_core = _per_cpu(r)
            out.append(
                f"{r.target}: {r.rps:,.0f} req/s closed loop (goal >= {GOAL_RPS_ONE_CORE:,.0f} "
                f"on one core): {verdict}; at its CPU per request, one busy core: {per_core} req/s"
            )
    return out


def against_nginx(results: list[Result]) -> list[str]:
    """The gateway with limits on (memory, Redis) against nginx ``limit_req``, same run: CPU
    per request in the closed loop, and added p99 in the open loop."""
    by = {(r.target, r.shape): r for r in results}
    out = []
    for target in ("gateway-memory", "gateway-redis"):
        closed, nginx = by.get((target, "closed")), by.get(("nginx", "closed"))
        if closed and nginx and closed.requests_per_cpu_second and nginx.requests_per_cpu_second:
            ratio = nginx.requests_per_cpu_second / closed.requests_per_cpu_second
            verdict = "met" if ratio <= GOAL_NGINX_CPU_RATIO else "not met"
            out.append(
                f"{target}: CPU per request {1e6 / closed.requests_per_cpu_second:.0f} us, "
                f"nginx {1e6 / nginx.requests_per_cpu_second:.0f} us: {ratio:.2f}x nginx "
                f"(goal <= {GOAL_NGINX_CPU_RATIO:g}x): {verdict}"
            )
        floor = by.get(("python-floor", "closed"))
        if closed and floor and closed.requests_per_cpu_second and floor.requests_per_cpu_second:
            out.append(
                f"{target}: {floor.requests_per_cpu_second / closed.requests_per_cpu_second:.2f}x "
                "python-floor's CPU per request (the same stack doing only the proxying)"
            )
        opened, nginx = by.get((target, "open")), by.get(("nginx", "open"))
        if opened and nginx:
            bound = min(GOAL_NGINX_ADDED_P99_MS, GOAL_NGINX_ADDED_P99_RATIO * nginx.added_p99_ms)
            verdict = "met" if opened.added_p99_ms <= bound else "not met"
            out.append(
                f"{target}: added p99 at {opened.load:g} req/s {opened.added_p99_ms:+.2f} ms, "
                f"nginx {nginx.added_p99_ms:+.2f} ms (goal <= {GOAL_NGINX_ADDED_P99_MS:g} ms "
                f"and <= {GOAL_NGINX_ADDED_P99_RATIO:g}x nginx's): {verdict}"
            )
    floor, nginx = by.get(("python-floor", "closed")), by.get(("nginx", "closed"))
    if floor and nginx and floor.requests_per_cpu_second and nginx.requests_per_cpu_second:
        out.append(
            f"python-floor: CPU per request {1e6 / floor.requests_per_cpu_second:.0f} us: "
            f"{nginx.requests_per_cpu_second / floor.requests_per_cpu_second:.2f}x nginx "
            "(what the stack itself costs, bench/floor_proxy.py)"
        )
    return out


def forwarding(results: list[Result]) -> list[str]:
    """What forwarding to the other track adds, against the same gateway answering locally."""
    by = {(r.target, r.shape): r for r in results}
    local, forwarded = by.get(("gateway-memory", "open")), by.get(("gateway-forwarded", "open"))
    if local is None or forwarded is None:
        return []
    added_p50 = forwarded.p50_ms - local.p50_ms
    added_p99 = forwarded.p99_ms - local.p99_ms
    verdict = "met" if added_p99 <= GOAL_FORWARD_P99_MS else "not met"
    out = [
        f"forwarding at {forwarded.load:g} req/s adds p50 {added_p50:+.2f} ms, p99 "
        f"{added_p99:+.2f} ms against answering locally (goal <= {GOAL_FORWARD_P99_MS:g} ms "
        f"p99): {verdict}"
    ]
    mirrored = by.get(("gateway-mirrored", "open"))
    if mirrored and mirrored.requests_per_cpu_second and local.requests_per_cpu_second:
        local_us = 1e6 / local.requests_per_cpu_second
        mirrored_us = 1e6 / mirrored.requests_per_cpu_second
        out.append(
            f"mirroring every request at {mirrored.load:g} req/s: the gateway's CPU per request "
            f"{mirrored_us:.0f} us against {local_us:.0f} us answering locally: a mirrored copy "
            f"costs {mirrored_us - local_us:+.0f} us ({mirrored_us / local_us:.2f}x)"
        )
    return out


def streaming_report(runs: list[streaming.StreamRun]) -> list[str]:
    """The streaming figures, gateway against direct in the same run, and a verdict per goal."""
    if len(runs) != 2:
        return []
    direct, gateway = runs
    plan = gateway.plan
    head = (
        f"{'target':<18} {'held':>9} {'TTFT p50':>9} {'TTFT p99':>9} {'gap p50':>8} "
        f"{'gap p99':>8} {'late p99':>9} {'events/s':>9} {'core%':>6} {'load%':>6} {'other%':>6} "
        f"{'steal%':>6}"
    )
    lines = [
        f"streaming: {plan.streams:,} streams x {plan.chunks} chunks at {plan.rate:g}/s "
        f"(opened over {plan.ramp:g} s); times in ms",
        head,
        "-" * len(head),
    ]
    for r in runs:
        share = r.probes.get("proxy_core_share")
        lines.append(
            f"{r.target:<18} {f'{r.held}/{plan.streams}':>9} {r.pct('ttft_ms', 50):>9.2f} "
            f"{r.pct('ttft_ms', 99):>9.2f} {r.pct('gaps_ms', 50):>8.2f} "
            f"{r.pct('gaps_ms', 99):>8.2f} {r.pct('late_ms', 99):>9.2f} "
            f"{r.plateau_events_per_second:>9,.0f} "
            f"{'-' if share is None else f'{share * 100:.0f}':>6} "
            f"{r.probes.get('load_core_busy', math.nan) * 100:>6.0f} "
            f"{r.probes.get('other_cores', math.nan) * 100:>6.0f} "
            f"{r.probes.get('stolen_cores', math.nan) * 100:>6.0f}"
        )
    lines += [
        "late: an event's arrival after its schedule (first event + i / rate); events/s, core%",
        "(the gateway's CPU use of its core), load% (the stub's and client's core, busy) and",
        "other% (processes outside this bench, 100 = one core), steal% (CPU time the hypervisor",
        "gave to other VMs): while every stream was open.",
    ]
    planned = plan.streams * plan.rate
    busy = direct.probes.get("load_core_busy", math.nan)
    late_ms = SCHEDULE_LATE_SHARE * 1000 / plan.rate
    kept = (
        direct.plateau_events_per_second >= SCHEDULE_DELIVERED * planned
        and direct.pct("late_ms", 99) <= late_ms
    )
    lines.append(
        f"load side: the direct run delivered {direct.plateau_events_per_second:,.0f} events/s "
        f"of {planned:,.0f} planned, lateness p99 {direct.pct('late_ms', 99):.2f} ms (at most "
        f"{late_ms:g}), its core {busy:.0%} busy (other processes included): "
        + ("it kept its schedule" if kept else "it did NOT keep it (the load side is the limit)")
    )

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    share = gateway.probes.get("proxy_core_share", math.nan)
    lines.append(
        f"streams held through one gateway core: {gateway.held}/{plan.streams} "
        f"({gateway.failed} failed; the gateway used {share:.0%} of its core): "
        + verdict(gateway.held == plan.streams)
    )
    added = gateway.pct("ttft_ms", 99) - direct.pct("ttft_ms", 99)
    lines.append(
        f"TTFT p50 direct {direct.pct('ttft_ms', 50):.2f} ms, gateway "
        f"{gateway.pct('ttft_ms', 50):.2f} ms; p99 direct {direct.pct('ttft_ms', 99):.2f} ms, "
        f"gateway {gateway.pct('ttft_ms', 99):.2f} ms: added p99 {added:+.2f} ms (goal <= "
        f"{GOAL_STREAM_TTFT_ADDED_P99_MS:g} ms): " + verdict(added <= GOAL_STREAM_TTFT_ADDED_P99_MS)
    )
    idle, full = gateway.probes.get("idle_rss_mb", math.nan), gateway.probes.get("rss_mb", math.nan)
    per_stream_kb = (full - idle) * 1024 / plan.streams
    lines.append(
        f"memory per open stream: {per_stream_kb:.1f} KB (gateway RSS idle {idle:.1f} MB, "
        f"{full:.1f} MB with {plan.streams:,} open; goal <= {GOAL_STREAM_KB:g} KB): "
        + verdict(per_stream_kb <= GOAL_STREAM_KB)
    )
    ticks = gateway.probes.get("loop_lag_ticks", 0)
    if ticks:
        lines.append(
            f"the gateway's event loop over the run ({ticks:,.0f} timers due every 10 ms): "
            f"99% ran within {gateway.probes['loop_lag_p99_ms']:g} ms of their time, "
            f"{gateway.probes['loop_lag_late_share']:.1%} more than {streaming.LATE_MS:g} ms "
            "late: what a new stream waits at each step (read, task, connect, answer, write)"
        )
    gap = gateway.pct("gaps_ms", 99) - direct.pct("gaps_ms", 99)
    lines.append(
        f"inter-chunk gap p99: direct {direct.pct('gaps_ms', 99):.2f} ms, gateway "
        f"{gateway.pct('gaps_ms', 99):.2f} ms ({gap:+.2f} ms; goal <= "
        f"+{GOAL_STREAM_GAP_ADDED_P99_MS:g} ms): " + verdict(gap <= GOAL_STREAM_GAP_ADDED_P99_MS)
    )
    return lines


def streaming_json(run: streaming.StreamRun) -> dict[str, object]:
    """One streaming target's figures for the results file (percentiles, not every gap)."""
    figures = {
        f"{name}_p{pct}": run.pct(f"{name}_ms", pct)
        for name in ("ttft", "gaps", "late")
        for pct in (50, 99)
    }
    return {
        "target": run.target,
        "plan": asdict(run.plan),
        "held": run.held,
        "failed": run.failed,
        "plateau_events_per_second": run.plateau_events_per_second,
        **figures,
        **run.probes,
    }


def write_results(out: Path, started: float, cores: int, **parts: object) -> None:
    """``out`` as JSON: when, on what machine and which gateway build, then ``parts``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "started": started,
        "machine": {"cores": cores, "python": platform.python_version()},
        "gateway": gateway_build(),
    }
    # default=sorted: settings.only, a frozenset, is written as a sorted list.
    out.write_text(json.dumps(header | parts, indent=2, default=sorted) + "\n")
    print(f"\nwrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="about a minute in all")
    parser.add_argument("--seconds", type=float, default=None, help="each load phase's length")
    parser.add_argument("--connections", type=int, default=32, help="closed-loop connections")
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop req/s")
    parser.add_argument("--stub", choices=["python", "nginx"], default="python")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--out", type=Path, default=RESULTS / "gateway.json")
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated gateway targets ({', '.join((*TARGETS, STREAMING))}); direct and "
        f"nginx run with any but {STREAMING}, which has its own direct run",
    )
    parser.add_argument("--streams", type=int, default=1000, help=f"{STREAMING}: streams")
    parser.add_argument("--chunks", type=int, default=200, help=f"{STREAMING}: chunks a stream")
    parser.add_argument(
        "--chunk-rate", type=float, default=20.0, help=f"{STREAMING}: chunks/s of a stream"
    )
    parser.add_argument(
        "--ramp", type=float, default=2.0, help=f"{STREAMING}: seconds to open all streams"
    )
    args = parser.parse_args()
    only = None if args.only is None else frozenset(args.only.split(","))
    known = {*TARGETS, STREAMING}
    if only is not None and not only <= known:
        raise SystemExit(f"--only: unknown target(s) {sorted(only - known)}")
    plan = streaming.StreamPlan(args.streams, args.chunks, args.chunk_rate, args.ramp)
    if plan.plateau[0] >= plan.plateau[1]:
        raise SystemExit("a stream must last longer than --ramp + 0.5 s (--chunks / --chunk-rate)")
    cores = len(os.sched_getaffinity(0))
    pin = not args.no_pin and cores >= 2 and shutil.which("taskset") is not None
    seconds = args.seconds or (4.0 if args.quick else 15.0)
    s = Settings(
        closed_seconds=seconds,
        open_seconds=seconds,
        warmup_seconds=1.0 if args.quick else 2.0,
        connections=args.connections,
        rate=args.rate,
        pin=pin,
        stub=args.stub,
        only=only,
        streams=plan,
    )
    for tool in ("wrk", "nginx", "redis-server") if s.wants_requests else ():
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: run hack/install-bench-deps.sh")
    where = "proxy alone on core 1; stub, load generator, redis on core 0" if pin else "unpinned"
    print(f"gateway bench: {cores} cores, {where}; stub={s.stub}", flush=True)
    print(f"gateway: {gateway_build()}", flush=True)
    procs = Processes(pin)
    started = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="gwbench-") as tmp:
            results = run(s, procs, Path(tmp))
            streamed = run_streaming(s, procs, Path(tmp)) if s.wants(STREAMING) else []
    finally:
        procs.stop_all()
    compare(results)
    print()
    if results:
        print(table(results))
        print()
    for lines in (
        streaming_report(streamed),
        cpu_per_request(results),
        goals(results),
        against_nginx(results),
        keys_cost(results),
        forwarding(results),
        budget_costs(results),
    ):
        if lines:
            print("\n".join(lines))
    write_results(
        args.out,
        started,
        cores,
        settings=asdict(s),
        results=[{**asdict(r), "shape": r.label} for r in results],
        streaming=[streaming_json(r) for r in streamed],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
