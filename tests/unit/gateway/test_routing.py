"""The gateway's routing decision: stable hashes, monotonic cohorts, exact shares, the mark."""

import pytest

from modelops.gateway.mark import MAX_SKEW, Proof, sign, verify
from modelops.gateway.routing import (
    CANARY,
    STABLE,
    HeaderRoute,
    RoutingError,
    RoutingTable,
    Spreader,
    bucket,
    choose_track,
    in_canary,
    parse_table,
)

KEY = b"k" * 32
TRACKS = {STABLE: "http://s", CANARY: "http://c"}


def test_bucket_is_the_same_in_every_process() -> None:
    # Fixed values: a change of hash would move every user to another version mid-rollout.
    # (Python's own hash() is salted per process; blake2b is not.)
    assert bucket("user-1") == 7467
    assert bucket("user-1", "2.0.0") == 8967
    assert all(0 <= bucket(f"u{i}") < 10_000 for i in range(1000))


def test_cohorts_only_grow_as_the_weight_rises() -> None:
    users = [f"user-{i}" for i in range(5000)]
    previous: set[str] = set()
    for weight in (0, 1, 5, 10, 20, 50, 80, 99, 100):
        cohort = {u for u in users if in_canary(u, weight, "v2")}
        assert previous <= cohort
        previous = cohort
    assert previous == set(users)


@pytest.mark.parametrize("weight", [1, 10, 20, 50, 90])
def test_sticky_shares_are_within_a_point_of_the_weight(weight: int) -> None:
    users = [f"user-{i}" for i in range(20_000)]
    share = sum(in_canary(u, weight, "v2") for u in users) / len(users)
    assert abs(share * 100 - weight) < 1.0


@pytest.mark.parametrize("weight", [1, 7, 10, 33, 50, 99])
def test_unkeyed_shares_are_exact(weight: int) -> None:
    spreader = Spreader()
    table = RoutingTable(canary_weight=weight, tracks=TRACKS)
    picks = [choose_track(table, {}, None, spreader) for _ in range(2000)]
    assert abs(picks.count(CANARY) - 2000 * weight / 100) <= 1


def test_sticky_header_then_client_key() -> None:
    table = RoutingTable(canary_weight=50, tracks=TRACKS, sticky_header="X-User-ID", seed="v2")
    users = [f"u{i}" for i in range(200)]
    first = [choose_track(table, {"X-User-ID": u}, "shared-key", Spreader()) for u in users]
    again = [choose_track(table, {"X-User-ID": u}, "other-key", Spreader()) for u in users]
    assert first == again  # the header decides, not the client key
    assert {CANARY, STABLE} == set(first)
    by_key = {choose_track(table, {}, "client-7", Spreader()) for _ in range(50)}
    assert by_key == {CANARY if in_canary("client-7", 50, "v2") else STABLE}


def test_header_route_and_no_canary() -> None:
    table = RoutingTable(
        canary_weight=0, tracks=TRACKS, match=(HeaderRoute("X-Model-Version", "canary"),)
    )
    assert choose_track(table, {"X-Model-Version": "canary"}, None, Spreader()) == CANARY
    assert choose_track(table, {"X-Model-Version": "stable"}, None, Spreader()) == STABLE
    gone = RoutingTable(canary_weight=100, tracks={STABLE: "http://s"}, match=table.match)
    assert choose_track(gone, {"X-Model-Version": "canary"}, None, Spreader()) == STABLE


def test_parse_table_reads_what_the_operator_renders() -> None:
    table = parse_table(
        "canaryWeight: 20\nseed: 2.0.0\nstickyHeader: X-User-ID\n"
        "match: [{header: X-Model-Version, value: canary}]\n"
        "tracks: {stable: 'http://a:80', canary: 'http://b:80'}\n"
    )
    assert table.canary_weight == 20
    assert table.canary_url == "http://b:80"
    assert table.match == (HeaderRoute("X-Model-Version", "canary"),)
    with pytest.raises(RoutingError):
        parse_table("[1, 2]")
    with pytest.raises(RoutingError):
        parse_table("match: [{value: x}]")


def test_mark_verifies_only_the_same_request_in_time() -> None:
    mark = sign(KEY, "gold", "POST", "/v1/x", b"{}", now=1000.0)
    assert verify(KEY, mark, "POST", "/v1/x", b"{}", now=1000.0) == Proof("gold", False)
    later = verify(KEY, mark, "POST", "/v1/x", b"{}", now=1000.0 + MAX_SKEW - 1)
    assert later == Proof("gold", False)
    mirrored = sign(KEY, "gold", "POST", "/v1/x", b"{}", mirrored=True, now=1000.0)
    assert verify(KEY, mirrored, "POST", "/v1/x", b"{}", now=1000.0) == Proof("gold", True)
    as_forwarded = mirrored.replace(".m.", ".f.")
    assert verify(KEY, as_forwarded, "POST", "/v1/x", b"{}", now=1000.0) is None
    assert verify(KEY, mark, "POST", "/v1/x", b"{}", now=1000.0 + MAX_SKEW + 1) is None
    assert verify(b"x" * 32, mark, "POST", "/v1/x", b"{}", now=1000.0) is None
    assert verify(KEY, mark, "POST", "/v1/y", b"{}", now=1000.0) is None
    assert verify(KEY, mark, "POST", "/v1/x", b"{1}", now=1000.0) is None
    forged_tier = mark.replace(".gold.", ".free.")
    assert verify(KEY, forged_tier, "POST", "/v1/x", b"{}", now=1000.0) is None
    assert verify(KEY, "v1.1000.gold.f.00", "POST", "/v1/x", b"{}", now=1000.0) is None
    assert verify(KEY, "garbage", "POST", "/v1/x", b"{}", now=1000.0) is None
