"""Token counts from OpenAI-style responses, without keeping the response.

JSON bodies carry ``usage`` at the top level. Streamed (SSE) responses carry it in a late
``data:`` event (OpenAI sends it when ``stream_options.include_usage`` is set; vLLM and others
can be told to always send it). The scanner reads chunks as they pass through the proxy and
keeps only the current partial line, never the text of the answer.
"""

from typing import Any, NamedTuple

from modelops.gateway.json_body import parse_json

# A longer SSE line is not a usage event worth parsing; dropping it bounds memory.
MAX_LINE_BYTES = 1 << 20


class Usage(NamedTuple):
    """A NamedTuple (immutable, built in C): one per answer, see ``limiter.Demand``."""

    total: int
    completion: int | None


def _count(usage: dict[Any, Any], name: str) -> int | None:
    """A token count, or None when absent or malformed. A module function, not a closure in
    ``usage_from_object``: compiled, a closure is an object made on every call."""
    value = usage.get(name)
    # bool is an int subclass; a "true" token count is malformed, not 1.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


# ``Usage(...)`` runs the NamedTuple's ``__new__``, written in Python; this makes the same
# tuple without that frame.
_tuple_new = tuple.__new__


def usage_from_object(doc: Any) -> Usage | None:
    """``usage.total_tokens``, else prompt + completion; None when absent or malformed."""
    if not isinstance(doc, dict):
        return None
    usage = doc.get("usage")
    if not isinstance(usage, dict):
        return None
    total, completion = _count(usage, "total_tokens"), _count(usage, "completion_tokens")
    if total is None:
        prompt = _count(usage, "prompt_tokens")
        if prompt is None and completion is None:
            return None
        total = (prompt or 0) + (completion or 0)
    return _tuple_new(Usage, (total, completion))


def usage_from_json(body: bytes) -> Usage | None:
    try:
        return usage_from_object(parse_json(body))
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: JSON nested thousands deep (a broken or hostile upstream); the
        # answer still goes to the client, it just counts no tokens.
        return None


class SseUsageScanner:
    """Feed it the bytes of an event stream; ``usage`` is the last usage seen."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._partial = b""
        self._data: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        if (
            not self._partial
            and not self._data
            and chunk.endswith(b"\n\n")
            and b'"usage"' not in chunk
        ):
            # Whole events, none naming usage (a data value is a piece of the chunk): the line
            # by line pass would end where it began, with nothing held. Most chunks of a
            # stream are such, and skipping the pass was a tenth of a chunk's cost (issue 19).
            return
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_LINE_BYTES:
            self._partial = b""
        for line in lines:
            self._line(line.rstrip(b"\r"))

    def close(self) -> None:
        """End of stream: an event not followed by a blank line still counts."""
        if self._partial:
            self._line(self._partial.rstrip(b"\r"))
            self._partial = b""
        self._dispatch()

    def _line(self, line: bytes) -> None:
        if not line:
            self._dispatch()
        elif line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
            self._size += len(value)
            if self._size > MAX_LINE_BYTES:
                # An event this large is answer text, not usage: stop holding it.
                self._data, self._size = [], 0

    def _dispatch(self) -> None:
        data = b"\n".join(self._data)
        self._data, self._size = [], 0
        # Only events that mention usage are parsed: the rest is the answer, left alone.
        if b'"usage"' in data:
            found = usage_from_json(data)
            if found is not None:
                self.usage = found
