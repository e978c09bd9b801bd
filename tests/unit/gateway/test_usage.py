"""Token counts from JSON answers and SSE streams split at any byte."""

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from modelops.gateway.usage import SseUsageScanner, Usage, usage_from_json

STREAM = (
    b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":"lo"}}],"usage":null}\n\n'
    b": keep-alive comment\r\n\r\n"
    b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,'
    b'"total_tokens":12}}\n\n'
    b"data: [DONE]\n\n"
)


def test_json_total_tokens_or_sum() -> None:
    assert usage_from_json(b'{"usage": {"total_tokens": 9}}') == Usage(9, None)
    both = json.dumps({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}).encode()
    assert usage_from_json(both) == Usage(7, 4)


def test_json_without_usage_or_malformed() -> None:
    assert usage_from_json(b'{"choices": []}') is None
    assert usage_from_json(b"not json") is None
    assert usage_from_json(b'{"usage": {"total_tokens": true}}') is None
    assert usage_from_json(b'{"usage": {"total_tokens": -3}}') is None


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=20))
def test_sse_usage_found_however_the_stream_is_cut(cuts: list[int]) -> None:
    scanner = SseUsageScanner()
    points = [0, *sorted(set(cuts)), len(STREAM)]
    for start, end in itertools.pairwise(points):
        scanner.feed(STREAM[start:end])
    scanner.close()
    assert scanner.usage == Usage(12, 7)


def test_sse_final_event_without_blank_line() -> None:
    scanner = SseUsageScanner()
    scanner.feed(b'data: {"usage": {"total_tokens": 4}}')
    scanner.close()
    assert scanner.usage == Usage(4, None)


def test_huge_events_are_dropped_not_held() -> None:
    scanner = SseUsageScanner()
    for _ in range(40):
        scanner.feed(b"data: " + b"x" * 100_000 + b"\n")
    assert scanner._size <= 1 << 20
    scanner.feed(b'\ndata: {"usage": {"total_tokens": 2}}\n\n')
    assert scanner.usage == Usage(2, None)
