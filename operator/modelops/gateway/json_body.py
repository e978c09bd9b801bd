"""JSON bodies read by orjson, and by the standard library's ``json`` where orjson refuses.

Why orjson: reading an answer for its ``usage`` was 7% of the instructions a proxied request
cost the gateway (bench/gateway_instructions.py, with the parse replaced by a constant), and
orjson parses the same body in about a fifth of the time. It is stricter than ``json`` (NaN and
Infinity, integers past 64 bits, lone surrogates, encodings other than UTF-8): a body it
refuses is read again by ``json``, so what the gateway accepts, and how, does not change.
"""

import json
from typing import Any

import orjson


def parse_json(body: bytes) -> Any:
    """What ``json.loads(body)`` returns, or the error it raises."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)
