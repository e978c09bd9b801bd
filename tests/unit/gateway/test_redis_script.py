"""The batch's wire format: what the Lua script reads and what its reply turns into."""

import pytest

from modelops.gateway.limiter import Demand
from modelops.gateway.redis_script import CHARGED, Operation, decode, encode

CHECK = Operation([Demand("rq:c", 5, 1, 1), Demand("tk:c", None, 1, 0)], 60.0)
CHARGE = Operation([Demand("tk:c", None, 0, 7)], 60.0, now=12.5, answered=False)


def test_keys_in_order_and_numbers_in_one_string() -> None:
    keys, numbers = encode([CHECK, CHARGE])
    assert keys == ["rq:c", "tk:c", "tk:c"]
    assert numbers == "1 2 60.0 - 5 1 1 -1 1 0 0 1 60.0 12.5 -1 0 7"


def test_only_checks_are_answered() -> None:
    outcomes = decode(
        [CHECK, CHARGE, CHECK],
        [1, 2, b"0", b"1.5", 0, b"0", b"0", 0, 5, b"3.25", b"9", 2, b"0", b"4"],
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
        decode([CHECK, CHARGE], [1, 2, b"0", b"1.5", 0, b"0", b"0", 9])
