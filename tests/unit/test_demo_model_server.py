"""The reference model server as a process on a free loopback port (no cluster), driven by the
official ``openai`` client, streaming and not, and by plain HTTP for the failure modes."""

import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from tests.support.processes import free_port, stop, wait_http_ok

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-model"
SECRET_PROMPT = "the launch code is swordfish-4417"


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "model.json"
    subprocess.run(
        [sys.executable, "-m", "demomodel.train", str(DEMO / "data" / "sentiment.csv"), str(path)],
        check=True,
        cwd=DEMO,
        capture_output=True,
    )
    return path


class Server:
    def __init__(self, weights: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "demomodel"],
            cwd=DEMO,
            env={
                **os.environ,
                "PYTHONPATH": str(DEMO),
                "PYTHONDONTWRITEBYTECODE": "1",
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "MODEL_PATH": str(weights),
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, None)

    def request(self, method: str, path: str, doc: object) -> tuple[int, dict[str, str], bytes]:
        data = None if doc is None else json.dumps(doc).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key="unused", max_retries=0)

    def stop(self) -> tuple[str, str]:
        stop(self.process)
        out, err = self.process.communicate(timeout=10)
        return out.decode(), err.decode()


@pytest.fixture
def start(weights: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def run(wait: str | None = "/health", **env: str) -> Server:
        server = Server(weights, env)
        started.append(server)
        if wait:
            wait_http_ok(server.url + wait, server.process, "demo model server")
        return server

    yield run
    for server in started:
        server.stop()


def test_openai_client_json_answer(start: Callable[..., Server]) -> None:
    server = start(MODEL_VERSION="1.2.3")
    raw = server.client().chat.completions.with_raw_response.create(
        model="anything",
        messages=[{"role": "user", "content": "This update is excellent, I love it"}],
    )
    assert raw.headers["x-model-version"] == "1.2.3"
    answer = raw.parse()
    assert answer.model == "demo-model:1.2.3"
    text = answer.choices[0].message.content or ""
    assert "positive" in text
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == 8  # This update is excellent , I love it
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert answer.usage.completion_tokens > 5


def test_openai_client_streams_with_usage(start: Callable[..., Server]) -> None:
    server = start(MODEL_VERSION="2.0.0")
    client = server.client()
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "The delivery arrived late and damaged"}
    ]
    whole = client.chat.completions.create(model="m", messages=messages)
    # Usage comes when asked for, and also when not asked (the gateway charges tokens from it).
    asked = client.chat.completions.create(
        model="m", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    unasked = client.chat.completions.create(model="m", messages=messages, stream=True)
    for stream in (asked, unasked):
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == whole.choices[0].message.content
        assert "negative" in text
        assert {c.model for c in chunks} == {"demo-model:2.0.0"}
        assert chunks[-1].usage is not None
        assert chunks[-1].usage == whole.usage
    # Asked not to, the stream carries no usage.
    quiet = list(
        client.chat.completions.create(
            model="m",
            messages=messages,
            stream=True,
            stream_options={"include_usage": False},
        )
    )
    assert all(c.usage is None for c in quiet)


def test_max_tokens_cuts_the_answer(start: Callable[..., Server]) -> None:
    server = start()
    answer = server.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello"}], max_tokens=2
    )
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 2


def test_models_predict_and_errors(start: Callable[..., Server]) -> None:
    server = start(MODEL_VERSION="3")
    models = server.client().models.list()
    assert [m.id for m in models.data] == ["demo-model:3"]
    status, headers, body = server.request(
        "POST", "/predict", {"instances": ["Terrible, it keeps crashing", "Works perfectly"]}
    )
    assert status == 200 and headers["X-Model-Version"] == "3"
    assert [p["label"] for p in json.loads(body)["predictions"]] == ["negative", "positive"]
    status, _, body = server.request("POST", "/v1/chat/completions", {"messages": []})
    assert status == 400
    assert json.loads(body)["error"]["param"] == "messages"
    with pytest.raises(openai.BadRequestError):
        server.client().chat.completions.create(model="m", messages=[])
    assert server.get("/nowhere")[0] == 404


def test_one_log_line_per_request_and_never_the_prompt(start: Callable[..., Server]) -> None:
    server = start()
    client = server.client()
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": SECRET_PROMPT}])
    list(
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": SECRET_PROMPT}], stream=True
        )
    )
    server.request("POST", "/predict", {"text": SECRET_PROMPT})
    out, err = server.stop()
    assert server.process.returncode == 0  # SIGTERM is a clean stop
    assert "swordfish" not in out + err
    lines = [json.loads(line) for line in out.splitlines()]
    requests = [line for line in lines if "path" in line]
    # The readiness poll's GETs, then the three POSTs, each once.
    posts = [(r["path"], r["status"]) for r in requests if r["method"] == "POST"]
    assert posts == [("/v1/chat/completions", 200)] * 2 + [("/predict", 200)]
    assert all(r["tokens"] > 0 for r in requests if r["path"] == "/v1/chat/completions")


def test_a_client_resetting_a_keep_alive_connection_is_not_an_error(
    start: Callable[..., Server],
) -> None:
    server = start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        # Close with a reset while the server waits for the next request on this connection.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.3)
    assert server.get("/health")[0] == 200
    out, err = server.stop()
    assert "Traceback" not in out + err
    assert "handler-error" not in out


def test_fail_readiness(start: Callable[..., Server]) -> None:
    server = start(FAIL_READINESS="1")
    assert server.get("/health")[0] == 200
    assert server.get("/ready")[0] == 503


def test_crash_on_start(start: Callable[..., Server]) -> None:
    server = start(wait=None, CRASH_ON_START="true")
    assert server.process.wait(timeout=10) == 1


def test_bad_settings_exit_2(start: Callable[..., Server]) -> None:
    server = start(wait=None, ERROR_RATE="2")
    assert server.process.wait(timeout=10) == 2


def test_error_rate(start: Callable[..., Server]) -> None:
    server = start(ERROR_RATE="1")
    with pytest.raises(openai.InternalServerError):
        server.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    assert server.request("POST", "/predict", {"text": "hi"})[0] == 500
    assert server.get("/ready")[0] == 200  # probes are not failed by ERROR_RATE
    half = start(ERROR_RATE="0.5")
    codes = [half.request("POST", "/predict", {"text": "hi"})[0] for _ in range(200)]
    assert set(codes) == {200, 500}
    assert 50 < codes.count(500) < 150


def test_latency(start: Callable[..., Server]) -> None:
    server = start(LATENCY_MS="300")
    began = time.monotonic()
    assert server.request("POST", "/predict", {"text": "hi"})[0] == 200
    assert time.monotonic() - began >= 0.3
    began = time.monotonic()
    assert server.get("/health")[0] == 200
    assert time.monotonic() - began < 0.3


def test_slow_start(start: Callable[..., Server]) -> None:
    """Listening at once, failing both probes for SLOW_START_S, then passing them."""
    server = start(wait=None, SLOW_START_S="3")
    deadline = time.monotonic() + 10
    while True:
        try:
            status = server.get("/health")[0]
            break
        except OSError:
            assert time.monotonic() < deadline, "not listening"
            time.sleep(0.05)
    listening = time.monotonic()
    assert status == 503
    assert server.get("/ready")[0] == 503
    while server.get("/health")[0] == 503:
        assert time.monotonic() - listening < 5
        time.sleep(0.05)
    assert time.monotonic() - listening > 0.5  # it failed for a while, not only once
    assert server.get("/ready")[0] == 200


def _golden_cases_of_the_sample() -> str:
    import yaml  # noqa: PLC0415

    sample = Path(__file__).resolve().parents[2] / "manifests/samples/golden-prompt-gate.yaml"
    job = yaml.safe_load(sample.read_text())["spec"]["rollout"]["gates"]["jobs"][0]
    args: list[str] = job["template"]["spec"]["containers"][0]["args"]
    return args[args.index("--cases") + 1]


@pytest.mark.parametrize(("env", "code"), [({}, 0), ({"ERROR_RATE": "1"}, 1)])
def test_the_sample_golden_prompt_evaluation_passes_a_sound_model_and_fails_a_broken_one(
    start: Callable[..., Server], env: dict[str, str], code: int
) -> None:
    server = start(**env)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelops.cli",
            "evaluate",
            "--cases",
            _golden_cases_of_the_sample(),
        ],
        env={**os.environ, "CANARY_URL": server.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last == ("passed: 3/3 cases" if code == 0 else "failed: 0/3 cases") + (
        " (at least 100% needed)"
    )
    if code:
        assert "HTTP 500" in done.stdout
