"""``gateway`` routing between two real gateways on loopback, each in front of its own stub
model: the stable one forwards the canary's share, marked, to the canary one."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from modelops.gateway.mark import MARK_HEADER, sign
from modelops.gateway.routing import in_canary
from modelops.gateway.server import Gateway
from tests.gateway.support import (
    Stub,
    closed_port_url,
    gateway,
    metric,
    run,
    serve,
    write_policy,
)

CHAT = "/v1/chat/completions"
PROMPT = {"messages": [{"role": "user", "content": "hello"}]}
KEY = "0123456789abcdef0123456789abcdef"


@dataclass
class Pair:
    url: str  # the stable gateway: where requests enter
    stable: Gateway
    canary: Gateway
    stable_stub: Stub
    canary_stub: Stub
    http: aiohttp.ClientSession


def write_table(path: Path, weight: int, canary_url: str, **extra: object) -> Path:
    table = {"canaryWeight": weight, "tracks": {"stable": "http://unused", "canary": canary_url}}
    path.write_text(yaml.safe_dump({**table, **extra}))
    return path


@asynccontextmanager
async def pair(
    tmp: Path,
    weight: int,
    stable_policy: str = "{}\n",
    canary_policy: str = "{}\n",
    canary_stub: Stub | None = None,
    canary_url: str | None = None,
    **extra: object,
) -> AsyncIterator[Pair]:
    key = tmp / "key"
    key.write_text(KEY)
    stable_stub, canary_stub = Stub(), canary_stub or Stub()
    canary_table = tmp / "canary-routing.yaml"
    # The canary's own table names itself: what it receives forwarded it answers itself.
    write_table(canary_table, weight, "http://self")
    async with (
        serve(stable_stub.app()) as stable_model,
        serve(canary_stub.app()) as canary_model,
        gateway(
            canary_model,
            write_policy(tmp / "canary.yaml", canary_policy),
            track="canary",
            routing_path=canary_table,
            forward_key_path=key,
        ) as (canary_url_live, canary_gw),
    ):
        table = write_table(tmp / "routing.yaml", weight, canary_url or canary_url_live, **extra)
        async with (
            gateway(
                stable_model,
                write_policy(tmp / "stable.yaml", stable_policy),
                routing_path=table,
                forward_key_path=key,
                routing_poll_interval=0.05,
            ) as (url, stable_gw),
            aiohttp.ClientSession() as http,
        ):
            yield Pair(url, stable_gw, canary_gw, stable_stub, canary_stub, http)


async def post(p: Pair, headers: dict[str, str]) -> int:
    async with p.http.post(p.url + CHAT, json=PROMPT, headers=headers) as response:
        await response.read()
        return response.status


def test_the_canary_gets_exactly_its_share(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path, 20) as p:
            codes = [await post(p, {"X-API-Key": "a"}) for _ in range(200)]
            assert set(codes) == {200}
            assert (p.canary_stub.calls, p.stable_stub.calls) == (40, 160)
            # Each answer is counted once, under the track that answered it.
            answered = "modelops_gateway_requests_total"
            labels = {"tier": "none", "code": "200"}
            assert metric(p.canary, answered, {**labels, "track": "canary"}) == 40
            assert metric(p.stable, answered, {**labels, "track": "stable"}) == 160
            forwarded = {"track": "canary", "code": "200"}
            assert metric(p.stable, "modelops_gateway_forwarded_total", forwarded) == 40
            tokens = "modelops_gateway_tokens_total"
            assert metric(p.stable, tokens, {"tier": "none", "track": "stable"}) == 160 * 10
            assert metric(p.canary, tokens, {"tier": "none", "track": "canary"}) == 40 * 10

    run(scenario)


def test_sticky_users_keep_their_track(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path, 50, stickyHeader="X-User-ID", seed="v2") as p:
            seen: dict[str, set[int]] = {}
            for _ in range(3):
                for user in range(30):
                    before = p.canary_stub.calls
                    assert await post(p, {"X-API-Key": "a", "X-User-ID": f"u{user}"}) == 200
                    seen.setdefault(f"u{user}", set()).add(p.canary_stub.calls - before)
            assert all(len(tracks) == 1 for tracks in seen.values())
            assert {next(iter(t)) for t in seen.values()} == {0, 1}

    run(scenario)


def test_header_route_reaches_the_canary(tmp_path: Path) -> None:
    async def scenario() -> None:
        match = [{"header": "X-Model-Version", "value": "canary"}]
        async with pair(tmp_path, 0, match=match) as p:
            assert await post(p, {"X-API-Key": "a", "X-Model-Version": "canary"}) == 200
            assert await post(p, {"X-API-Key": "a"}) == 200
            assert (p.canary_stub.calls, p.stable_stub.calls) == (1, 1)

    run(scenario)


def test_limits_are_counted_once_where_the_request_entered(tmp_path: Path) -> None:
    async def scenario() -> None:
        # The canary's own policy would refuse a second request; forwarded ones pass it.
        async with pair(tmp_path, 100, "requestsPerMinute: 5\n", "requestsPerMinute: 1\n") as p:
            codes = [await post(p, {"X-API-Key": "a"}) for _ in range(7)]
            assert codes == [200] * 5 + [429] * 2
            assert (p.canary_stub.calls, p.stable_stub.calls) == (5, 0)

    run(scenario)


def test_a_forged_mark_is_refused_and_never_skips_limits(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path, 0, "requestsPerMinute: 1\n") as p:
            forged = sign(b"not-the-key-at-all", "none", "POST", CHAT, b"{}")
            for mark in (forged, "v1.1.none.f.00", "yes"):
                headers = {"X-API-Key": "a", MARK_HEADER: mark}
                assert await post(p, headers) == 403
            assert (p.canary_stub.calls, p.stable_stub.calls) == (0, 0)
            assert await post(p, {"X-API-Key": "a"}) == 200
            assert await post(p, {"X-API-Key": "a"}) == 429

    run(scenario)


def test_a_canary_with_another_key_leaves_the_request_to_stable(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path, 100) as p:
            canary_router = p.canary.router
            assert canary_router is not None
            canary_router.key = b"another-key-of-32-bytes-at-least"
            assert await post(p, {"X-API-Key": "a"}) == 200
            assert (p.canary_stub.calls, p.stable_stub.calls) == (0, 1)
            fallbacks = "modelops_gateway_forward_fallbacks_total"
            assert metric(p.stable, fallbacks, {"track": "canary"}) == 1

    run(scenario)


def test_a_forwarded_request_is_never_forwarded_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path, 100) as p:
            # The canary's table sends everything to stable (the entry gateway): a loop,
            # were a marked request forwarded again.
            canary_router = p.canary.router
            assert canary_router is not None
            write_table(canary_router.routing_path, 0, "http://self")
            canary_router.check()
            assert await post(p, {"X-API-Key": "a"}) == 200
            assert (p.canary_stub.calls, p.stable_stub.calls) == (1, 0)

    run(scenario)


def test_a_dead_canary_is_served_by_stable(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path, 100, canary_url=closed_port_url()) as p:
            codes = [await post(p, {"X-API-Key": "a"}) for _ in range(10)]
            assert codes == [200] * 10
            assert p.stable_stub.calls == 10
            fallbacks = "modelops_gateway_forward_fallbacks_total"
            assert metric(p.stable, fallbacks, {"track": "canary"}) == 10

    run(scenario)


def test_a_slow_canary_never_slows_stable_answers(tmp_path: Path) -> None:
    async def scenario() -> None:
        slow = Stub(delay=3.0)
        async with pair(tmp_path, 50, canary_stub=slow, stickyHeader="X-User-ID") as p:
            users = [f"u{i}" for i in range(60)]
            canary_users = [u for u in users if in_canary(u, 50)]
            stable_users = [u for u in users if not in_canary(u, 50)]
            held = [
                asyncio.create_task(post(p, {"X-API-Key": "a", "X-User-ID": u}))
                for u in canary_users
            ]
            await asyncio.sleep(0.3)
            started = time.monotonic()
            for user in stable_users:
                assert await post(p, {"X-API-Key": "a", "X-User-ID": user}) == 200
            per_request = (time.monotonic() - started) / len(stable_users)
            assert per_request < 0.5  # not the canary's 3 s
            assert not any(task.done() for task in held)
            assert set(await asyncio.gather(*held)) == {200}

    run(scenario)


def test_the_split_follows_the_file(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path, 0) as p:
            router = p.stable.router
            assert router is not None
            assert await post(p, {"X-API-Key": "a"}) == 200
            canary_url = router.table.canary_url
            assert canary_url is not None
            write_table(router.routing_path, 100, canary_url)
            await asyncio.sleep(0.3)
            assert await post(p, {"X-API-Key": "a"}) == 200
            assert (p.stable_stub.calls, p.canary_stub.calls) == (1, 1)

    run(scenario)


async def settle(check: Callable[[], bool]) -> None:
    """Mirrored copies finish after the answers: wait (bounded) until ``check`` holds."""
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0.05)
    assert check()


def test_mirrored_copies_reach_the_canary_and_never_the_client(tmp_path: Path) -> None:
    async def scenario() -> None:
        failing = Stub(fail_status=500)  # a canary that fails every request
        async with pair(
            tmp_path,
            0,
            "requestsPerMinute: 20\n",
            "requestsPerMinute: 1\n",
            canary_stub=failing,
            mirror=100,
        ) as p:
            codes = [await post(p, {"X-API-Key": "a"}) for _ in range(22)]
            # The client's limits count each request once; mirrored copies count nowhere.
            assert codes == [200] * 20 + [429] * 2
            assert p.stable_stub.calls == 20
            # Every copy answered (5xx: the canary's breaker opens after five 500s) and
            # counted under the canary's track, as the analysis presets read it.
            answers = "modelops_gateway_mirrored_answers_total"

            def answered() -> float:
                return sum(metric(p.canary, answers, {"code": c}) for c in ("500", "503"))

            await settle(lambda: answered() == 20)
            # ... labelled as mirrored: none of them is a live answer.
            per_track = "modelops_gateway_requests_total"
            canary = {"tier": "none", "track": "canary", "code": "500"}
            mirrored = metric(p.canary, per_track, {**canary, "traffic": "mirrored"})
            assert mirrored == failing.calls >= 5
            assert metric(p.canary, per_track, {**canary, "traffic": "live"}) == 0
            failed = {"result": "failed"}
            await settle(lambda: metric(p.stable, "modelops_gateway_mirrored_total", failed) == 20)

    run(scenario)


def test_a_slow_canary_is_mirrored_up_to_the_cap_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        slow = Stub(delay=3.0)
        async with pair(tmp_path, 0, canary_stub=slow, mirror=100) as p:
            router = p.stable.router
            assert router is not None
            router.mirror.cap = 4
            started = time.monotonic()
            codes = [await post(p, {"X-API-Key": "a"}) for _ in range(20)]
            assert codes == [200] * 20
            assert (time.monotonic() - started) / 20 < 0.5  # not the canary's 3 s
            skipped = metric(p.stable, "modelops_gateway_mirrored_total", {"result": "skipped"})
            assert skipped == 16
            assert router.mirror.in_flight == 4

    run(scenario)


def test_a_dead_canary_costs_mirroring_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with pair(tmp_path, 0, canary_url=closed_port_url(), mirror=50) as p:
            codes = [await post(p, {"X-API-Key": "a"}) for _ in range(10)]
            assert codes == [200] * 10
            unreachable = {"result": "unreachable"}
            await settle(
                lambda: metric(p.stable, "modelops_gateway_mirrored_total", unreachable) == 5
            )

    run(scenario)
