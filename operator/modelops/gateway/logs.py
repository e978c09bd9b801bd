"""JSON access logs that are safe to ship: one line per request, no prompts, answers or keys.

What a line may hold is fixed here (``ACCESS_FIELDS``), so a new call site cannot log a header
or a body by accident. Clients appear only as a short hash of their id.
"""

import json
import logging
import time
from typing import Any

ACCESS_FIELDS = frozenset(
    {
        "method",
        "path",
        "status",
        "tier",
        "client",
        "key",
        "upstream",
        "duration_ms",
        "tokens",
        "limited",
        "error",
        "track",
        "ttft_ms",
    }
)

access_log = logging.getLogger("modelops.gateway.access")
log = logging.getLogger("modelops.gateway")

# One encoder for every line: json.dumps with separators builds a new one per call.
_encode = json.JSONEncoder(separators=(",", ":")).encode


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k in ACCESS_FIELDS})
        if record.exc_info and record.exc_info[1] is not None:
            # The type and where, not the message: an exception's text can quote a request.
            error = record.exc_info[1]
            line["exc"] = type(error).__name__
            tb = error.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                line["at"] = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        return _encode(line)


def setup_logging(level: str = "INFO") -> None:
    """JSON on stderr for every logger in the process (aiohttp's own included)."""
    # The JSON line shows none of these; not looking them up makes each record cheaper.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def log_access(**fields: Any) -> None:
    """One access line. The record is made and handled directly: ``Logger.info`` would also
    walk the stack for the caller's file and line, which the JSON line never shows."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    record = access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, "request", (), None, extra={"fields": fields}
    )
    access_log.handle(record)


class Throttled:
    """Log a recurring problem at most once per ``every`` seconds (a dead Redis is hit by
    every request; one line per interval says so without flooding the log)."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self._next = 0.0
        self.suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self.suppressed += 1
            return
        self._next = now + self.every
        if self.suppressed:
            message += f" ({self.suppressed} more since the last report)"
        self.suppressed = 0
        log.warning(message, *args)
