"""The rollback bench's instruments: what they report must be what happened, or its numbers
mean nothing. The exporter's text, and the pass-through that notes each controller's first
failing measurement (GET as our operator queries, POST as Argo's Go client does), against a
stub Prometheus."""

import json
import random
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from bench.failing_metric import Exporter, QueryRecorder, error_query, spread_waits

ANSWERS = {error_query("bad"): "0.5", error_query("good"): "0.01"}


class StubPrometheus(BaseHTTPRequestHandler):
    """Answers /api/v1/query like Prometheus, with a fixed value per query."""

    def do_GET(self) -> None:
        self._answer(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self._answer(urllib.parse.parse_qs(body))

    def _answer(self, form: dict[str, list[str]]) -> None:
        value = ANSWERS[form["query"][0]]
        result = [{"metric": {}, "value": [1.0, value]}]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[QueryRecorder]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubPrometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    recorder = QueryRecorder(f"http://127.0.0.1:{server.server_address[1]}")
    yield recorder
    recorder.close()
    server.shutdown()
    server.server_close()


def query(url: str, target: str, post: bool) -> float:
    form = urllib.parse.urlencode({"query": error_query(target)})
    if post:
        request = urllib.request.Request(f"{url}/api/v1/query", data=form.encode(), method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    else:
        request = urllib.request.Request(f"{url}/api/v1/query?{form}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return float(json.load(response)["data"]["result"][0]["value"][1])


@pytest.mark.parametrize("post", [False, True])
def test_recorder_notes_the_first_failing_answer_only(recorder: QueryRecorder, post: bool) -> None:
    assert query(recorder.url, "good", post) == 0.01  # passed through unchanged
    assert recorder.first_failing_measurement("good") is None
    assert query(recorder.url, "bad", post) == 0.5
    first = recorder.first_failing_measurement("bad")
    assert first is not None
    query(recorder.url, "bad", post)
    assert recorder.first_failing_measurement("bad") == first


def test_exporter_serves_what_the_bench_set() -> None:
    exporter = Exporter()
    try:
        exporter.set("a", 0.0)
        exporter.set("b", 0.5)
        exporter.drop("a")
        with urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/metrics") as response:
            text = response.read().decode()
    finally:
        exporter.close()
    assert f"{error_query('b')} 0.5\n" in text
    assert error_query("a") not in text


def test_waits_cover_the_interval_evenly() -> None:
    waits = spread_waits(random.Random(1), 10, 5.0)
    assert sorted(int(wait // 0.5) for wait in waits) == list(range(10))
