"""The rate-limit script run straight from a redis-py client, its batch encoded as the gateway
encodes it; and the script of the gateways before the counters' summary (a frozen copy, for
the rolling-upgrade test and bench/redis_script.py), which reads the wire format of its day."""

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from modelops.gateway.limiter import BUCKETS
from modelops.gateway.redis_encode import encode
from modelops.gateway.redis_script import Operation

BEFORE_SUMMARY = Path(__file__).with_name("acquire_before_summary.lua")
# Redis names a script by its SHA1: how ``evalsha`` knows the old script is meant.
_BEFORE_SUMMARY_SHA = hashlib.sha1(BEFORE_SUMMARY.read_bytes(), usedforsecurity=False).hexdigest()


def evalsha(client: "redis.Redis", sha: str, ops: Sequence[Operation]) -> Any:
    """The script named ``sha`` run on ``ops`` as one batch; its reply, not decoded."""
    encoded = encode(ops)
    numbers = encoded.numbers
    if sha == _BEFORE_SUMMARY_SHA:
        numbers = as_words(numbers)
    return client.evalsha(sha, len(encoded.keys), *encoded.keys, BUCKETS, numbers)


def as_words(numbers: str) -> str:
    """Today's JSON array of a batch's numbers in the format before it: the same numbers as
    words separated by spaces, an operation's time on Redis' clock written ``-``."""
    values = json.loads(numbers)
    words: list[str] = []
    at = 0
    while at < len(values):
        flag, keys, window, now, budgets = values[at : at + 5]
        head = [flag, keys, window, "-" if now < 0 else now, budgets]
        size = 5 + 3 * keys + 4 * budgets
        words += [str(word) for word in (*head, *values[at + 5 : at + size])]
        at += size
    return " ".join(words)
