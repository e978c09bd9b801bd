"""Counters shared by all replicas through Redis: one Lua script call per batch of checks.

The script does in Redis what ``limiter.SlidingWindows.acquire`` does in memory (same
buckets, same arithmetic), so the two backends refuse the same requests. Each operation's
check and charge run inside one script, so they are atomic across replicas: two gateways
cannot both take the last unit. Time comes from Redis (``TIME``) so replicas with skewed
clocks still agree on which buckets are in the window.

Operations issued during one event-loop tick (checks of requests that arrived together, and
token charges of answers that went out) travel as one script call (``batching.TickBatcher``):
the script runs them in the order issued, each exactly as it would run alone, and answers all
of them in one flat reply. One round trip and one command per batch instead of two per request
is what brings Redis' cost per request near the in-memory backend's.
"""

import asyncio
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis_async
from redis.exceptions import NoScriptError, RedisError

from modelops.gateway.backend import BackendUnavailableError, ChargeFailed
from modelops.gateway.batching import TickBatcher
from modelops.gateway.limiter import BUCKETS, Demand, Outcome, Verdict

# KEYS: every operation's keys, one operation after the other. ARGV[1]: buckets per window;
# ARGV[2]: the operations as one string of numbers (one argument, not a dozen per request:
# encoding each argument was most of the client's cost): per operation its number of keys,
# window seconds and the time ("-" for Redis' own clock; tests pass one to compare this
# script with the in-memory limiter), then per key: limit (-1: never refuse), need, charge.
# Reply, flat, per operation: allowed, then per key used, retry and reset (floats as strings:
# a Lua number would come back truncated to an integer).
ACQUIRE_LUA = """
local buckets = tonumber(ARGV[1])
local v = {}
for word in string.gmatch(ARGV[2], '%S+') do
  v[#v + 1] = word
end
local clock = nil
local out = {}
local k = 0
local a = 1
while a <= #v do
  local n = tonumber(v[a])
  local window = tonumber(v[a + 1])
  local now = tonumber(v[a + 2])
  a = a + 3
  if now == nil then
    if clock == nil then
      local t = redis.call('TIME')
      clock = tonumber(t[1]) + tonumber(t[2]) / 1000000
    end
    now = clock
  end
  local width = window / buckets
  local lowest = math.floor((now - window) / width)
  local allowed = 1
  local head = #out + 1
  out[head] = 1
  for i = 1, n do
    local key = KEYS[k + i]
    local limit = tonumber(v[a + (i - 1) * 3])
    local need = tonumber(v[a + 1 + (i - 1) * 3])
    local flat = redis.call('HGETALL', key)
    local used = 0
    local newest = nil
    local stale = nil
    for j = 1, #flat, 2 do
      local b = tonumber(flat[j])
      if b < lowest then
        stale = stale or {}
        stale[#stale + 1] = flat[j]
      else
        used = used + tonumber(flat[j + 1])
        if newest == nil or b > newest then
          newest = b
        end
      end
    end
    if stale ~= nil then
      redis.call('HDEL', key, unpack(stale))
    end
    local reset = 0
    if newest ~= nil then
      reset = math.max(0, (newest + 1) * width + window - now)
    end
    local retry = 0
    if limit >= 0 then
      local excess = used + need - limit
      if excess > 0 then
        allowed = 0
        retry = window
        if need <= limit then
          -- Only a refusal needs the buckets oldest first: when enough of them will have
          -- left the window for the need to fit.
          local order = {}
          local counts = {}
          for j = 1, #flat, 2 do
            local b = tonumber(flat[j])
            if b >= lowest then
              order[#order + 1] = b
              counts[b] = tonumber(flat[j + 1])
            end
          end
          table.sort(order)
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
    out[#out + 1] = used
    out[#out + 1] = tostring(retry)
    out[#out + 1] = tostring(reset)
  end
  if allowed == 1 then
    local field = tostring(math.floor(now / width))
    local ttl = math.ceil((window + width) * 1000)
    for i = 1, n do
      local charge = tonumber(v[a + 2 + (i - 1) * 3])
      if charge > 0 then
        redis.call('HINCRBY', KEYS[k + i], field, charge)
        redis.call('PEXPIRE', KEYS[k + i], ttl)
      end
    end
  else
    out[head] = 0
  end
  k = k + n
  a = a + n * 3
end
return out
"""


def redis_url(address: str) -> str:
    """The policy allows ``host:port`` or a ``redis://`` URL."""
    if "://" in address:
        return address
    return f"redis://{address}"


@dataclass(frozen=True)
class _Operation:
    demands: Sequence[Demand]
    window: float
    now: float | None


def _encode(ops: Sequence[_Operation]) -> tuple[list[str], str]:
    keys: list[str] = []
    words: list[str] = []
    for op in ops:
        words.append(f"{len(op.demands)} {op.window!r} {'-' if op.now is None else repr(op.now)}")
        for d in op.demands:
            keys.append(d.key)
            words.append(f"{-1 if d.limit is None else d.limit} {d.need} {d.charge}")
    return keys, " ".join(words)


def _decode(ops: Sequence[_Operation], reply: Sequence[Any]) -> list[Outcome]:
    outcomes = []
    at = 0
    for op in ops:
        allowed = bool(reply[at])
        verdicts = []
        for demand in op.demands:
            used, retry, reset = reply[at + 1 : at + 4]
            verdicts.append(
                Verdict(
                    demand.key,
                    demand.limit,
                    int(used),
                    float(retry),
                    float(reset),
                    demand.charge if allowed else 0,
                )
            )
            at += 3
        at += 1
        outcomes.append(Outcome(allowed, tuple(verdicts)))
    if at != len(reply):
        raise RedisError(f"rate-limit script answered {len(reply)} values, expected {at}")
    return outcomes


class RedisBackend:
    """Shared sliding windows; every failure surfaces as ``BackendUnavailableError``."""

    def __init__(self, address: str, timeout: float = 0.5, max_batch: int = 256) -> None:
        self.address = address
        self._client = redis_async.Redis.from_url(
            redis_url(address),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # A dead Redis must cost one quick failure per batch, not a retry storm.
            retry_on_timeout=False,
            # One batch is in flight at a time, so one connection is all the pool needs;
            # one spare for a connection being replaced after an error.
            max_connections=2,
        )
        self._sha = hashlib.sha1(ACQUIRE_LUA.encode()).hexdigest()  # noqa: S324 - Redis' id
        self._timeout = timeout
        self._batcher: TickBatcher[_Operation, Outcome] = TickBatcher(self._send, max_batch)

    async def _send(self, ops: Sequence[_Operation]) -> list[Outcome]:
        keys, numbers = _encode(ops)
        # Bounds a batch even where a socket timeout would not fire (a connection that
        # neither fails nor answers): the requests waiting on it get their failure mode.
        async with asyncio.timeout(self._timeout):
            reply = await self._run(keys, [BUCKETS, numbers])
        return _decode(ops, reply)

    async def _run(self, keys: list[str], args: list[int | str]) -> Any:
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
        try:
            # Bounded without a timer per check: a batch takes at most the timeout, and when
            # one fails every check queued behind it fails with it (see TickBatcher).
            return await self._batcher.submit(_Operation(demands, window, now))
        except (RedisError, OSError, TimeoutError) as err:
            raise BackendUnavailableError(f"{type(err).__name__}: {err}") from err

    def charge(self, demands: Sequence[Demand], window: float, failed: ChargeFailed) -> None:
        if demands:
            future = self._batcher.submit(_Operation(demands, window, None))
            future.add_done_callback(functools.partial(_report_charge, failed))

    async def close(self) -> None:
        await self._batcher.close()
        await self._client.aclose()


def _report_charge(failed: ChargeFailed, future: "asyncio.Future[Outcome]") -> None:
    if future.cancelled():
        return
    err = future.exception()
    if err is not None:
        failed(BackendUnavailableError(f"{type(err).__name__}: {err}"))
