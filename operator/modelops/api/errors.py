"""Turning validation errors into the messages a user sees at admission."""

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from modelops.api.rules import RuleViolationError


class SpecError(ValueError):
    """A ModelService spec the operator cannot act on; ``messages`` name the fields."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def _path(error: ErrorDetails, root: str) -> str:
    parts = [root] if root else []
    for item in error["loc"]:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]"
        else:
            parts.append(str(item))
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, RuleViolationError) and cause.field_path:
        parts.append(cause.field_path.lstrip("."))
    return ".".join(parts)


def format_validation_error(error: ValidationError, root: str = "spec") -> SpecError:
    """One ``field.path: message`` per problem, in the API server's field-path style."""
    messages = []
    for item in error.errors():
        text = item["msg"].removeprefix("Value error, ")
        messages.append(f"{_path(item, root)}: {text}")
    return SpecError(messages)
