"""``query_scalar`` against a stub Prometheus on loopback: each answer and each failure."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelops.health.analysis import run_analysis
from modelops.health.prometheus import (
    NoDataError,
    PrometheusUnavailableError,
    QueryError,
    query_scalar,
)
from modelops.manifests import parse_model_service
from tests.support.samples import model_service


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    seen: list[tuple[str, str | None]] = field(default_factory=list)


def vector(*values: str) -> bytes:
    result = [{"metric": {"pod": f"p{i}"}, "value": [1.0, v]} for i, v in enumerate(values)]
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    ).encode()


@pytest.fixture
def stub() -> Iterator[tuple[str, Answer]]:
    answer = Answer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer.seen.append((self.path, self.headers.get("Authorization")))
            time.sleep(answer.delay)
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answer
    server.shutdown()
    server.server_close()


def test_one_sample_is_the_value(stub: tuple[str, Answer]) -> None:
    address, answer = stub
    answer.body = vector("0.25")
    assert query_scalar(address + "/", 'sum(rate(x{a="b"}[1m]))') == 0.25
    path, auth = answer.seen[0]
    assert path == "/api/v1/query?query=sum%28rate%28x%7Ba%3D%22b%22%7D%5B1m%5D%29%29"
    assert auth is None


def test_a_scalar_is_the_value(stub: tuple[str, Answer]) -> None:
    address, answer = stub
    answer.body = b'{"status":"success","data":{"resultType":"scalar","result":[1.0,"3.5"]}}'
    assert query_scalar(address, "scalar(1)") == 3.5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (vector(), "no series"),
        (vector("1", "2"), "returned 2 series"),
        (vector("NaN"), "NaN"),
    ],
)
def test_no_single_number_is_no_data(stub: tuple[str, Answer], body: bytes, message: str) -> None:
    address, answer = stub
    answer.body = body
    with pytest.raises(NoDataError, match=message):
        query_scalar(address, "q")


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (503, b'{"status":"error","error":"overloaded"}', "answered 503: overloaded"),
        (502, b"<html>bad gateway</html>", "answered 502"),
        (200, b"not json", "bad JSON"),
        (200, b'{"status":"success"}', "without data"),
    ],
)
def test_a_broken_answer_is_unavailable(
    stub: tuple[str, Answer], status: int, body: bytes, message: str
) -> None:
    address, answer = stub
    answer.status, answer.body = status, body
    with pytest.raises(PrometheusUnavailableError, match=message):
        query_scalar(address, "q")


def test_a_bad_query_is_a_query_error(stub: tuple[str, Answer]) -> None:
    address, answer = stub
    answer.status = 400
    answer.body = b'{"status":"error","errorType":"bad_data","error":"parse error at char 3"}'
    with pytest.raises(QueryError, match="refused the query \\(400\\): parse error at char 3"):
        query_scalar(address, "q((")


def test_a_range_result_is_a_query_error(stub: tuple[str, Answer]) -> None:
    address, answer = stub
    answer.body = b'{"status":"success","data":{"resultType":"matrix","result":[]}}'
    with pytest.raises(QueryError, match="returned a matrix"):
        query_scalar(address, "x[1m]")


def test_refused_connection_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PrometheusUnavailableError, match=r"unreachable: .*[Rr]efused"):
        query_scalar(f"http://127.0.0.1:{port}", "q")


def test_a_slow_answer_times_out(stub: tuple[str, Answer]) -> None:
    address, answer = stub
    answer.delay, answer.body = 2.0, vector("1")
    started = time.monotonic()
    with pytest.raises(PrometheusUnavailableError, match=r"did not answer within 0\.3s"):
        query_scalar(address, "q", timeout=0.3)
    assert time.monotonic() - started < 1.5


def test_credentials_go_in_a_header_and_never_in_a_message(stub: tuple[str, Answer]) -> None:
    address, answer = stub
    with_auth = address.replace("http://", "http://reader:s3cret@")
    answer.body = vector("1")
    assert query_scalar(with_auth, "q") == 1.0
    assert answer.seen[0][1] == "Basic cmVhZGVyOnMzY3JldA=="  # reader:s3cret
    answer.status, answer.body = 503, b"down"
    with pytest.raises(PrometheusUnavailableError) as raised:
        query_scalar(with_auth, "q")
    assert "s3cret" not in str(raised.value)
    assert "reader" not in str(raised.value)
    assert address in str(raised.value)


def test_run_analysis_reports_a_refused_query_as_an_analysis_error(
    stub: tuple[str, Answer],
) -> None:
    address, answer = stub
    answer.status = 400
    answer.body = b'{"status":"error","errorType":"bad_data","error":"parse error at char 5"}'
    metric = {"name": "errors", "max": 0.05, "prometheus": {"address": address, "query": "rate(("}}
    body = model_service(
        "m", rollout={"steps": [{"weight": 10}], "analysis": {"metrics": [metric]}}
    )
    [result] = run_analysis(parse_model_service(body).spec, "ml", "m")
    assert (result.name, result.ok, result.error) == ("errors", None, True)
    assert "'rate(('" in result.message and "parse error at char 5" in result.message
    answer.status, answer.body = 200, vector("0.5")
    [result] = run_analysis(parse_model_service(body).spec, "ml", "m")
    assert (result.ok, result.error, result.value) == (False, None, 0.5)
