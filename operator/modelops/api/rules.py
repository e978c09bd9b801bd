"""Cross-field rules written once, enforced twice.

Each ``Rule`` carries a CEL expression for the CRD (``x-kubernetes-validations``, checked by the
API server at admission) and the same check in Python (run by pydantic, so ``modelops render``
refuses the same specs offline with the same message).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """One validation rule on an object of the API."""

    cel: str
    message: str
    check: Callable[[Any], bool]
    # The field the message is about, relative to the object the rule sits on, so the API
    # server names it (``spec.rollout.steps``) instead of the object.
    field_path: str | None = None

    def to_cel(self) -> dict[str, str]:
        out = {"rule": self.cel, "message": self.message}
        if self.field_path:
            out["fieldPath"] = self.field_path
        return out


class RuleViolationError(ValueError):
    """Raised by a failed ``Rule`` so the error can name the field, as the API server does."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule.message)
        self.field_path = rule.field_path
