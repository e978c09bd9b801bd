"""Retry backoff and the chat completion input checks (pure parts of the data path)."""

import json

import pytest

from modelops.gateway.retry import RetryPolicy
from modelops.gateway.validation import ChatLimits, check_chat


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    retry = RetryPolicy(attempts=5, backoff=0.1, max_backoff=0.5)
    assert [retry.delay(n, lambda: 1.0) for n in range(5)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.5, 0.5]
    )
    assert retry.delay(3, lambda: 0.0) == 0.0  # full jitter: anywhere from nothing
    assert 0.0 <= retry.delay(2) <= 0.4


LIMITS = ChatLimits(max_message_chars=10, max_tokens=100)


def _body(**fields: object) -> bytes:
    return json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    ).encode()


def test_limits_apply_to_chat_completions_only_when_set() -> None:
    assert LIMITS.applies("POST", "/v1/chat/completions")
    assert not LIMITS.applies("POST", "/v1/embeddings")
    assert not LIMITS.applies("GET", "/v1/chat/completions")
    assert not ChatLimits().applies("POST", "/v1/chat/completions")


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        (_body(max_tokens=101), "max_tokens", "at most 100"),
        (_body(max_completion_tokens=500), "max_completion_tokens", "at most 100"),
        (
            _body(messages=[{"role": "user", "content": "x" * 11}]),
            "messages[0].content",
            "11 characters",
        ),
        (
            _body(
                messages=[
                    {"role": "system", "content": "ok"},
                    {"role": "user", "content": [{"type": "text", "text": "y" * 20}]},
                ]
            ),
            "messages[1].content",
            "20 characters",
        ),
        (b"{not json", None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
    ],
)
def test_requests_past_a_limit_are_invalid(body: bytes, param: str | None, says: str) -> None:
    invalid = check_chat(body, LIMITS)
    assert invalid is not None
    assert invalid.param == param
    assert says in invalid.message


def test_requests_within_the_limits_pass() -> None:
    assert check_chat(_body(max_tokens=100), LIMITS) is None
    assert check_chat(_body(messages=[{"role": "user", "content": "x" * 10}]), LIMITS) is None
