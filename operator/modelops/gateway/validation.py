"""Checks of a request before it reaches the model: a request refused here costs no tokens.

Only chat completions are read (``messages`` and ``max_tokens``), and only when a limit on
them is set: other requests, and gateways without these limits, never parse the body.
"""

from dataclasses import dataclass
from typing import Any

from modelops.gateway.json_body import parse_json

CHAT_PATH_SUFFIX = "/chat/completions"


@dataclass(frozen=True)
class Invalid:
    """A 400: which parameter, and what is wrong with it (OpenAI's ``param`` and message)."""

    param: str | None
    message: str


@dataclass(frozen=True)
class ChatLimits:
    max_message_chars: int | None = None
    max_tokens: int | None = None

    @property
    def active(self) -> bool:
        return self.max_message_chars is not None or self.max_tokens is not None

    def applies(self, method: str, path: str) -> bool:
        return self.active and method == "POST" and path.endswith(CHAT_PATH_SUFFIX)


def _content_chars(content: Any) -> int:
    """Characters of a message's content: a string, or a list of parts with text."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(part["text"])
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return 0


def check_chat(body: bytes, limits: ChatLimits) -> Invalid | None:
    """None when the chat completion request is within ``limits``."""
    try:
        request = parse_json(body)
    except ValueError:
        return Invalid(None, "the request body is not valid JSON")
    if not isinstance(request, dict):
        return Invalid(None, "the request body must be a JSON object")
    if limits.max_tokens is not None:
        for param in ("max_tokens", "max_completion_tokens"):
            asked = request.get(param)
            if isinstance(asked, int) and asked > limits.max_tokens:
                return Invalid(param, f"{param} is {asked}; at most {limits.max_tokens} is allowed")
    messages = request.get("messages")
    if limits.max_message_chars is not None and isinstance(messages, list):
        for position, message in enumerate(messages):
            if not isinstance(message, dict):
                continue
            chars = _content_chars(message.get("content"))
            if chars > limits.max_message_chars:
                return Invalid(
                    f"messages[{position}].content",
                    f"messages[{position}] has {chars} characters; "
                    f"at most {limits.max_message_chars} are allowed per message",
                )
    return None
