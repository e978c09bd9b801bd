"""The HTTP server: ``ThreadingHTTPServer`` over the pure ``api`` and ``textmodel``.

Settings come from the environment (see ``Settings``), including the failure modes the
rollout tests need: a version that never gets ready, one that crashes at start, one that
answers some requests with 500s, a slow one, and one that is slow to start. It writes nothing
(the root filesystem may be read-only) and logs one line per request to stdout, never a
request's body.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from demomodel import api
from demomodel.textmodel import NaiveBayes

MAX_BODY = 1 << 20
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"{name}={value!r}: use 1/0, true/false, yes/no or on/off")


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}={raw!r} is outside {low:g}..{high:g}")
    return value


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"  # noqa: S104  (a pod's port is reached on the pod's address)
    port: int = 8080
    model_name: str = "demo-model"
    model_version: str = "dev"
    model_path: str = "/app/model.json"
    fail_readiness: bool = False  # /ready answers 503, always
    crash_on_start: bool = False  # exit 1 before listening
    error_rate: float = 0.0  # share of 500s on /v1/chat/completions and /predict
    latency_ms: float = 0.0  # added before answering those
    slow_start_s: float = 0.0  # /health and /ready answer 503 until then

    @property
    def model_id(self) -> str:
        return f"{self.model_name}:{self.model_version}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            host=env.get("HOST", "0.0.0.0") or "0.0.0.0",  # noqa: S104
            port=int(_number(env, "PORT", 8080, 1, 65535)),
            model_name=env.get("MODEL_NAME", "demo-model") or "demo-model",
            model_version=env.get("MODEL_VERSION", "dev") or "dev",
            model_path=_model_path(env),
            fail_readiness=_flag(env, "FAIL_READINESS"),
            crash_on_start=_flag(env, "CRASH_ON_START"),
            error_rate=_number(env, "ERROR_RATE", 0.0, 0.0, 1.0),
            latency_ms=_number(env, "LATENCY_MS", 0.0, 0.0, 600_000.0),
            slow_start_s=_number(env, "SLOW_START_S", 0.0, 0.0, 86_400.0),
        )


def _model_path(env: Mapping[str, str]) -> str:
    """MODEL_PATH; else model.json in MODEL_DIR (the files of a ModelService's
    spec.model.source); else the weights trained into the image."""
    if env.get("MODEL_PATH"):
        return env["MODEL_PATH"]
    if env.get("MODEL_DIR"):
        return f"{env['MODEL_DIR'].rstrip('/')}/model.json"
    return "/app/model.json"


def log(**fields: Any) -> None:
    print(json.dumps(fields, separators=(",", ":")), flush=True)


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, settings: Settings, classifier: NaiveBayes) -> None:
        super().__init__((settings.host, settings.port), Handler)
        self.settings = settings
        self.classifier = classifier
        self.started = time.monotonic()
        self.created = int(time.time())
        self.random = random.Random()  # noqa: S311  (which requests fail, not a secret)

    def handle_error(self, request: object, client_address: object) -> None:
        """One log line instead of socketserver's traceback on stderr; a client that went
        away (a proxy closing its idle keep-alive connections) is not an error at all."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        log(event="handler-error", error=repr(error), trace=traceback.format_exc(limit=8))


class Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"
    timeout = 300  # seconds an idle keep-alive connection holds its thread
    server_version = "demo-model"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """http.server's own lines (to stderr) are replaced by ``_log`` (one per request)."""

    # -- plumbing ---------------------------------------------------------------------------
    def _begin(self) -> None:
        self._t0 = time.monotonic()
        self._tokens: int | None = None

    def _log(self, status: int) -> None:
        entry: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "method": self.command,
            "path": self.path.split("?", 1)[0],
            "status": status,
            "ms": round((time.monotonic() - self._t0) * 1000, 1),
            "version": self.server.settings.model_version,
        }
        if self._tokens is not None:
            entry["tokens"] = self._tokens
        log(**entry)

    def _headers(self, status: int, content_type: str, length: int | None) -> None:
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("X-Model-Version", self.server.settings.model_version)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _json(self, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc, separators=(",", ":")).encode()
        self._headers(status, "application/json", len(body))
        self.wfile.write(body)
        self._log(status)

    def _text(self, status: int, text: str) -> None:
        body = text.encode()
        self._headers(status, "text/plain; charset=utf-8", len(body))
        self.wfile.write(body)
        self._log(status)

    def _body(self) -> bytes | None:
        """The request body, or None after answering 411/413 (the connection then closes)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            self._json(411, api.error_body("send a Content-Length", "invalid_request_error"))
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._json(
                413, api.error_body(f"bodies up to {MAX_BODY} bytes", "invalid_request_error")
            )
            return None
        return self.rfile.read(length)

    # -- routes -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._begin()
        path = self.path.split("?", 1)[0]
        settings = self.server.settings
        starting = time.monotonic() - self.server.started < settings.slow_start_s
        if path in ("/health", "/healthz"):
            self._text(503, "starting\n") if starting else self._text(200, "ok\n")
        elif path in ("/ready", "/readyz"):
            if starting:
                self._text(503, "starting\n")
            elif settings.fail_readiness:
                self._text(503, "not ready (FAIL_READINESS)\n")
            else:
                self._text(200, "ready\n")
        elif path == "/v1/models":
            self._json(200, api.models_list(settings.model_id, self.server.created))
        else:
            self._json(404, api.error_body(f"no route {path}", "not_found_error"))

    def do_POST(self) -> None:
        self._begin()
        path = self.path.split("?", 1)[0]
        if path not in ("/v1/chat/completions", "/predict"):
            self.close_connection = True
            self._json(404, api.error_body(f"no route {path}", "not_found_error"))
            return
        body = self._body()
        if body is None:
            return
        settings = self.server.settings
        if settings.latency_ms:
            time.sleep(settings.latency_ms / 1000)
        if settings.error_rate and self.server.random.random() < settings.error_rate:
            self._json(500, api.error_body("injected failure (ERROR_RATE)", "server_error"))
            return
        try:
            if path == "/predict":
                texts = api.parse_predict_request(body)
                self._json(200, api.predictions(self.server.classifier, texts, settings.model_id))
            else:
                self._chat(api.parse_chat_request(body))
        except api.RequestError as error:
            self._json(400, api.error_body(str(error), "invalid_request_error", error.param))

    def _chat(self, request: api.ChatRequest) -> None:
        settings = self.server.settings
        ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        prompt = api.prompt_tokens(request)
        completion = api.complete(
            api.reply_text(self.server.classifier, request), request.max_tokens
        )
        self._tokens = prompt + len(completion.pieces)
        if not request.stream:
            doc = api.chat_completion(ident, created, settings.model_id, prompt, completion)
            self._json(200, doc)
            return
        self._headers(200, "text/event-stream", None)
        chunks = api.chat_chunks(
            ident,
            created,
            settings.model_id,
            prompt,
            completion,
            include_usage=request.include_usage,
        )
        for event in [*(api.sse_event(c) for c in chunks), api.sse_event("[DONE]")]:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self._log(200)


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ValueError as error:
        log(event="bad-settings", error=str(error))
        return 2
    if settings.crash_on_start:
        log(event="crash-on-start", version=settings.model_version)
        return 1
    try:
        classifier = NaiveBayes.from_json(Path(settings.model_path).read_text())
    except (OSError, ValueError, KeyError) as error:
        log(event="no-model", path=settings.model_path, error=str(error))
        return 1
    server = DemoServer(settings, classifier)

    def stop(signum: int, _frame: object) -> None:
        # As PID 1 a process gets no default SIGTERM action: without this, a pod takes its
        # whole grace period to stop. shutdown() waits for serve_forever, so not in this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(
        event="listening",
        port=server.server_address[1],
        model=settings.model_id,
        fail_readiness=settings.fail_readiness,
        error_rate=settings.error_rate,
        latency_ms=settings.latency_ms,
        slow_start_s=settings.slow_start_s,
    )
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    log(event="stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
