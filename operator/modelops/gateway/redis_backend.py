"""Counters shared by all replicas through Redis: one Lua script call per batch of checks.

Operations issued during one event-loop tick (checks of requests that arrived together, and
token charges of answers that went out) travel as one script call (``batching.TickBatcher``);
the script (``redis_script``) runs them in the order issued, each exactly as it would run
alone, and answers the checks in one flat reply. One round trip and one command per batch,
instead of two awaited round trips per request, is what brings Redis' cost per request near
the in-memory backend's. A counter in Redis is a hash of buckets, as before batching, with a
summary beside them (``redis_script``): old and new gateways share counters during a rollout.
Batches go out on one connection the backend keeps, read by a ``redis_channel.ReplyChannel``,
not through the client's per-command path.
"""

import asyncio
import hashlib
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, RedisError, ResponseError

from modelops.api.spec import RedisBackend as RedisSpec
from modelops.gateway.backend import BackendUnavailableError, ChargeFailed
from modelops.gateway.batching import Settle, TickBatcher
from modelops.gateway.budgets import BudgetDemand
from modelops.gateway.limiter import Demand, Outcome
from modelops.gateway.redis_channel import Failure, ReplyChannel
from modelops.gateway.redis_connect import RedisSecrets, connect
from modelops.gateway.redis_encode import EncodedBatch, encode, pack
from modelops.gateway.redis_script import (
    ACQUIRE_LUA,
    Operation,
    decode,
)


class RedisBackend:
    """Shared sliding windows; every failure surfaces as ``BackendUnavailableError``."""

    def __init__(
        self,
        spec: RedisSpec,
        timeout: float = 0.5,
        max_batch: int = 256,
        secrets: RedisSecrets | None = None,
    ) -> None:
        self.spec = spec
        self._client = connect(spec, secrets or RedisSecrets(), timeout)
        # Redis names a script by its SHA1: an id, not a security measure.
        self._sha = hashlib.sha1(ACQUIRE_LUA.encode(), usedforsecurity=False).hexdigest()
        self._timeout = timeout
        # The one connection batches go out on, taken from the client's pool at the first
        # batch and kept (one batch is in flight at a time), and the channel reading it.
        self._connection: AbstractConnection | None = None
        self._channel: ReplyChannel | None = None
        # The batch going the slow way (a reconnect, the script loaded), when one is.
        self._slow: asyncio.Task[None] | None = None
        self._batcher: TickBatcher[Operation, Outcome] = TickBatcher(self._send, max_batch)

    def _send(self, ops: Sequence[Operation], settle: Settle[Outcome]) -> None:
        """The batch's EVALSHA written now on the kept connection, its reply decoded where it
        is read (``_Batch``). Reconnecting and loading the script need awaits, and go the
        slow way (``_send_slowly``), as does a batch sent while either is under way."""
        batch = _Batch(self, ops, encode(ops), settle)
        channel = self._channel
        if self._slow is not None or channel is None or channel.failure is not None:
            self._send_slowly(batch)
            return
        batch.channel = channel
        channel.send(batch.encoded.command(self._sha), self._timeout, batch)

    def _send_slowly(self, batch: "_Batch") -> None:
        self._slow = asyncio.get_running_loop().create_task(self._run_slowly(batch))

    async def _run_slowly(self, batch: "_Batch") -> None:
        try:
            reply = await self._run(batch.encoded)
        except BaseException as err:
            batch.fail(err)
            if isinstance(err, asyncio.CancelledError):
                raise
        else:
            batch.decoded(reply)
        finally:
            self._slow = None

    async def _run(self, batch: EncodedBatch) -> Any:
        """EVALSHA, loading the script once where Redis does not know it (a new or flushed
        server): what redis-py's Script does, without its per-call wrapping."""
        try:
            return await self._call(batch.command(self._sha))
        except NoScriptError:
            pass  # loaded below: no await inside an except block (setup.py says why)
        loaded = await self._call(pack("SCRIPT", "LOAD", ACQUIRE_LUA))
        self._sha = loaded.decode() if isinstance(loaded, bytes) else str(loaded)
        return await self._call(batch.command(self._sha))

    async def _call(self, command: bytes) -> Any:
        """One packed command on the kept connection, its reply read by ``ReplyChannel``. No
        retries, as under the client (``redis_connect._timeouts``). A command that fails, runs
        past its deadline or is given up midway (the gateway stopping) closes the connection,
        so no late reply is ever read as the next command's; so does an error reply other
        than NOSCRIPT: a primary demoted by a failover answers READONLY until the next batch
        reconnects."""
        channel = self._channel
        if channel is None or channel.failure is not None:
            # Connecting has its own bound (a Redis that accepts connections but never
            # answers the handshake); each command is bounded by the channel.
            async with asyncio.timeout(self._timeout):
                channel = await self._reconnect()
        try:
            reply = await channel.call(command, self._timeout)
        except BaseException:
            channel.close("a command to Redis was abandoned")
            raise
        if isinstance(reply, ResponseError):
            if _load_script_or_close(reply, channel):
                raise NoScriptError(str(reply))
            raise reply
        return reply

    async def _reconnect(self) -> ReplyChannel:
        """The kept connection, open again and read by a new ``ReplyChannel``. A connection
        Redis closed while idle (its ``timeout``, a proxy) has told its channel, and is
        replaced here before the next command, not failed by it."""
        self._channel = None
        connection = self._connection
        if connection is None:
            # Connected by the pool (``ensure_connection``).
            pool = self._client.connection_pool
            connection = self._connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        else:
            await connection.disconnect(nowait=True)
            # ``connect``, which a sentinel-managed connection overrides to ask the sentinels
            # where the primary is now.
            await connection.connect()  # type: ignore[no-untyped-call]
        channel = self._channel = ReplyChannel.take_over(connection)
        return channel

    def acquire(
        self,
        demands: Sequence[Demand],
        window: float,
        budgets: Sequence[BudgetDemand] = (),
        now: float | None = None,
    ) -> "asyncio.Future[Outcome]":
        """The check's future, awaited by the request itself: a coroutine here, between the
        request and its batch, was one more frame to suspend and resume per request. A
        store that cannot answer fails it with ``BackendUnavailableError`` (``_Batch.fail``).
        Bounded without a timer per check: a batch takes at most the timeout, and when one
        fails every check queued behind it fails with it (see TickBatcher)."""
        if not demands and not budgets:
            nothing: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            nothing.set_result(Outcome(True, ()))
            return nothing
        return self._batcher.submit(Operation(demands, window, now, True, budgets, 0))

    def charge(
        self,
        demands: Sequence[Demand],
        window: float,
        failed: ChargeFailed,
        budgets: Sequence[BudgetDemand] = (),
        tokens: int = 0,
        *,
        now: float | None = None,
    ) -> None:
        if demands or budgets:
            self._batcher.post(Operation(demands, window, now, False, budgets, tokens), failed)

    async def close(self) -> None:
        await self._batcher.close()
        if self._channel is not None:
            self._channel.close("the gateway is stopping")
            self._channel = None
        if self._connection is not None:
            # The channel's transport is closed: the pool must not wait for it (see take_over).
            await self._connection.disconnect(nowait=True)
            await self._client.connection_pool.release(self._connection)
            self._connection = None
        await self._client.aclose()


def _load_script_or_close(reply: ResponseError, channel: ReplyChannel | None) -> bool:
    """True for NOSCRIPT (a new or flushed server: the script is to be loaded). Any other
    error reply closes the connection: a primary demoted by a failover answers READONLY
    until the next batch reconnects."""
    if str(reply).startswith("NOSCRIPT"):
        return True
    if channel is not None:
        channel.close(f"Redis answered an error: {reply}")
    return False


class _Batch:
    """One batch's EVALSHA on the kept connection (the channel's ``Asker``): its reply is
    decoded and its checks settled as soon as it is read."""

    def __init__(
        self,
        backend: RedisBackend,
        ops: Sequence[Operation],
        encoded: EncodedBatch,
        settle: Settle[Outcome],
    ) -> None:
        self.backend = backend
        self.ops = ops
        self.encoded = encoded
        self.settle = settle
        self.channel: ReplyChannel | None = None

    def answered(self, reply: Any) -> None:
        if isinstance(reply, ResponseError):
            if _load_script_or_close(reply, self.channel):
                # A new or flushed server: loaded, then sent again, the slow way.
                self.backend._send_slowly(self)
            else:
                self.fail(reply)
            return
        self.decoded(reply)

    def failed(self, failure: Failure) -> None:
        self.fail(failure)

    def fail(self, err: BaseException) -> None:
        """Settled with an error: the store's own (Redis, the network, a deadline) as
        ``BackendUnavailableError``, for the policy's failure mode; any other as it is."""
        if isinstance(err, RedisError | OSError | TimeoutError):
            unavailable = BackendUnavailableError(f"{type(err).__name__}: {err}")
            unavailable.__cause__ = err
            err = unavailable
        self.settle(err)

    def decoded(self, reply: Any) -> None:
        """Settled with the reply's outcomes, or the error of a reply that does not fit."""
        try:
            outcomes = decode(self.ops, reply, time.time())
        except (ValueError, TypeError, IndexError) as err:
            self.fail(RedisError(f"unexpected reply from the rate-limit script: {err}"))
        except Exception as err:
            self.settle(err)
        else:
            self.settle(outcomes)
