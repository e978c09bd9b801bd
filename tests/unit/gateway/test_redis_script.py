"""The batch's wire format: what the Lua script reads and what its reply turns into."""

import pytest

from modelops.gateway.budgets import EXPIRY_GRACE, REQUESTS, BudgetDemand
from modelops.gateway.limiter import Demand
from modelops.gateway.redis_script import CHARGED, Operation, decode, encode, new_operation

CHECK = Operation([Demand("rq:c", 5, 1, 1), Demand("tk:c", None, 1, 0)], 60.0)
CHARGE = Operation([Demand("tk:c", None, 0, 7)], 60.0, now=12.5, answered=False)


def test_keys_in_order_and_numbers_in_one_string() -> None:
    keys, numbers = encode([CHECK, CHARGE])
    assert keys == ["rq:c", "tk:c", "tk:c"]
    assert numbers == "1 2 60.0 - 0 5 1 1 -1 1 0 0 1 60.0 12.5 0 -1 0 7"


def test_an_answer_s_tokens_are_added_to_each_window_counter_s_charge() -> None:
    counters = [Demand("tk:c", None, 0, 0), Demand("tk:*", None, 0, 0)]
    keys, numbers = encode([Operation(counters, 60.0, now=3.0, answered=False, tokens=11)])
    assert keys == ["tk:c", "tk:*"]
    assert numbers == "0 2 60.0 3.0 0 -1 0 11 -1 0 11"


def test_only_checks_are_answered() -> None:
    outcomes = decode(
        [CHECK, CHARGE, CHECK],
        [1, 2, b"0", b"1.5", 0, b"0", b"0", 0, 5, b"3.25", b"9", 2, b"0", b"4"],
        0.0,
    )
    assert outcomes[1] is CHARGED
    first, last = outcomes[0], outcomes[2]
    assert first.allowed and not last.allowed
    assert [(v.used, v.retry_after, v.reset_after, v.charged) for v in first.verdicts] == [
        (2, 0.0, 1.5, 1),
        (0, 0.0, 0.0, 0),
    ]
    assert [(v.used, v.retry_after, v.charged) for v in last.verdicts] == [
        (5, 3.25, 0),
        (2, 0.0, 0),
    ]


def test_a_reply_that_does_not_fit_the_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="answered 8 values, expected 7"):
        decode([CHECK, CHARGE], [1, 2, b"0", b"1.5", 0, b"0", b"0", 9], 0.0)


DAILY = BudgetDemand("bg:daily:rq:2026-12-01:c", 3, 1, 1, 1000.0, "daily", REQUESTS)
WITH_BUDGET = Operation([Demand("rq:c", 5, 1, 1)], 60.0, budgets=[DAILY])


def test_budget_keys_follow_the_window_keys_with_their_expiry() -> None:
    keys, numbers = encode([WITH_BUDGET])
    assert keys == ["rq:c", "bg:daily:rq:2026-12-01:c"]
    assert numbers == f"1 1 60.0 - 1 5 1 1 3 1 1 {int(1000 + EXPIRY_GRACE)}"


def test_an_answer_s_tokens_are_added_to_each_token_counter_s_charge() -> None:
    counter = BudgetDemand("bg:daily:tk:2026-12-01:c", None, 0, 0, 1000.0, "daily", "tokens")
    charge = Operation([], 60.0, now=1.0, answered=False, budgets=[counter], tokens=42)
    keys, numbers = encode([charge])
    assert keys == ["bg:daily:tk:2026-12-01:c"]
    assert numbers == f"0 0 60.0 1.0 1 -1 0 42 {int(1000 + EXPIRY_GRACE)}"


def test_a_budget_tuple_rendered_once_encodes_each_operation_s_own_tokens() -> None:
    counters = (
        BudgetDemand("bg:d:tk:2026-12-01:c", None, 0, 0, 1000.0, "d", "tokens"),
        BudgetDemand("bg:m:tk:2026-12:*", None, 0, 0, 2000.0, "m", "tokens"),
    )
    ops = [Operation([], 60.0, answered=False, budgets=counters, tokens=n) for n in (5, 9)]
    first, second = (encode([op]) for op in ops)
    grace = int(EXPIRY_GRACE)
    assert first[1] == f"0 0 60.0 - 2 -1 0 5 {1000 + grace} -1 0 5 {2000 + grace}"
    assert second[1] == f"0 0 60.0 - 2 -1 0 9 {1000 + grace} -1 0 9 {2000 + grace}"
    assert first[0] == second[0] == ["bg:d:tk:2026-12-01:c", "bg:m:tk:2026-12:*"]
    listed = [BudgetDemand("bg:x", 3, 1, 1, 10.0, "x", "requests")]
    assert encode([Operation([], 60.0, budgets=listed)])[1].endswith(f" 3 1 1 {10 + grace}")
    listed[0] = listed[0]._replace(limit=4)  # a list may change: never served from a cache
    assert encode([Operation([], 60.0, budgets=listed)])[1].endswith(f" 4 1 1 {10 + grace}")


def test_a_spent_budget_refuses_until_its_period_ends() -> None:
    (allowed,) = decode([WITH_BUDGET], [1, 2, b"0", b"1.5", 2, 0], 400.0)
    (refused,) = decode([WITH_BUDGET], [0, 2, b"0", b"1.5", 3, 1], 400.0)
    assert allowed.allowed and allowed.verdicts[1].charged == 1
    assert allowed.verdicts[1].remaining == 0
    assert not refused.allowed
    budget = refused.verdicts[1]
    assert (budget.used, budget.retry_after, budget.reset_after, budget.charged) == (
        3,
        600.0,
        600.0,
        0,
    )


def test_new_operation_makes_the_same_tuple_as_operation() -> None:
    made = new_operation([Demand("tk:c", None, 0, 7)], 60.0, 12.5, False, (DAILY,), 3)
    expected = Operation([Demand("tk:c", None, 0, 7)], 60.0, 12.5, False, (DAILY,), 3)
    assert made == expected
    assert type(made) is Operation
    assert (made.now, made.answered, made.tokens) == (12.5, False, 3)
