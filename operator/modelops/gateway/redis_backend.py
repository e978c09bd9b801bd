"""Counters shared by all replicas through Redis, one Lua script per check.

The script does in Redis what ``limiter.SlidingWindows.acquire`` does in memory (same
buckets, same arithmetic), so the two backends refuse the same requests. Running check and
charge in one script makes them atomic across replicas: two gateways cannot both take the
last unit. Time comes from Redis (``TIME``) so replicas with skewed clocks still agree on
which buckets are in the window.

The client is a small one of its own: the gateway sends one command (EVALSHA) per check, and
redis-py spent ~55 us of CPU on each (pool locks, health probes, a task per write for its
timeout, observability hooks), as much as the rest of a proxied request. Here a check is one
write and one read on an idle connection, parsed by hiredis.
"""

import asyncio
import hashlib
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis

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


class RedisReplyError(Exception):
    """Redis answered with an error (a bug in the script, or NOSCRIPT)."""


def pack(*args: bytes | str | int | float) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            data = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = hiredis.Reader()

    async def call(self, command: bytes) -> Any:
        self.writer.write(command)
        while True:
            reply = self.parser.gets()
            if reply is not False:
                if isinstance(reply, hiredis.ReplyError):
                    raise RedisReplyError(str(reply))
                return reply
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("Redis closed the connection")
            self.parser.feed(data)

    def close(self) -> None:
        self.writer.close()


class _Pool:
    """Idle connections, one per check in flight; a connection whose call failed or was
    cancelled may still owe a reply, so it is closed, never reused."""

    def __init__(self, address: str, max_connections: int) -> None:
        url = urlsplit(redis_url(address))
        if url.scheme not in ("redis", "rediss"):
            raise ValueError(f"unsupported Redis URL scheme {url.scheme!r}")
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 6379
        self.ssl = ssl.create_default_context() if url.scheme == "rediss" else None
        self.setup: list[bytes] = []
        if url.password is not None:
            user = unquote(url.username) if url.username else None
            auth = (
                ("AUTH", user, unquote(url.password)) if user else ("AUTH", unquote(url.password))
            )
            self.setup.append(pack(*auth))
        db = url.path.strip("/")
        if db and db != "0":
            self.setup.append(pack("SELECT", int(db)))
        self.max_connections = max_connections
        self.idle: list[_Connection] = []
        self.open = 0

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
        connection = _Connection(reader, writer)
        try:
            for command in self.setup:
                await connection.call(command)
        except BaseException:
            connection.close()
            raise
        return connection

    def _take_idle(self) -> _Connection | None:
        """An idle connection the server has not closed meanwhile (a restart, a timeout)."""
        while self.idle:
            connection = self.idle.pop()
            if not connection.reader.at_eof() and connection.reader.exception() is None:
                return connection
            self.open -= 1
            connection.close()
        return None

    async def call(self, command: bytes) -> Any:
        connection = self._take_idle()
        if connection is None:
            if self.open >= self.max_connections:
                raise ConnectionError(f"all {self.max_connections} Redis connections are busy")
            self.open += 1
            try:
                connection = await self._connect()
            except BaseException:
                self.open -= 1
                raise
        try:
            reply = await connection.call(command)
        except RedisReplyError:
            self.idle.append(connection)  # an error reply leaves the connection in step
            raise
        except BaseException:
            self.open -= 1
            connection.close()
            raise
        self.idle.append(connection)
        return reply

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()


class RedisBackend:
    """Shared sliding windows; every failure surfaces as ``BackendUnavailableError``."""

    def __init__(self, address: str, timeout: float = 0.5, max_connections: int = 1024) -> None:
        self.address = address
        self._pool = _Pool(address, max_connections)
        self._sha = hashlib.sha1(ACQUIRE_LUA.encode()).hexdigest()  # noqa: S324 - Redis' id
        # Connecting and the answer share one bound (--redis-timeout: how long to wait for
        # Redis); past it, the connection is dropped and the failure mode applies.
        self._timeout = timeout

    async def _run(self, keys: list[str], args: list[float | int | str]) -> Any:
        """EVALSHA, loading the script once where Redis does not know it (a new or flushed
        server)."""
        try:
            return await self._pool.call(pack("EVALSHA", self._sha, len(keys), *keys, *args))
        except RedisReplyError as err:
            if not str(err).startswith("NOSCRIPT"):
                raise
        sha = await self._pool.call(pack("SCRIPT", "LOAD", ACQUIRE_LUA))
        self._sha = sha.decode()
        return await self._pool.call(pack("EVALSHA", self._sha, len(keys), *keys, *args))

    async def acquire(
        self, demands: Sequence[Demand], window: float, now: float | None = None
    ) -> Outcome:
        if not demands:
            return Outcome(True, ())
        args: list[float | int | str] = [window, BUCKETS, "" if now is None else repr(now)]
        for demand in demands:
            args += [-1 if demand.limit is None else demand.limit, demand.need, demand.charge]
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._run([d.key for d in demands], args)
        except (RedisReplyError, OSError, TimeoutError) as err:
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
        self._pool.close()
