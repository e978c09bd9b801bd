"""An error ratio the rollback bench switches from healthy to failing, seen through Prometheus.

The bench serves one gauge per rollout, ``bench_error_ratio{target="NAME"}``, from a tiny exporter
in its own process; a real Prometheus (Debian's package, tests.support.prometheus) scrapes it every
second, and both controllers under test query that Prometheus with the same query. The first
failing observation is the first poll of Prometheus' query API, made with the same client code as
our operator's analysis (modelops.health.prometheus.query_scalar), that answers above the limit:
the moment the failing series is visible to any controller that asks.

The controllers reach that Prometheus through a pass-through (``QueryRecorder``) that notes when
each query first got a failing answer: the controller's own first failing measurement. From the
first failing observation to it is the wait for the controller's next scheduled measurement (the
interval's phase, alike for any controller that measures every interval); from it to 100 % on
stable is the controller's own reaction.
"""

import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.prometheus import running_prometheus

from modelops.health.prometheus import NoDataError, PrometheusUnavailableError, query_scalar

HEALTHY, FAILING = 0.0, 0.5
LIMIT = 0.05  # the analysis' max: above it a measurement fails
SCRAPE_INTERVAL = "1s"


def error_query(target: str) -> str:
    return f'bench_error_ratio{{target="{target}"}}'


class Exporter:
    """``/metrics`` with one gauge per target, values set by the bench."""

    def __init__(self) -> None:
        self._values: dict[str, float] = {}
        self._lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # a scrape a second: keep stderr quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def text(self) -> str:
        with self._lock:
            lines = [f"{error_query(t)} {v}" for t, v in sorted(self._values.items())]
        return "# TYPE bench_error_ratio gauge\n" + "".join(f"{line}\n" for line in lines)

    def set(self, target: str, value: float) -> None:
        with self._lock:
            self._values[target] = value

    def drop(self, target: str) -> None:
        with self._lock:
            self._values.pop(target, None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _failing_answer(payload: bytes) -> bool:
    """Is this query API answer one sample above the limit?"""
    try:
        result = json.loads(payload)["data"]["result"]
        return len(result) == 1 and float(result[0]["value"][1]) > LIMIT
    except (ValueError, KeyError, IndexError, TypeError):
        return False


class QueryRecorder:
    """Forwards every request to Prometheus and notes, per query, when (monotonic seconds, as
    the request arrived) it was first answered with a failing value. Handles GET and the POST
    form that Prometheus' Go client sends first."""

    def __init__(self, prometheus: str) -> None:
        self.first_failing: dict[str, float] = {}
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _forward(self, body: bytes | None) -> None:
                arrived = time.monotonic()
                headers = {"Content-Type": self.headers.get("Content-Type", "")} if body else {}
                request = urllib.request.Request(  # noqa: S310 (our own Prometheus URL)
                    prometheus + self.path, data=body, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                        status, payload = answer.status, answer.read()
                except urllib.error.HTTPError as error:
                    status, payload = error.code, error.read()
                form = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                form.update(urllib.parse.parse_qs((body or b"").decode()))
                for query in form.get("query", []):
                    if status == 200 and _failing_answer(payload):
                        recorder.note(query, arrived)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def note(self, query: str, arrived: float) -> None:
        with self._lock:
            self.first_failing.setdefault(query, arrived)

    def first_failing_measurement(self, target: str) -> float | None:
        with self._lock:
            return self.first_failing.get(error_query(target))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class FailingMetric:
    exporter: Exporter
    prometheus: str  # the real one: the bench's own polls
    recorder: QueryRecorder  # in front of it: the controllers' address


@contextmanager
def failing_metric_source(workdir: Path) -> Iterator[FailingMetric]:
    """The exporter, a Prometheus scraping it and the recorder in front of that Prometheus."""
    exporter = Exporter()
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": "15s"},
        "scrape_configs": [
            {"job_name": "bench", "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}]}
        ],
    }
    try:
        with running_prometheus(config, workdir) as url:
            recorder = QueryRecorder(url)
            try:
                yield FailingMetric(exporter, url, recorder)
            finally:
                recorder.close()
    finally:
        exporter.close()


def failing_in_prometheus(prometheus: str, target: str) -> bool:
    """Does Prometheus now answer the target's query with a failing value?"""
    try:
        return query_scalar(prometheus, error_query(target), timeout=2.0) > LIMIT
    except (PrometheusUnavailableError, NoDataError):
        return False


def spread_waits(rng: random.Random, runs: int, interval: float) -> list[float]:
    """One wait per run, one in each of ``runs`` equal slices of [0, interval), shuffled: the
    failures cover the analysis cycle evenly, so that few runs already give a fair median.
    Both controllers get the same waits."""
    waits = [(slot + rng.random()) / runs * interval for slot in range(runs)]
    rng.shuffle(waits)
    return waits
