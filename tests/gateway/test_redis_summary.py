"""A counter's summary in Redis: a check reads it instead of every bucket, and gateways from
before it (a rolling upgrade) share the same counters without a wrong verdict on either side."""

import random
import time

import redis

from modelops.gateway.budgets import EXPIRY_GRACE, TOKENS, BudgetDemand
from modelops.gateway.limiter import BUCKETS, Demand, Outcome, SlidingWindows
from modelops.gateway.redis_script import ACQUIRE_LUA, Operation, decode
from tests.gateway.conftest import RedisServer
from tests.gateway.limiter_steps import arrivals, assert_same
from tests.gateway.script_runs import BEFORE_SUMMARY, evalsha

SUMMARY_FIELD = "-1"


def _run(client: "redis.Redis", sha: str, op: Operation) -> Outcome:
    """One operation through the script named ``sha``, as the gateway sends it."""
    return decode([op], evalsha(client, sha, [op]), time.time())[0]


def _calls(client: "redis.Redis", command: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_gateways_before_and_after_the_summary_share_counters(redis_server: RedisServer) -> None:
    """Each step runs in the old script or today's at random (checks, and charges that are
    not answered), on the same counters: every check answers as the in-memory limiter does."""
    with redis_server.client() as client:
        old = client.script_load(BEFORE_SUMMARY.read_text())
        new = client.script_load(ACQUIRE_LUA)
        ran: dict[tuple[str, bool], int] = {}
        for window in (10.0, 60.0):
            for seed in range(6):
                rng = random.Random(seed)
                memory = SlidingWindows()
                for now, demands in arrivals(seed, f"u{seed}:{window}:"):
                    want = memory.acquire(demands, now, window)
                    answered = demands[0].limit is not None
                    sha = rng.choice((old, new))
                    ran[sha, answered] = ran.get((sha, answered), 0) + 1
                    got = _run(client, sha, Operation(demands, window, now, answered))
                    if answered:
                        assert_same(got, want)
        # Both kinds of step ran in both scripts, and today's left summaries behind.
        assert min(ran.values()) > 20, ran
        assert len(ran) == 4, ran
        summarized = [key for key in client.scan_iter("u*") if client.hexists(key, SUMMARY_FIELD)]
        assert summarized


def test_a_check_on_a_full_window_reads_the_summary_not_every_bucket(
    redis_server: RedisServer,
) -> None:
    window = 60.0
    width = window / BUCKETS
    start = 1_800_000_000.0
    key = "full:rq:c"
    with redis_server.client() as client:
        sha = client.script_load(ACQUIRE_LUA)
        unit = [Demand(key, None, 0, 1)]
        for i in range(BUCKETS):  # one unit in every bucket of the window
            _run(client, sha, Operation(unit, window, start + i * width, answered=False))
        assert client.hlen(key) == BUCKETS
        now = start + (BUCKETS - 1) * width + width / 2  # in the newest bucket
        check = [Demand(key, 1000, 1, 1)]

        hgetall = _calls(client, "hgetall")
        first = _run(client, sha, Operation(check, window, now))
        # The first check of a bucket reads every bucket and leaves the summary.
        assert _calls(client, "hgetall") == hgetall + 1
        assert client.hexists(key, SUMMARY_FIELD)
        assert first.verdicts[0].used == BUCKETS

        hmget = _calls(client, "hmget")
        second = _run(client, sha, Operation(check, window, now + width / 10))
        assert _calls(client, "hgetall") == hgetall + 1, "the second check read every bucket"
        assert _calls(client, "hmget") == hmget + 1
        assert second.verdicts[0].used == BUCKETS + 1  # the first check's charge counted
        # The counter still expires (the summary's HSET keeps the key's expiry).
        assert client.pttl(key) > 0


def test_a_budget_counter_expires_a_grace_after_its_period_whoever_charged_it(
    redis_server: RedisServer,
) -> None:
    """Only a budget key's first charge sets its expiry (the period's end and a grace): the
    old script's charges after it and today's keep that expiry."""
    ends = time.time() + 3600
    budget = BudgetDemand("budget:tk:c:day", 1000, 1, 5, ends, "daily", TOKENS)
    op = Operation([], 60.0, budgets=[budget])
    with redis_server.client() as client:
        new = client.script_load(ACQUIRE_LUA)
        old = client.script_load(BEFORE_SUMMARY.read_text())
        for sha in (new, new, old, new):
            assert _run(client, sha, op).allowed
            assert client.expiretime(budget.key) == int(ends + EXPIRY_GRACE)
        assert client.get(budget.key) == b"20"
