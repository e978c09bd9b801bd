"""Counters shared by all replicas through Redis, one Lua script per check.

The script does in Redis what ``limiter.SlidingWindows.acquire`` does in memory (same
buckets, same arithmetic), so the two backends refuse the same requests. Running check and
charge in one script makes them atomic across replicas: two gateways cannot both take the
last unit. Time comes from Redis (``TIME``) so replicas with skewed clocks still agree on
which buckets are in the window.
"""

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis_async
from redis.exceptions import NoScriptError, RedisError

from modelops.gateway.backend import BackendUnavailableError
from modelops.gateway.limiter import BUCKETS, Demand, Outcome, Verdict

# ARGV: window seconds, buckets per window, the time ("" for Redis' own clock; tests pass one
# to compare this script with the in-memory limiter), then per key: limit (-1: never refuse),
# need, charge.
ACQUIRE_LUA = """
local now = tonumber(ARGV[3])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local window = tonumber(ARGV[1])
local width = window / tonumber(ARGV[2])
local lowest = math.floor((now - window) / width)
local allowed = 1
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[4 + (i - 1) * 3])
  local need = tonumber(ARGV[5 + (i - 1) * 3])
  local flat = redis.call('HGETALL', key)
  local order = {}
  local counts = {}
  local used = 0
  for j = 1, #flat, 2 do
    local b = tonumber(flat[j])
    if b < lowest then
      redis.call('HDEL', key, flat[j])
    else
      local c = tonumber(flat[j + 1])
      table.insert(order, b)
      counts[b] = c
      used = used + c
    end
  end
  table.sort(order)
  local reset = 0
  if #order > 0 then
    reset = math.max(0, (order[#order] + 1) * width + window - now)
  end
  local retry = 0
  if limit >= 0 then
    local excess = used + need - limit
    if excess > 0 then
      allowed = 0
      retry = window
      if need <= limit then
        for _, b in ipairs(order) do
          excess = excess - counts[b]
          if excess <= 0 then
            retry = math.max((b + 1) * width + window - now, width / 1000)
            break
          end
        end
      end
    end
  end
  out[i] = {used, tostring(retry), tostring(reset)}
end
if allowed == 1 then
  local field = tostring(math.floor(now / width))
  local ttl = math.ceil((window + width) * 1000)
  for i, key in ipairs(KEYS) do
    local charge = tonumber(ARGV[6 + (i - 1) * 3])
    if charge > 0 then
      redis.call('HINCRBY', key, field, charge)
      redis.call('PEXPIRE', key, ttl)
    end
  end
end
return {allowed, out}
"""


def redis_url(address: str) -> str:
    """The policy allows ``host:port`` or a ``redis://`` URL."""
    if "://" in address:
        return address
    return f"redis://{address}"


class RedisBackend:
    """Shared sliding windows; every failure surfaces as ``BackendUnavailableError``."""

    def __init__(self, address: str, timeout: float = 0.5, max_connections: int = 1024) -> None:
        self.address = address
        self._client = redis_async.Redis.from_url(
            redis_url(address),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # A dead Redis must cost one quick failure per request, not a retry storm.
            retry_on_timeout=False,
            # Each check holds a connection for one round trip; the pool does not wait for a
            # free one but fails past this many, so it must cover the checks in flight.
            max_connections=max_connections,
        )
        # Redis names a script by its SHA1: an id, not a security measure.
        self._sha = hashlib.sha1(ACQUIRE_LUA.encode(), usedforsecurity=False).hexdigest()
        self._timeout = timeout

    async def _run(self, keys: list[str], args: list[float | int | str]) -> Any:
        """EVALSHA, loading the script once where Redis does not know it (a new or flushed
        server): what redis-py's Script does, without its per-call wrapping."""
        try:
            return await self._client.evalsha(self._sha, len(keys), *keys, *args)
        except NoScriptError:
            self._sha = await self._client.script_load(ACQUIRE_LUA)
            return await self._client.evalsha(self._sha, len(keys), *keys, *args)

    async def acquire(
        self, demands: Sequence[Demand], window: float, now: float | None = None
    ) -> Outcome:
        if not demands:
            return Outcome(True, ())
        args: list[float | int | str] = [window, BUCKETS, "" if now is None else repr(now)]
        for demand in demands:
            args += [-1 if demand.limit is None else demand.limit, demand.need, demand.charge]
        try:
            async with asyncio.timeout(self._timeout * 2):
                reply = await self._run([d.key for d in demands], args)
        except (RedisError, OSError, TimeoutError) as err:
            raise BackendUnavailableError(f"{type(err).__name__}: {err}") from err
        allowed, rows = reply
        verdicts = tuple(
            Verdict(
                demand.key,
                demand.limit,
                int(used),
                float(retry),
                float(reset),
                demand.charge if allowed else 0,
            )
            for demand, (used, retry, reset) in zip(demands, rows, strict=True)
        )
        return Outcome(bool(allowed), verdicts)

    async def close(self) -> None:
        await self._client.aclose()
