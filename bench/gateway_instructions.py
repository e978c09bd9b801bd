"""Instructions per request through the gateway and through nginx, counted by callgrind.

Why a second measure beside bench/gateway.py's CPU time: on a VM the hypervisor takes the CPU
away at times (``steal%`` there), and CPU time per request then swings by 20% from one run to
the next, more than the costs issues 16 and 19 compare. Instructions counted by valgrind's
callgrind are the same in every run (to about 1%), so a change of a few percent shows.

Each target (the same ones as bench/gateway.py: the gateway with memory limits, API keys,
budgets, Redis limits, Redis with budgets, and nginx ``limit_req``) runs under
``valgrind --tool=callgrind --instr-atstart=no`` in front of the same nginx stub. The client
keeps ``--connections`` keep-alive connections and sends in rounds, one request on each, then
reads each answer (requests that arrive together, as under load: the Redis backend batches
them as it would). ``--warm`` requests fill the caches and bind the metric children, then
counting is switched on (``callgrind_control -i on``), ``--requests`` more are sent, counting
is switched off and the counts dumped before the process stops.

What it does not count: the kernel's share (the socket reads and writes, about the same number
per request for every target) and time spent waiting. So the ratios here are of the work each
program does in user space; bench/gateway.py's CPU time includes the kernel's share too.

Prints a table, writes ``bench/results/gateway-instructions.json``. Numbers only.
  make bench-gateway-instructions                 # installs valgrind (and nginx, redis) if missing
  PYTHONPATH=. .venv/bin/python bench/gateway_instructions.py [--requests 1000] [--only ...]
      [--keep DIR]                                # keeps the callgrind dumps, to annotate
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.gateway import (
    ANSWER,
    BODY,
    BUDGETS,
    KEYS,
    NGINX_PROXY,
    NGINX_STUB,
    PATH,
    Processes,
    floor_argv,
    gateway_build,
    gateway_process,
    interpreted_env,
    nginx_argv,
    wait_http,
    wait_redis,
)
from tests.support.processes import free_port

RESULTS = Path(__file__).parent / "results" / "gateway-instructions.json"
TARGETS = (
    "gateway-interpreted",
    "gateway-memory",
    "gateway-keys",
    "gateway-memory-budgets",
    "gateway-redis",
    "gateway-redis-budgets",
    "python-floor",
    "nginx",
)
# Each cost compared with the target it adds to (issue 16: keys and budgets on vs off).
BASELINES = {
    "gateway-keys": "gateway-memory",
    "gateway-memory-budgets": "gateway-memory",
    "gateway-redis-budgets": "gateway-redis",
}
CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")


@dataclass
class Count:
    target: str
    requests: int
    instructions: int

    @property
    def per_request(self) -> float:
        return self.instructions / self.requests


def requests_to_send() -> list[bytes]:
    """The bench's request, one per API key in turn (as bench/gateway.py's wrk script)."""
    return [
        (
            f"POST {PATH} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"X-API-Key: bench-key-{i}\r\nContent-Length: {len(BODY)}\r\n\r\n"
        ).encode()
        + BODY
        for i in range(1, KEYS + 1)
    ]


class _Reader:
    """Answers read off one keep-alive connection, one at a time."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.pending = b""

    def answer(self) -> None:
        """Read one answer; it must be a 200 with a Content-Length."""
        while True:
            head, sep, rest = self.pending.partition(b"\r\n\r\n")
            if sep:
                match = CONTENT_LENGTH.search(head)
                if match is None:
                    raise SystemExit(f"an answer without Content-Length: {head[:200]!r}")
                length = int(match.group(1))
                if len(rest) >= length:
                    if not head.startswith(b"HTTP/1.1 200 "):
                        raise SystemExit(f"not a 200: {head[:200]!r}")
                    self.pending = rest[length:]
                    return
            data = self.conn.recv(65536)
            if not data:
                raise SystemExit("the target closed a connection")
            self.pending += data


def send(port: int, count: int, connections: int, requests: list[bytes]) -> None:
    """``count`` requests over ``connections`` keep-alive connections, in rounds: one request
    on each, then each answer. Requests of a round arrive together, as under load, so the
    Redis backend batches them as it would (one connection would make every batch one)."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(connections)]
    readers = [_Reader(conn) for conn in conns]
    try:
        sent = 0
        while sent < count:
            round_size = min(connections, count - sent)
            for i in range(round_size):
                conns[i].sendall(requests[(sent + i) % len(requests)])
            for i in range(round_size):
                readers[i].answer()
            sent += round_size
    finally:
        for conn in conns:
            conn.close()


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Until the target under valgrind (slow to start) accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the target exited {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"port {port} did not open in {timeout:.0f}s:\n{log.read_text()}")


def total_instructions(out_prefix: Path) -> int:
    """The instructions callgrind counted while counting was on, over the process's dumps."""
    total = 0
    for dump in out_prefix.parent.glob(out_prefix.name + ".*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total


def count(
    procs: Processes,
    tmp: Path,
    target: str,
    *,
    argv: list[str],
    port: int,
    args: argparse.Namespace,
) -> Count:
    out = tmp / f"callgrind-{target}"
    log = tmp / f"{target}.log"
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}.%p",
    ]
    proc = procs.start([*valgrind, *argv], 1, log, env_of(target))
    wait_port(port, proc, log, timeout=120)
    requests = requests_to_send()
    send(port, args.warm, args.connections, requests)
    control = ["callgrind_control", "-i"]
    subprocess.run([*control, "on", str(proc.pid)], check=True, capture_output=True)  # noqa: S603
    send(port, args.requests, args.connections, requests)
    subprocess.run([*control, "off", str(proc.pid)], check=True, capture_output=True)  # noqa: S603
    # Dumped now: nginx under valgrind does not always stop in time to write it at exit.
    dump = ["callgrind_control", "-d", str(proc.pid)]
    subprocess.run(dump, check=True, capture_output=True)  # noqa: S603
    procs.stop(proc)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        for dump in out.parent.glob(out.name + ".*"):
            shutil.copy(dump, args.keep / dump.name)
    instructions = total_instructions(out)
    if instructions <= 0:
        raise SystemExit(f"{target}: callgrind counted nothing:\n{log.read_text()[-2000:]}")
    return Count(target, args.requests, instructions)


def env_of(target: str) -> dict[str, str] | None:
    """The interpreted baseline: gateway-memory's settings, run from the sources."""
    return interpreted_env() if target == "gateway-interpreted" else None


def argv_of(target: str, tmp: Path, port: int, stub: int, redis: int) -> list[str]:
    if target == "nginx":
        return nginx_argv(tmp, "nginx", NGINX_PROXY.format(port=port, upstream=stub))
    if target == "python-floor":
        return floor_argv(port, stub)
    store = redis if target.startswith("gateway-redis") else None  # gateway-interpreted: memory
    extra = BUDGETS if target.endswith("-budgets") else ""
    return gateway_process(
        tmp, target, port, stub, store, keys=target == "gateway-keys", extra=extra
    )


def report(counts: dict[str, Count]) -> list[str]:
    lines = [f"{'target':<24} {'k instructions/request':>22} {'/nginx':>7} {'/baseline':>10}"]
    nginx = counts.get("nginx")
    for target, c in counts.items():
        against_nginx = f"{c.per_request / nginx.per_request:.2f}" if nginx else "-"
        base = counts.get(BASELINES.get(target, ""))
        against_base = f"{c.per_request / base.per_request:.3f}" if base else "-"
        lines.append(
            f"{target:<24} {c.per_request / 1000:>22.1f} {against_nginx:>7} {against_base:>10}"
        )
    for target, baseline in BASELINES.items():
        if target in counts and baseline in counts:
            ratio = counts[target].per_request / counts[baseline].per_request
            lines.append(
                f"{target} against {baseline}: {100 * (ratio - 1):+.1f}% instructions per "
                f"request, so {100 * (1 / ratio - 1):+.1f}% requests per CPU-second if the "
                "kernel's share were nil (issue 16's goal: at most -10%)"
            )
    compiled, interpreted = counts.get("gateway-memory"), counts.get("gateway-interpreted")
    if compiled and interpreted:
        ratio = compiled.per_request / interpreted.per_request
        lines.append(
            f"gateway-memory ({gateway_build()}) against the same interpreted: "
            f"{100 * (ratio - 1):+.1f}% instructions per request"
        )
    floor = counts.get("python-floor")
    if floor and nginx:
        lines.append(
            f"python-floor (the least proxy on the gateway's stack, bench/floor_proxy.py): "
            f"{floor.per_request / nginx.per_request:.1f}x nginx's instructions per request"
        )
    if floor:
        for target in ("gateway-memory", "gateway-redis"):
            if target in counts:
                ratio = counts[target].per_request / floor.per_request
                lines.append(f"{target}: {ratio:.1f}x python-floor's instructions per request")
    if nginx:
        for target in ("gateway-interpreted", "gateway-memory", "gateway-redis"):
            if target in counts:
                ratio = counts[target].per_request / nginx.per_request
                lines.append(f"{target}: {ratio:.1f}x nginx's instructions per request")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests counted")
    parser.add_argument("--warm", type=int, default=320, help="requests sent before counting")
    parser.add_argument(
        "--connections", type=int, default=8, help="connections, each with one request at a time"
    )
    parser.add_argument("--only", default="", help="comma-separated targets (default: all)")
    parser.add_argument(
        "--keep",
        type=Path,
        help="copy each target's callgrind dumps here, to read where the instructions go "
        "(callgrind_annotate --inclusive=yes DIR/callgrind-TARGET.*)",
    )
    args = parser.parse_args()
    wanted = [t for t in TARGETS if not args.only or t in args.only.split(",")]
    for tool in ("valgrind", "callgrind_control", "nginx", "redis-server", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: run `make bench-deps` first")
    print(f"gateway: {gateway_build()}", flush=True)
    procs = Processes(pin=True)
    counts: dict[str, Count] = {}
    with tempfile.TemporaryDirectory(prefix="modelops-instr-") as scratch:
        tmp = Path(scratch)
        try:
            stub_port = free_port()
            http = NGINX_STUB.format(port=stub_port, answer=ANSWER)
            stub = procs.start(nginx_argv(tmp, "stub", http), 0, tmp / "stub.log")
            wait_http(f"http://127.0.0.1:{stub_port}/ready", stub, tmp / "stub.log")
            redis_port = free_port()
            redis_argv = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"]
            redis_argv += ["--save", "", "--appendonly", "no", "--dir", str(tmp)]
            redis = procs.start(redis_argv, 0, tmp / "redis.log")
            wait_redis(redis_port, redis, tmp / "redis.log")
            for target in wanted:
                port = free_port()
                argv = argv_of(target, tmp, port, stub_port, redis_port)
                counts[target] = count(procs, tmp, target, argv=argv, port=port, args=args)
                print(f"  {target}: {counts[target].per_request / 1000:.1f} k", flush=True)
        finally:
            procs.stop_all()
    lines = report(counts)
    print("\n".join(lines))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "machine": {
                    "cores": os.cpu_count(),
                    "cpu": platform.processor() or platform.machine(),
                    "python": platform.python_version(),
                },
                "gateway": gateway_build(),
                "counts": [asdict(c) | {"per_request": c.per_request} for c in counts.values()],
                "report": lines,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
