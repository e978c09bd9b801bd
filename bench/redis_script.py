"""Redis' own time per batch of the rate-limit script: today's against the one before the
counters' summary, in the same run, on the same redis-server.

The script before the summary read every bucket of a counter at each check (HGETALL): cheap
while a window has just started, 3.4-3.9 times today's time once a client has been busy for a
whole window (60 buckets). Today's reads the summary and the current bucket (one HMGET) and
reads every bucket once per bucket width. On the shared load core of bench/gateway.py Redis'
time per request is what the Redis gateway's closed loop waits for, so it is measured here
alone.

Each batch is what four requests of the gateway benches send: per request a check of its
client's request and token counters, and the answer's tokens charged (an operation that is
not answered), over 10 clients. Time is passed to the script (as the parity tests do) so a
whole window can be filled without waiting a minute. Two cases: ``fresh`` (a window just
started: one or two buckets per counter) and ``full`` (a unit in each of 60 buckets first).
Redis' time is ``INFO commandstats``' microseconds per EVALSHA; redis-server runs on core 1
and this client on core 0 where there are two cores. The scripts alternate within each round.

  make bench-redis-script                         # ~1 min
  PYTHONPATH=operator:. .venv/bin/python bench/redis_script.py [--rounds 5] [--batches 3000]

Prints a table, writes ``bench/results/redis-script.json``. Numbers only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import redis
from bench.gateway import wait_redis
from tests.gateway.script_runs import BEFORE_SUMMARY, evalsha
from tests.support.processes import free_port

from modelops.gateway.limiter import BUCKETS, Demand
from modelops.gateway.redis_script import ACQUIRE_LUA, Operation

RESULTS = Path(__file__).parent / "results" / "redis-script.json"
WINDOW = 60.0
CLIENTS = 10
REQUESTS_PER_BATCH = 4
START = 1_800_000_000.0


def batch(client: int, now: float) -> list[Operation]:
    """Four requests' checks and their answers' token charges, from clients in turn."""
    ops = []
    for i in range(REQUESTS_PER_BATCH):
        c = (client + i) % CLIENTS
        checks = (Demand(f"b:rq:{c}", 100_000_000, 1, 1), Demand(f"b:tk:{c}", 10**9, 1, 0))
        ops.append(Operation(checks, WINDOW, now))
        ops.append(Operation((Demand(f"b:tk:{c}", None, 0, 3),), WINDOW, now, answered=False))
    return ops


def measure(client: redis.Redis, sha: str, case: str, batches: int) -> float:
    """Microseconds Redis spent per EVALSHA over ``batches`` batches."""
    client.flushall()
    width = WINDOW / BUCKETS
    start = START
    if case == "full":
        for i in range(BUCKETS):  # every counter gets a unit in every bucket of the window
            for c in range(0, CLIENTS, REQUESTS_PER_BATCH):
                evalsha(client, sha, batch(c, START + i * width))
        start = START + BUCKETS * width
    client.config_resetstat()
    for j in range(batches):
        # A few buckets' time in all: the summary is made again at each bucket change.
        evalsha(client, sha, batch(j, start + j * 3 * width / batches))
    stats = client.info("commandstats")["cmdstat_evalsha"]
    return float(stats["usec"]) / float(stats["calls"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=3000)
    args = parser.parse_args()
    two_cores = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "redis.log"
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        if two_cores:
            argv = ["taskset", "-c", "1", *argv]
            os.sched_setaffinity(0, {0})
        with log.open("wb") as out:
            server = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            wait_redis(port, server, log)
            report = run(redis.Redis(port=port), args.rounds, args.batches)
        finally:
            server.kill()
            server.wait()
    report["placement"] = "redis-server on core 1, client on core 0" if two_cores else "unpinned"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {RESULTS}")


def run(client: redis.Redis, rounds: int, batches: int) -> dict[str, object]:
    scripts = {"before": BEFORE_SUMMARY.read_text(), "today": ACQUIRE_LUA}
    shas = {name: str(client.script_load(lua)) for name, lua in scripts.items()}
    seen: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        for case in ("fresh", "full"):
            order = list(shas) if r % 2 == 0 else list(reversed(shas))
            for name in order:
                us = measure(client, shas[name], case, batches)
                seen.setdefault((case, name), []).append(us)
                print(f"  round {r + 1} {case:5s} {name:6s} {us:6.1f} us a batch")
    print(f"\n{REQUESTS_PER_BATCH} requests a batch")
    print(f"{'case':6s} {'before (us a batch)':>20s} {'today':>6s} {'before/today':>13s}")
    cases: dict[str, object] = {}
    for case in ("fresh", "full"):
        before = statistics.median(seen[case, "before"])
        today = statistics.median(seen[case, "today"])
        print(f"{case:6s} {before:20.1f} {today:6.1f} {before / today:13.2f}x")
        cases[case] = {
            "before_us": seen[case, "before"],
            "today_us": seen[case, "today"],
            "ratio": before / today,
        }
    return {"rounds": rounds, "batches": batches, "cases": cases}


if __name__ == "__main__":
    main()
