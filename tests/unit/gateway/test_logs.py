"""Log lines carry only the allowed fields, and exceptions without their message."""

import json
import logging
import sys

from modelops.gateway.logs import JsonFormatter


def _record(**fields: object) -> logging.LogRecord:
    record = logging.LogRecord("modelops.gateway.access", logging.INFO, "f", 1, "request", (), None)
    record.fields = fields
    return record


def test_unknown_fields_are_dropped() -> None:
    line = json.loads(JsonFormatter().format(_record(status=200, prompt="secret", headers={})))
    assert line["status"] == 200
    assert "prompt" not in line
    assert "headers" not in line


def test_exception_message_is_not_logged() -> None:
    try:
        raise ValueError("the user's prompt text")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, "f", 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "prompt text" not in line
    assert json.loads(line)["exc"] == "ValueError"
