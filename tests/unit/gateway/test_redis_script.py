"""The script's reply, turned into outcomes (its input: test_redis_encode.py). Retry and reset
come as whole microseconds."""

import pytest

from modelops.gateway.budgets import REQUESTS, BudgetDemand
from modelops.gateway.limiter import Demand
from modelops.gateway.redis_script import CHARGED, Operation, decode

CHECK = Operation([Demand("rq:c", 5, 1, 1), Demand("tk:c", None, 1, 0)], 60.0)
CHARGE = Operation([Demand("tk:c", None, 0, 7)], 60.0, now=12.5, answered=False)


def test_only_checks_are_answered() -> None:
    outcomes = decode(
        [CHECK, CHARGE, CHECK],
        [1, 2, 0, 1_500_000, 0, 0, 0, 0, 5, 3_250_000, 9_000_000, 2, 0, 4_000_000],
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
        decode([CHECK, CHARGE], [1, 2, 0, 1_500_000, 0, 0, 0, 9], 0.0)


DAILY = BudgetDemand("bg:daily:rq:2026-12-01:c", 3, 1, 1, 1000.0, "daily", REQUESTS)
WITH_BUDGET = Operation([Demand("rq:c", 5, 1, 1)], 60.0, budgets=[DAILY])


def test_a_spent_budget_refuses_until_its_period_ends() -> None:
    (allowed,) = decode([WITH_BUDGET], [1, 2, 0, 1_500_000, 2, 0], 400.0)
    (refused,) = decode([WITH_BUDGET], [0, 2, 0, 1_500_000, 3, 1], 400.0)
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
