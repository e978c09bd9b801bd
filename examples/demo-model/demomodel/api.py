"""Requests in, OpenAI-shaped answers out: pure functions, no I/O, no clock of their own.

The chat answer is short and deterministic: what the sentiment classifier makes of the last user
message. ``usage`` counts the prompt's and the answer's tokens the way ``textmodel`` does, so a
test can predict exactly what the gateway will charge.

Streams follow OpenAI's chat-completion chunks: a first chunk with the assistant role, one chunk
per token, a last choice chunk with ``finish_reason``, then a chunk with no choices that carries
``usage``, then ``data: [DONE]``. OpenAI sends that usage chunk only when the request asks
(``stream_options.include_usage``); this server sends it unless the request says
``include_usage: false``, since the modelops gateway charges tokens from it and not every client
asks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from demomodel.textmodel import NaiveBayes, count_tokens, tokens

MAX_PROMPT_CHARS = 200_000


class RequestError(ValueError):
    """A client error, answered with 400 and OpenAI's error shape."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ChatRequest:
    texts: tuple[tuple[str, str], ...]  # (role, content) in order
    stream: bool
    include_usage: bool
    max_tokens: int | None


def error_body(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def _content_text(content: Any, index: int) -> str:
    """A message's content: a string, or a list of parts whose ``text`` parts are joined."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict):
                raise RequestError("content parts must be objects", f"messages[{index}].content")
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    raise RequestError("content must be a string or a list of parts", f"messages[{index}].content")


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(f"the body is not JSON: {error}") from None
    if not isinstance(doc, dict):
        raise RequestError("the body must be a JSON object")
    return doc


def parse_chat_request(body: bytes) -> ChatRequest:
    doc = parse_json_object(body)
    messages = doc.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list", "messages")
    texts: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError("each message needs a string role", f"messages[{index}]")
        texts.append((message["role"], _content_text(message.get("content"), index)))
    if sum(len(text) for _, text in texts) > MAX_PROMPT_CHARS:
        raise RequestError(f"the messages exceed {MAX_PROMPT_CHARS} characters", "messages")
    stream = doc.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("stream must be a boolean", "stream")
    options = doc.get("stream_options") or {}
    if not isinstance(options, dict):
        raise RequestError("stream_options must be an object", "stream_options")
    include_usage = options.get("include_usage", True)
    if not isinstance(include_usage, bool):
        raise RequestError("include_usage must be a boolean", "stream_options.include_usage")
    limit = doc.get("max_completion_tokens", doc.get("max_tokens"))
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise RequestError("max_tokens must be a positive integer", "max_tokens")
    return ChatRequest(tuple(texts), stream, include_usage, limit)


def prompt_tokens(request: ChatRequest) -> int:
    return sum(count_tokens(text) for _, text in request.texts)


def reply_text(classifier: NaiveBayes, request: ChatRequest) -> str:
    """What the model says: its reading of the last user message (or of the last message)."""
    users = [text for role, text in request.texts if role == "user"]
    subject = users[-1] if users else request.texts[-1][1]
    if not tokens(subject):
        return "There is nothing to read in that message."
    found = classifier.predict(subject)
    return (
        f"That message reads as {found.label}, with {found.confidence:.0%} confidence, "
        f"over {count_tokens(subject)} tokens."
    )


@dataclass(frozen=True)
class Completion:
    pieces: tuple[str, ...]  # the answer's tokens, each with the space that precedes it
    finish_reason: str  # "stop", or "length" when max_tokens cut it

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def complete(text: str, max_tokens: int | None) -> Completion:
    pieces: list[str] = []
    for token in tokens(text):
        space = " " if pieces and token[0].isalnum() else ""
        pieces.append(space + token)
    if max_tokens is not None and len(pieces) > max_tokens:
        return Completion(tuple(pieces[:max_tokens]), "length")
    return Completion(tuple(pieces), "stop")


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def chat_completion(
    ident: str, created: int, model: str, prompt: int, completion: Completion
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.text},
                "logprobs": None,
                "finish_reason": completion.finish_reason,
            }
        ],
        "usage": usage(prompt, len(completion.pieces)),
    }


def chat_chunks(
    ident: str,
    created: int,
    model: str,
    prompt: int,
    completion: Completion,
    *,
    include_usage: bool,
) -> list[dict[str, Any]]:
    """Every chunk of a streamed answer, in order (without the final ``[DONE]``)."""

    def chunk(delta: dict[str, str], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }

    chunks = [chunk({"role": "assistant", "content": ""}, None)]
    chunks += [chunk({"content": piece}, None) for piece in completion.pieces]
    chunks.append(chunk({}, completion.finish_reason))
    if include_usage:
        chunks.append(
            {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage(prompt, len(completion.pieces)),
            }
        )
    return chunks


def sse_event(doc: dict[str, Any] | str) -> bytes:
    data = doc if isinstance(doc, str) else json.dumps(doc, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def models_list(model: str, created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": created, "owned_by": "modelops"}],
    }


def parse_predict_request(body: bytes) -> list[str]:
    """``{"text": "..."}`` or ``{"instances": ["...", ...]}`` -> the texts to classify."""
    doc = parse_json_object(body)
    if isinstance(doc.get("text"), str):
        return [doc["text"]]
    instances = doc.get("instances")
    if isinstance(instances, list) and instances and all(isinstance(i, str) for i in instances):
        if sum(len(i) for i in instances) > MAX_PROMPT_CHARS:
            raise RequestError(f"the instances exceed {MAX_PROMPT_CHARS} characters", "instances")
        return instances
    raise RequestError('send {"text": "..."} or {"instances": ["...", ...]}', "text")


def predictions(classifier: NaiveBayes, texts: list[str], model: str) -> dict[str, Any]:
    found = [classifier.predict(text) for text in texts]
    return {
        "model": model,
        "predictions": [
            {"label": p.label, "scores": {k: round(v, 6) for k, v in sorted(p.scores.items())}}
            for p in found
        ],
    }
