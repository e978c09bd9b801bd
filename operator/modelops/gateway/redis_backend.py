"""Counters shared by all replicas through Redis: one Lua script call per batch of checks.

Operations issued during one event-loop tick (checks of requests that arrived together, and
token charges of answers that went out) travel as one script call (``batching.TickBatcher``);
the script (``redis_script``) runs them in the order issued, each exactly as it would run
alone, and answers the checks in one flat reply. One round trip and one command per batch,
instead of two awaited round trips per request, is what brings Redis' cost per request near
the in-memory backend's. The counters' layout in Redis (a hash of buckets per counter) is the
same as before batching, so old and new gateways share counters during a rollout.
"""

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio as redis_async
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.exceptions import NoScriptError, RedisError

from modelops.gateway.backend import BackendUnavailableError, ChargeFailed
from modelops.gateway.batching import TickBatcher
from modelops.gateway.limiter import BUCKETS, Demand, Outcome
from modelops.gateway.redis_script import ACQUIRE_LUA, Operation, decode, encode


def redis_url(address: str) -> str:
    """The policy allows ``host:port`` or a ``redis://`` URL."""
    if "://" in address:
        return address
    return f"redis://{address}"


class _HiredisPacking(AbstractConnection):
    """Commands packed by hiredis (C) instead of redis-py's asyncio code (Python, which joins
    a growing buffer once per argument: for one call with hundreds of keys that was the
    client's largest single cost). redis-py's own synchronous client packs with hiredis."""

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0].encode() if isinstance(args[0], str) else args[0]
        if b" " in first:  # "SCRIPT LOAD": the words go as separate arguments, as redis-py does
            args = (*first.split(), *args[1:])
        return [hiredis.pack_command(args)]


class _TcpConnection(_HiredisPacking, Connection):
    pass


class _TlsConnection(_HiredisPacking, SSLConnection):
    pass


class _UnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_PACKING = {
    Connection: _TcpConnection,
    SSLConnection: _TlsConnection,
    UnixDomainSocketConnection: _UnixConnection,
}


def _pool(address: str, timeout: float) -> ConnectionPool:
    """redis://, rediss:// or unix:// as redis-py reads them, with hiredis packing."""
    options: dict[str, Any] = dict(parse_url(redis_url(address)))
    plain = options.pop("connection_class", Connection)
    return ConnectionPool(
        connection_class=_PACKING[plain],
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # A dead Redis must cost one quick failure per batch, not a retry storm.
        retry_on_timeout=False,
        # One batch is in flight at a time, so one connection is all the pool needs;
        # one spare for a connection being replaced after an error.
        max_connections=2,
        **options,
    )


class RedisBackend:
    """Shared sliding windows; every failure surfaces as ``BackendUnavailableError``."""

    def __init__(self, address: str, timeout: float = 0.5, max_batch: int = 256) -> None:
        self.address = address
        self._client = redis_async.Redis.from_pool(_pool(address, timeout))
        # Redis names a script by its SHA1: an id, not a security measure.
        self._sha = hashlib.sha1(ACQUIRE_LUA.encode(), usedforsecurity=False).hexdigest()
        self._timeout = timeout
        self._batcher: TickBatcher[Operation, Outcome] = TickBatcher(self._send, max_batch)

    async def _send(self, ops: Sequence[Operation]) -> list[Outcome]:
        keys, numbers = encode(ops)
        # Bounds a batch even where a socket timeout would not fire (a connection that
        # neither fails nor answers): the requests waiting on it get their failure mode.
        async with asyncio.timeout(self._timeout):
            reply = await self._run(keys, [BUCKETS, numbers])
        try:
            return decode(ops, reply)
        except (ValueError, TypeError, IndexError) as err:
            raise RedisError(f"unexpected reply from the rate-limit script: {err}") from err

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
            return await self._batcher.submit(Operation(demands, window, now))
        except (RedisError, OSError, TimeoutError) as err:
            raise BackendUnavailableError(f"{type(err).__name__}: {err}") from err

    def charge(
        self,
        demands: Sequence[Demand],
        window: float,
        failed: ChargeFailed,
        now: float | None = None,
    ) -> None:
        if demands:
            self._batcher.post(Operation(demands, window, now, answered=False), failed)

    async def close(self) -> None:
        await self._batcher.close()
        await self._client.aclose()
