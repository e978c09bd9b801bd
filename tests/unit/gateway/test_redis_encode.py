"""The batch's wire format: what the Lua script reads (redis_script.py's docstring), packed as
the EVALSHA command Redis gets."""

import json

import hiredis
import pytest

from modelops.gateway.budgets import EXPIRY_GRACE, REQUESTS, BudgetDemand
from modelops.gateway.limiter import BUCKETS, Demand
from modelops.gateway.redis_encode import encode, pack
from modelops.gateway.redis_script import Operation

CHECK = Operation([Demand("rq:c", 5, 1, 1), Demand("tk:c", None, 1, 0)], 60.0)
CHARGE = Operation([Demand("tk:c", None, 0, 7)], 60.0, now=12.5, answered=False)
DAILY = BudgetDemand("bg:daily:rq:2026-12-01:c", 3, 1, 1, 1000.0, "daily", REQUESTS)
WITH_BUDGET = Operation([Demand("rq:c", 5, 1, 1)], 60.0, budgets=[DAILY])
EXPIRES = int(1000 + EXPIRY_GRACE)  # a budget ending at 1000, as the script reads it


def test_keys_in_order_and_numbers_in_one_json_array() -> None:
    batch = encode([CHECK, CHARGE])
    assert batch.keys == ["rq:c", "tk:c", "tk:c"]
    assert batch.numbers == "[1,2,60.0,-1,0,5,1,1,-1,1,0,0,1,60.0,12.5,0,-1,0,7]"


def test_an_answer_s_tokens_are_added_to_each_window_counter_s_charge() -> None:
    counters = [Demand("tk:c", None, 0, 0), Demand("tk:*", None, 0, 0)]
    batch = encode([Operation(counters, 60.0, now=3.0, answered=False, tokens=11)])
    assert batch.keys == ["tk:c", "tk:*"]
    assert json.loads(batch.numbers) == [0, 2, 60, 3, 0, -1, 0, 11, -1, 0, 11]


def test_budget_keys_follow_the_window_keys_with_their_expiry() -> None:
    batch = encode([WITH_BUDGET])
    assert batch.keys == ["rq:c", "bg:daily:rq:2026-12-01:c"]
    assert json.loads(batch.numbers) == [1, 1, 60, -1, 1, 5, 1, 1, 3, 1, 1, EXPIRES]


def test_an_answer_s_tokens_are_added_to_each_token_counter_s_charge() -> None:
    counter = BudgetDemand("bg:daily:tk:2026-12-01:c", None, 0, 0, 1000.0, "daily", "tokens")
    charge = Operation([], 60.0, now=1.0, answered=False, budgets=[counter], tokens=42)
    batch = encode([charge])
    assert batch.keys == ["bg:daily:tk:2026-12-01:c"]
    assert json.loads(batch.numbers) == [0, 0, 60, 1, 1, -1, 0, 42, EXPIRES]


def test_a_budget_tuple_rendered_once_encodes_each_operation_s_own_tokens() -> None:
    counters = (
        BudgetDemand("bg:d:tk:2026-12-01:c", None, 0, 0, 1000.0, "d", "tokens"),
        BudgetDemand("bg:m:tk:2026-12:*", None, 0, 0, 2000.0, "m", "tokens"),
    )
    ops = [Operation([], 60.0, answered=False, budgets=counters, tokens=n) for n in (5, 9)]
    first, second = (encode([op]) for op in ops)
    later = EXPIRES + 1000
    assert json.loads(first.numbers) == [0, 0, 60, -1, 2, -1, 0, 5, EXPIRES, -1, 0, 5, later]
    assert json.loads(second.numbers) == [0, 0, 60, -1, 2, -1, 0, 9, EXPIRES, -1, 0, 9, later]
    assert first.keys == second.keys == ["bg:d:tk:2026-12-01:c", "bg:m:tk:2026-12:*"]
    listed = [BudgetDemand("bg:x", 3, 1, 1, 1000.0, "x", "requests")]
    assert _tail(Operation([], 60.0, budgets=listed)) == [3, 1, 1, EXPIRES]
    listed[0] = listed[0]._replace(limit=4)  # a list may change: never served from a cache
    assert _tail(Operation([], 60.0, budgets=listed)) == [4, 1, 1, EXPIRES]


def _tail(op: Operation) -> list[float]:
    """The last four numbers of a batch of ``op`` alone."""
    numbers: list[float] = json.loads(encode([op]).numbers)
    return numbers[-4:]


def test_the_command_is_what_hiredis_packs_from_the_same_arguments() -> None:
    admission = (Demand("rq:clïent", 5, 1, 1), Demand("tk:clïent", None, 1, 0))
    counters = (Demand("tk:clïent", None, 0, 0),)
    ops = [
        Operation(admission, 60.0),
        Operation(counters, 60.0, answered=False, tokens=12),
        WITH_BUDGET,
    ]
    batch = encode(ops)
    sha = "a" * 40
    expected = hiredis.pack_command(
        ("EVALSHA", sha, len(batch.keys), *batch.keys, BUCKETS, batch.numbers)  # type: ignore[arg-type]
    )
    assert batch.command(sha) == expected
    load = ("SCRIPT", "LOAD", "return 1")
    assert pack(*load) == hiredis.pack_command(load)  # type: ignore[arg-type]


@pytest.mark.parametrize("tokens", [0, 3])
def test_a_demands_tuple_rendered_once_encodes_each_operation_as_it_is(tokens: int) -> None:
    admission = (Demand("rq:c", 5, 1, 1), Demand("tk:c", None, 1, 0))
    once = encode([Operation(admission, 60.0, tokens=tokens)])
    again = encode([Operation(admission, 60.0, tokens=tokens)])
    other_window = encode([Operation(admission, 10.0, tokens=tokens)])
    budgeted = encode([Operation(admission, 60.0, budgets=[DAILY], tokens=tokens)])
    assert once.numbers == again.numbers
    assert json.loads(once.numbers) == [1, 2, 60, -1, 0, 5, 1, 1 + tokens, -1, 1, tokens]
    assert json.loads(other_window.numbers) == [1, 2, 10, -1, 0, 5, 1, 1 + tokens, -1, 1, tokens]
    assert json.loads(budgeted.numbers)[:11] == [1, 2, 60, -1, 1, 5, 1, 1 + tokens, -1, 1, tokens]
    listed = [Demand("rq:c", 5, 1, 1)]
    assert _tail(Operation(listed, 60.0))[-3:] == [5, 1, 1]
    listed[0] = listed[0]._replace(limit=4)  # a list may change: never served from a cache
    assert _tail(Operation(listed, 60.0))[-3:] == [4, 1, 1]
