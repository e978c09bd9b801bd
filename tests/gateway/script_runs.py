"""The rate-limit script run straight from a redis-py client, its batch encoded as the gateway
encodes it; and the script of the gateways before the counters' summary (a frozen copy, for
the rolling-upgrade test and bench/redis_script.py)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from modelops.gateway.limiter import BUCKETS
from modelops.gateway.redis_encode import encode
from modelops.gateway.redis_script import Operation

BEFORE_SUMMARY = Path(__file__).with_name("acquire_before_summary.lua")


def evalsha(client: "redis.Redis", sha: str, ops: Sequence[Operation]) -> Any:
    """The script named ``sha`` run on ``ops`` as one batch; its reply, not decoded."""
    encoded = encode(ops)
    return client.evalsha(sha, len(encoded.keys), *encoded.keys, BUCKETS, encoded.numbers)
