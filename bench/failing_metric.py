"""An error ratio the rollback bench switches from healthy to failing, seen through Prometheus.

The bench serves one gauge per rollout, ``bench_error_ratio{target="NAME"}``, from a tiny exporter
in its own process; a real Prometheus (Debian's package, tests.support.prometheus) scrapes it every
second, and both controllers under test query that Prometheus with the same query. The first
failing observation is the first poll of Prometheus' query API, made with the same client code as
our operator's analysis (modelops.health.prometheus.query_scalar), that answers above the limit:
the moment the failing series is visible to any controller that asks.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def failing_metric_source(workdir: Path) -> Iterator[tuple[Exporter, str]]:
    """The exporter and a Prometheus scraping it; yields both (the Prometheus base URL)."""
    exporter = Exporter()
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": "15s"},
        "scrape_configs": [
            {"job_name": "bench", "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}]}
        ],
    }
    try:
        with running_prometheus(config, workdir) as url:
            yield exporter, url
    finally:
        exporter.close()


def failing_in_prometheus(prometheus: str, target: str) -> bool:
    """Does Prometheus now answer the target's query with a failing value?"""
    try:
        return query_scalar(prometheus, error_query(target), timeout=2.0) > LIMIT
    except (PrometheusUnavailableError, NoDataError):
        return False
