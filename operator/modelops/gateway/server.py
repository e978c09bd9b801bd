"""The gateway's HTTP side: admission, proxying and observation of each request.

Order per request, cheapest refusal first: identify the client (401), declared body size
(400), rate limits and calendar budgets (429), read the body within the size limit (400),
send to the model through the upstream chain (503/504), pass the answer back (streamed
answers chunk by chunk), then charge the tokens its ``usage`` reports. Everything a request
needs from the policy is read once at its start, so a reload never changes a request half way.
"""

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import TypeVar

from multidict import CIMultiDict, istr
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from modelops.api.spec import FailureMode
from modelops.api.spec import RedisBackend as RedisSpec
from modelops.gateway.auth import KeysError, KeyTable, Refusal, authenticate, load_keys
from modelops.gateway.backend import Backend, BackendUnavailableError, MemoryBackend
from modelops.gateway.breaker import Breaker
from modelops.gateway.budget_answers import budget_refusal, spent_budget
from modelops.gateway.budgets import BudgetDemand
from modelops.gateway.config import GatewayConfig
from modelops.gateway.fallback import (
    FALLBACK_HEADER,
    STATIC,
    UPSTREAM_HEADER,
    chain_upstreams,
    static_answer,
)
from modelops.gateway.forwarding import Router
from modelops.gateway.http_client import ConnectionPool, HttpClientError, Timeouts, split_url
from modelops.gateway.http_exchange import Request, Response, StreamResponse
from modelops.gateway.http_server import HttpServer
from modelops.gateway.limiter import Demand, Outcome
from modelops.gateway.logs import Throttled, access_log, log, log_access
from modelops.gateway.loop_lag import watch_loop_lag
from modelops.gateway.mark import MARK_HEADER, MARK_REFUSED_HEADER, sign, verify
from modelops.gateway.metrics import LIVE, MIRRORED, Metrics
from modelops.gateway.policy import NO_TIER, Identity, Policy, limit_name
from modelops.gateway.redis_backend import RedisBackend
from modelops.gateway.redis_connect import secrets_from_pod
from modelops.gateway.relay import StreamRelay
from modelops.gateway.responses import error_response, limit_headers, retry_after
from modelops.gateway.retry import RetryPolicy
from modelops.gateway.upstream import (
    Attempt,
    UpstreamChain,
    UpstreamFailedError,
    forward_headers,
)
from modelops.gateway.usage import SseUsageScanner, Usage, usage_from_json
from modelops.gateway.validation import ChatLimits, check_chat
from modelops.gateway.watcher import FileWatcher, PolicyWatcher

T = TypeVar("T")
# A burst of new client connections while the loop is busy must wait in the accept queue,
# not be dropped: a dropped SYN is retried after a second (aiohttp's default was 128).
LISTEN_BACKLOG = 4096
OWN_ENDPOINTS = frozenset({"/healthz", "/readyz", "/metrics"})
# Set on every request sent upstream, as the multidict's folded keys (``istr``).
_ACCEPT_ENCODING = istr("Accept-Encoding")
_FORWARDED_FOR = istr("X-Forwarded-For")


class ClientTooSlowError(Exception):
    """The client read nothing of a streamed answer for client_idle_timeout seconds."""


class Exchange:
    """What one request's log line and metrics are made of (no headers, no bodies).

    A plain class, not a dataclass: compiled, a dataclass keeps the ``__init__`` that
    ``dataclasses`` writes in Python, a frame per request (2% of a request's instructions)."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.tier: str = NO_TIER
        self.client: str | None = None
        self.key: str | None = None  # a short digest of the API key, never the key
        self.upstream: str | None = None
        self.tokens: int | None = None
        self.limited: str | None = None
        self.error: str | None = None
        self.ttft: float | None = None
        # The track whose gateway answered, when not this one.
        self.forwarded_to: str | None = None
        # A shadow copy another gateway sent (its answer is discarded).
        self.mirrored = False
        # Left for after the answer is written (``Gateway._after_answer``): the whole JSON
        # answer whose usage is to be counted, and whose limits its tokens are charged to.
        self.usage_body: bytes | None = None
        self.charge_to: tuple[Policy, Identity] | None = None

    @property
    def traffic(self) -> str:
        """The answer series' ``traffic`` label: a client's answer, or a shadow copy's."""
        return MIRRORED if self.mirrored else LIVE


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _json_response(data: dict[str, str], status: int = 200) -> Response:
    # As aiohttp's json_response wrote them.
    body = json.dumps(data).encode()
    return Response(status, body, content_type="application/json; charset=utf-8")


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.metrics = Metrics(config.track)
        self.watcher = PolicyWatcher(
            config.policy_path, lambda result: self.metrics.policy_reloads.labels(result).inc()
        )
        self.keys: FileWatcher[KeyTable] | None = None
        if config.keys_path is not None:
            self.keys = FileWatcher(
                config.keys_path,
                load_keys,
                KeysError,
                lambda result: self.metrics.policy_reloads.labels(f"keys_{result}").inc(),
            )
        self.chat_limits = ChatLimits(config.max_message_chars, config.max_tokens)
        self.memory = MemoryBackend()
        self._redis: RedisBackend | None = None
        self._redis_spec: RedisSpec | None = None  # the spec object ``_redis`` was last matched to
        self._retired: list[RedisBackend] = []
        self._redis_log = Throttled()
        # What a charge's failure tells, made once per failure mode (the policy's, which a
        # reload may change) rather than a partial per answer.
        self._failed_mode: FailureMode | None = None
        self._charge_failed: Callable[[Exception], None] | None = None
        self._chain: UpstreamChain | None = None
        self._pool: ConnectionPool | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.router: Router | None = None
        if config.routing_path is not None:
            self.router = Router(
                config.routing_path,
                config.forward_key_path,
                config.track,
                self.metrics,
                config.upstream_timeout,
            )

    # -- wiring ---------------------------------------------------------------------------

    def serving(self) -> "Serving":
        """Started and listening inside ``async with``; on exit, requests in flight get
        ``shutdown_timeout`` seconds to finish before everything the gateway opened is closed."""
        return Serving(self)

    def handle(self, request: Request) -> Coroutine[None, None, Response | StreamResponse]:
        """GET (or HEAD) of the gateway's own endpoints; everything else goes to the model.
        Not a coroutine itself: it hands over the one that answers, one level fewer for
        every request to make and to pass through at each wake-up."""
        if request.path in OWN_ENDPOINTS and request.method in {"GET", "HEAD"}:
            if request.path == "/healthz":
                return self.healthz(request)
            if request.path == "/readyz":
                return self.readyz(request)
            return self.metrics_endpoint(request)
        return self.proxy(request)

    async def start(self) -> None:
        # Bytes pass through as the model sent them (never decompressed; the proxy asks for
        # identity anyway).
        self._pool = ConnectionPool(self.config.max_connections)
        c = self.config
        self._chain = UpstreamChain(
            self._pool,
            chain_upstreams(c, self._breaker),
            c.upstream_timeout,
            self.metrics,
            connect_timeout=c.upstream_connect_timeout,
            total_timeout=c.upstream_total_timeout,
            retry=RetryPolicy(c.retries, c.retry_backoff, c.retry_max_backoff),
            answer_follows=c.static_response is not None,
        )
        self._tasks.append(asyncio.create_task(self.watcher.run(self.config.policy_poll_interval)))
        lag = self.metrics.event_loop_lag.series(self.config.track)
        self._tasks.append(asyncio.create_task(watch_loop_lag(lag)))
        if self.keys is not None:
            self._tasks.append(asyncio.create_task(self.keys.run(c.policy_poll_interval)))
        if self.router is not None:
            await self.router.start(self.config.max_connections)
            interval = self.config.routing_poll_interval
            self._tasks.append(asyncio.create_task(self.router.run(interval)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()
        if self.router is not None:
            await self.router.stop()
        for backend in [self._redis, *self._retired]:
            if backend is not None:
                await backend.close()

    @staticmethod
    def _started(made_at_startup: T | None) -> T:
        """What ``_start`` made; requests are served only after it (an exception, not an
        assert, which ``python -O`` would strip)."""
        if made_at_startup is None:
            raise RuntimeError("the gateway app was not started")
        return made_at_startup

    def _breaker(self) -> Breaker:
        return Breaker(self.config.breaker_failures, self.config.breaker_cooldown)

    def backend(self, policy: Policy) -> Backend:
        """Memory, or Redis when the policy names one; a changed address gets a new client."""
        if policy.spec.redis is None:
            return self.memory
        spec = policy.spec.redis
        current = self._redis
        # The same spec object, request after request: compared by identity first, as
        # comparing two pydantic models runs Python code (8k instructions, twice a request).
        if current is not None and (spec is self._redis_spec or current.spec == spec):
            self._redis_spec = spec
            return current
        if current is not None:
            # Requests in flight may still use the old client; close it at shutdown.
            self._retired.append(current)
        secrets = secrets_from_pod(self.config.redis_ca_file)
        self._redis = RedisBackend(spec, self.config.redis_timeout, secrets=secrets)
        self._redis_spec = spec
        return self._redis

    # -- own endpoints --------------------------------------------------------------------

    async def healthz(self, _: Request) -> Response:
        return _json_response({"status": "ok"})

    async def readyz(self, _: Request) -> Response:
        """Ready only when the model says it is: a pod whose model is still loading gets no
        traffic, and the gateway's own liveness stays separate (``/healthz``)."""
        pool = self._started(self._pool)
        origin, prefix = split_url(self.config.upstream)
        timeouts = Timeouts(total=self.config.readiness_timeout)
        try:
            answer = await pool.request(
                origin, "GET", prefix + self.config.readiness_path, CIMultiDict(), b"", timeouts
            )
            answer.release()
            if 200 <= answer.status < 300:
                return _json_response({"status": "ready"})
            detail = f"upstream readiness answered {answer.status}"
        except (TimeoutError, HttpClientError, OSError, ValueError) as err:
            detail = f"upstream readiness failed: {type(err).__name__}"
        return _json_response({"status": "not ready", "detail": detail}, status=503)

    async def metrics_endpoint(self, _: Request) -> Response:
        body = generate_latest(self.metrics.registry)
        return Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    # -- proxy ----------------------------------------------------------------------------

    async def proxy(self, request: Request) -> Response | StreamResponse:
        exchange = Exchange(started=time.monotonic())
        response: Response | StreamResponse | None = None
        try:
            response = await self._serve(request, exchange)
        except Exception as err:
            # A bug must cost one request a 500, and be counted and logged like any other.
            log.error("request failed", exc_info=err)
            exchange.error = "internal"
            response = error_response(500, "internal_error", "the gateway failed")
        finally:
            if response is None:  # cancelled (the client went away): logged as 499
                self._observe(request, exchange, None)
        # Counted, charged and logged once the answer is written: none of it changes the
        # answer, and the client's wait is most of what the gateway costs it.
        response.after = functools.partial(self._after_answer, request, exchange, response)
        return response

    def _after_answer(
        self, request: Request, ex: Exchange, response: Response | StreamResponse
    ) -> None:
        try:
            if ex.usage_body is not None:
                self._count_tokens(ex, usage_from_json(ex.usage_body), None)
                ex.usage_body = None
            if ex.charge_to is not None:
                policy, who = ex.charge_to
                self._charge(policy, who, ex)
        finally:
            self._observe(request, ex, response)  # counted however the rest went

    def _observe(
        self, request: Request, ex: Exchange, response: Response | StreamResponse | None
    ) -> None:
        status = response.status if response is not None else 499
        duration = time.monotonic() - ex.started
        if ex.forwarded_to is not None and self.router is not None:
            # Counted per track by the gateway that answered: once, under its track.
            self.router.stats.forwarded.labels(ex.forwarded_to, str(status)).inc()
            self.router.stats.duration.labels(ex.forwarded_to).observe(duration)
        else:
            self.metrics.answered(ex.tier, status, duration, ex.traffic)
        if ex.mirrored and self.router is not None:
            self.router.mirror.received.labels(str(status)).inc()
        if not access_log.isEnabledFor(logging.INFO):
            return
        log_access(
            method=request.method,
            path=request.path,  # never the query string: keys sometimes travel there
            status=status,
            tier=ex.tier,
            client=ex.client,
            key=ex.key,
            upstream=ex.upstream,
            duration_ms=round(duration * 1000, 1),
            tokens=ex.tokens,
            limited=ex.limited,
            error=ex.error,
            track=ex.forwarded_to or self.config.track,
            ttft_ms=None if ex.ttft is None else round(ex.ttft * 1000, 1),
        )

    async def _acquire(
        self,
        policy: Policy,
        demands: Sequence[Demand],
        ex: Exchange,
        budgets: Sequence[BudgetDemand] = (),
    ) -> Outcome | None:
        """None: the counters are unreachable and the policy says fail closed."""
        try:
            return await self.backend(policy).acquire(demands, policy.window, budgets)
        except BackendUnavailableError as err:
            self._store_failed(policy.spec.failure_mode, err)
            ex.error = "ratelimit_store_unavailable"
            if policy.spec.failure_mode == FailureMode.CLOSED:
                return None
            return Outcome(True, ())

    def _store_failed(self, mode: FailureMode, err: Exception) -> None:
        self.metrics.redis_errors.labels(mode.value).inc()
        detail = err if isinstance(err, BackendUnavailableError) else f"{type(err).__name__}: {err}"
        self._redis_log.warning("rate-limit store unavailable (failing %s): %s", mode, detail)

    async def _serve(self, request: Request, ex: Exchange) -> Response | StreamResponse:
        if self.router is not None and MARK_HEADER in request.headers:
            return await self._serve_marked(request, ex, self.router)
        policy = self.watcher.current
        keys = self.keys.current if self.keys is not None else None
        who, ex.key = authenticate(policy, keys, request.headers)
        if isinstance(who, Refusal):
            ex.error = who.kind
            return error_response(401, who.kind, who.message)
        ex.tier, ex.client = who.tier, who.client_digest
        cap = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > cap:
            return self._too_large(ex)

        demands = policy.admission(who)
        plan = policy.budgets
        budgets = plan.admission(who.client_digest, who.tier, time.time()) if plan else ()
        outcome = await self._acquire(policy, demands, ex, budgets)
        if outcome is None:
            return error_response(
                503, "ratelimit_unavailable", "rate limiting is unavailable; try again shortly"
            )
        headers = limit_headers(outcome)
        if budgets and plan:
            spent = self._count_budgets(outcome, budgets, ex)
            if spent is not None:
                return budget_refusal(plan, spent, outcome)
        if not outcome.allowed:
            verdict = outcome.binding()
            ex.limited = limit_name(verdict.key) if verdict else "unknown"
            self.metrics.limited.labels(ex.tier, ex.limited, self.config.track).inc()
            return error_response(
                429, "rate_limit_exceeded", f"{ex.limited} limit exceeded", headers
            )

        body = await self._body(request, ex)
        if isinstance(body, Response):
            return body
        refused = self._invalid(request, body, headers, ex)
        if refused is not None:
            return refused
        return await self._answer(request, body, policy, who, ex, limits=headers)

    async def _body(self, request: Request, ex: Exchange) -> bytes | Response:
        """The request's body, or the answer that refuses it (408, or 400 past the cap)."""
        cap = self.config.max_body_bytes
        if request.complete:
            # The usual case, a small body that came with the head: no timer to arm.
            body = await request.read_body(cap)
        else:
            try:
                async with asyncio.timeout(self.config.client_body_timeout):
                    body = await request.read_body(cap)
            except TimeoutError:
                # A client trickling its body holds a connection and a request slot: cut it.
                ex.error = "client_body_timeout"
                timed_out = error_response(408, "request_timeout", "request body not sent in time")
                timed_out.force_close()  # the rest of the body is never read
                return timed_out
        return self._too_large(ex) if body is None else body

    async def _answer(
        self,
        request: Request,
        body: bytes,
        policy: Policy,
        who: Identity,
        ex: Exchange,
        *,
        limits: dict[str, str],
    ) -> Response | StreamResponse:
        """An admitted request's answer: the model's (here or on the other track), a
        fallback's, or the static one; charged to the client's limits once it ends."""
        upstream_headers = self._upstream_headers(request)
        if policy.spec.tier_header and policy.trusted_tier_header is None:
            upstream_headers.popall(policy.spec.tier_header, None)  # never trusted: not passed on
        primary_only = FALLBACK_HEADER in request.headers
        try:
            attempt = await self._open(
                request, upstream_headers, body, who, ex, primary_only=primary_only
            )
        except UpstreamFailedError as err:
            ex.error = str(err)
            if self.config.static_response is not None and not primary_only:
                ex.upstream = STATIC
                return static_answer(self.config.static_response, limits)
            if err.timed_out:
                return error_response(504, "upstream_timeout", str(err))
            retry = {} if err.retry_after is None else {"Retry-After": retry_after(err.retry_after)}
            return error_response(503, "upstream_unavailable", str(err), retry)
        ex.upstream = attempt.upstream.name
        try:
            response = await self._relay(request, attempt, limits, ex)
        finally:
            attempt.finish(None)  # no-op when the relay already reported the outcome
        ex.charge_to = (policy, who)  # charged once the answer is written
        return response

    def _invalid(
        self, request: Request, body: bytes, headers: dict[str, str], ex: Exchange
    ) -> Response | None:
        """A 400 for a chat completion past the input limits, before it costs any tokens."""
        if not self.chat_limits.applies(request.method, request.path):
            return None
        invalid = check_chat(body, self.chat_limits)
        if invalid is None:
            return None
        ex.error = "invalid_request"
        return error_response(400, "invalid_request_error", invalid.message, headers, invalid.param)

    def _upstream_headers(self, request: Request) -> CIMultiDict[str]:
        upstream_headers = forward_headers(request.headers)
        # Identity keeps the answer readable for the usage scanner; on loopback gzip gains
        # nothing.
        upstream_headers[_ACCEPT_ENCODING] = "identity"
        if request.remote:
            upstream_headers.add(_FORWARDED_FOR, request.remote)
        return upstream_headers

    async def _open(
        self,
        request: Request,
        headers: CIMultiDict[str],
        body: bytes,
        who: Identity,
        ex: Exchange,
        *,
        primary_only: bool = False,
    ) -> Attempt:
        """The answer, from the track the routing picks: forwarded (marked), or from the
        local model (or its fallbacks, unless ``primary_only``), also when the other track
        cannot be reached."""
        chain = self._started(self._chain)
        router = self.router
        track = router.target(request.headers, who.client) if router is not None else None
        if router is None or track is None or router.key is None:
            if router is not None:
                router.mirror_copy(ex.tier, request.method, request.path_qs, headers, body)
            return await chain.open(
                request.method, request.path_qs, headers, body, primary_only=primary_only
            )
        marked = CIMultiDict(headers)
        marked[MARK_HEADER] = sign(router.key, ex.tier, request.method, request.path_qs, body)
        try:
            forwarded: Attempt | None = await router.chain(track).open(
                request.method, request.path_qs, marked, body
            )
        except UpstreamFailedError:
            forwarded = None  # answered here, below (no await inside an except block)
        if forwarded is None or MARK_REFUSED_HEADER in forwarded.response.headers:
            # The other track unreachable, or its gateway holds no key or another one (its
            # Secret volume not refreshed yet): answer here rather than pass a 403 on.
            if forwarded is not None:
                forwarded.finish(None)
            router.stats.fallbacks.labels(track).inc()
            return await chain.open(
                request.method, request.path_qs, headers, body, primary_only=primary_only
            )
        ex.forwarded_to = track
        return forwarded

    async def _serve_marked(
        self, request: Request, ex: Exchange, router: Router
    ) -> Response | StreamResponse:
        """A request another gateway of this ModelService forwarded: it was identified and
        counted there, so it is answered here without limits and never forwarded again. A
        mark that does not verify (a client sending the header itself) is refused."""
        cap = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > cap:
            return self._too_large(ex)
        body = await self._body(request, ex)
        if isinstance(body, Response):
            return body
        mark = request.headers[MARK_HEADER]
        proof = None
        if router.key is not None:
            proof = verify(router.key, mark, request.method, request.path_qs, body)
        if proof is None:
            ex.error = "forged_forwarding_mark"
            refused = {MARK_REFUSED_HEADER: "1"}
            return error_response(
                403, "forbidden", f"the {MARK_HEADER} header is not valid", refused
            )
        ex.tier, ex.mirrored = proof.tier, proof.mirrored
        headers = self._upstream_headers(request)
        del headers[MARK_HEADER]
        try:
            attempt = await self._started(self._chain).open(
                request.method, request.path_qs, headers, body
            )
        except UpstreamFailedError as err:
            ex.error = str(err)
            return error_response(504 if err.timed_out else 503, "upstream_unavailable", str(err))
        ex.upstream = attempt.upstream.name
        try:
            return await self._relay(request, attempt, {}, ex)
        finally:
            attempt.finish(None)

    def _count_budgets(
        self, outcome: Outcome, budgets: Sequence[BudgetDemand], ex: Exchange
    ) -> BudgetDemand | None:
        """The budget that refused the request (counted as limited), else count the charges."""
        if outcome.allowed:
            self.metrics.budgets_charged(budgets, ex.tier)
            return None
        spent = spent_budget(outcome, budgets)
        if spent is not None:
            ex.limited = f"budget:{spent.budget}"
            self.metrics.limited.labels(ex.tier, ex.limited, self.config.track).inc()
        return spent

    def _too_large(self, ex: Exchange) -> Response:
        """A 400 like the other input checks (OpenAI answers an oversized request so), not
        413: clients of OpenAI-style APIs handle 400 ``invalid_request_error`` already."""
        ex.error = "body_too_large"
        cap = self.config.max_body_bytes
        return error_response(
            400, "invalid_request_error", f"request body is larger than {cap} bytes", param="body"
        )

    async def _relay(
        self,
        request: Request,
        attempt: Attempt,
        limit_hdrs: dict[str, str],
        ex: Exchange,
    ) -> Response | StreamResponse:
        upstream = attempt.response
        headers = forward_headers(upstream.headers)
        headers.update(limit_hdrs)
        headers[UPSTREAM_HEADER] = attempt.upstream.name
        if _is_json(upstream.content_type):
            cap = self.config.max_body_bytes
            # A small answer has come whole with its head, most often: taken at once, not
            # iterated (an iteration ends with an exception, 4k instructions compiled).
            data = upstream.whole()
            if data is None:
                chunks: list[bytes] = []
                size = 0
                try:
                    async for chunk in upstream:
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > cap:
                            # Too large to hold for a usage scan (a broken or hostile
                            # upstream): passed on as a stream, its tokens uncounted, memory
                            # bounded.
                            prefix = b"".join(chunks)
                            return await self._stream(request, attempt, headers, ex, prefix)
                except TimeoutError:
                    attempt.finish(ok=False)
                    ex.error = "upstream_timeout"
                    return error_response(504, "upstream_timeout", "upstream went silent")
                except HttpClientError:
                    attempt.finish(ok=False)
                    ex.error = "upstream_broken"
                    return error_response(503, "upstream_unavailable", "upstream answer broke off")
                data = b"".join(chunks)
            elif len(data) > cap:
                return await self._stream(request, attempt, headers, ex, data)  # as above
            attempt.finish(ok=upstream.status < 500)
            ex.usage_body = data  # counted once the answer is written
            return Response(status=upstream.status, body=data, headers=headers)
        return await self._stream(request, attempt, headers, ex)

    async def _stream(
        self,
        request: Request,
        attempt: Attempt,
        headers: CIMultiDict[str],
        ex: Exchange,
        prefix: bytes = b"",
    ) -> Response | StreamResponse:
        """Pass the answer on chunk by chunk as it arrives: no buffering, so tokens reach
        the client as the model makes them. ``prefix``: what was read of it already."""
        upstream = attempt.response
        scanner = SseUsageScanner() if upstream.content_type == "text/event-stream" else None
        out = StreamResponse(status=upstream.status, headers=headers)
        await out.prepare(request)
        relay = StreamRelay(out, scanner)
        try:
            if prefix:
                relay.note(prefix)
                await self._send(out, prefix)
            # Chunks that can go at once go from the upstream's callback; the loop gets the
            # others, in order, and the end of the answer or its failure.
            upstream.sink = relay.push
            async for chunk in upstream:
                relay.note(chunk)
                await self._send(out, chunk)
            await out.write_eof()
        except ConnectionResetError:
            ex.error = "client_disconnected"
            attempt.finish(ok=None)
            return out
        except ClientTooSlowError:
            ex.error = "client_too_slow"
            attempt.finish(ok=None)
            out.force_close()
            return out
        except (TimeoutError, HttpClientError):
            ex.error = "upstream_stream_broken"
            attempt.finish(ok=False)
            # The client must see a cut, not a complete answer: no end of the chunked body.
            if request.transport is not None:
                request.transport.abort()
            return out
        finally:
            upstream.sink = None
        attempt.finish(ok=upstream.status < 500)
        if scanner is not None:
            scanner.close()
            if relay.first is not None:
                ex.ttft = relay.first - ex.started
            self._count_tokens(ex, scanner.usage, relay.first)
        return out

    async def _send(self, out: StreamResponse, data: bytes) -> None:
        """One chunk to the client. A client that takes nothing for client_idle_timeout
        (a slow reader) would hold the upstream connection for as long as it likes."""
        try:
            await out.write(data, self.config.client_idle_timeout)
        except TimeoutError as err:
            raise ClientTooSlowError from err

    def _count_tokens(self, ex: Exchange, usage: Usage | None, first: float | None) -> None:
        if usage is None:
            return
        ex.tokens = usage.total
        if ex.forwarded_to is not None:
            return  # the answering track's gateway observes them
        series = self.metrics.generated(ex.tier, ex.traffic)
        series.tokens.inc(usage.total)
        if first is not None:
            series.ttft.observe(first - ex.started)
            elapsed = time.monotonic() - first
            generated = usage.completion if usage.completion is not None else usage.total
            if elapsed > 0 and generated:
                series.tokens_per_second.observe(generated / elapsed)

    def _charge(self, policy: Policy, who: Identity, ex: Exchange) -> None:
        """Charge the answer's tokens without waiting for the store: the answer need not
        wait a round trip, and a failure can only be counted anyway."""
        if not ex.tokens:
            return
        tokens = ex.tokens
        windows = policy.token_counters(who)
        plan = policy.budgets
        budgets: tuple[BudgetDemand, ...] = ()
        if plan is not None:
            budgets = plan.token_counters(who.client_digest, who.tier, time.time())
        if budgets:
            self.metrics.budgets_charged(budgets, ex.tier, tokens)
        if windows or budgets:
            mode = policy.spec.failure_mode
            failed = self._charge_failed
            if failed is None or mode is not self._failed_mode:
                self._failed_mode = mode
                failed = self._charge_failed = functools.partial(self._store_failed, mode)
            self.backend(policy).charge(windows, policy.window, failed, budgets, tokens)


class Serving:
    """What ``Gateway.serving()`` returns. A class rather than ``@asynccontextmanager``: mypyc,
    which compiles this module for the image, compiles no async generators."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._server: HttpServer | None = None

    # Failures are kept and raised after the awaits that clean up, not awaited in an except
    # or finally block (setup.py says why).
    async def __aenter__(self) -> HttpServer:
        gateway = self._gateway
        await gateway.start()
        server = HttpServer(gateway.handle, gateway.config.client_idle_timeout)
        failure: BaseException | None = None
        try:
            await server.start(gateway.config.host, gateway.config.port, LISTEN_BACKLOG)
        except BaseException as err:
            failure = err
        if failure is not None:
            await gateway.stop()
            raise failure
        self._server = server
        return server

    async def __aexit__(self, *exc_info: object) -> None:
        server, self._server = self._server, None
        failure: BaseException | None = None
        if server is not None:
            try:
                await server.shutdown(self._gateway.config.shutdown_timeout)
            except BaseException as err:
                failure = err
        await self._gateway.stop()
        if failure is not None:
            raise failure
