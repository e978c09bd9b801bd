"""Condition helpers in the metav1.Condition shape.

As in Argo Rollouts' conditions helpers, ``lastTransitionTime`` moves only when a condition's
status flips, so a steady state rewrites nothing.
"""

from dataclasses import dataclass

from modelops.api.status import Condition


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool,
    *,
    reason: str,
    message: str,
    now: str,
    generation: int,
) -> list[Condition]:
    value = "True" if status else "False"
    previous = next((c for c in conditions if c.type == type_), None)
    since = previous.last_transition_time if previous and previous.status == value else now
    updated = Condition(
        type=type_,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    return [c for c in conditions if c.type != type_] + [updated]


@dataclass(frozen=True)
class Wanted:
    """One condition as it should read now."""

    type: str
    status: bool
    reason: str
    message: str


def set_conditions(
    previous: list[Condition] | None,
    wanted: list[Wanted],
    *,
    now: str,
    generation: int,
    absent: frozenset[str] = frozenset(),
) -> list[Condition]:
    """``wanted`` set as they should read now; the types in ``absent`` removed (kstatus'
    abnormal-true conditions, Reconciling and Stalled, are present only while True)."""
    conditions = [c for c in previous or [] if c.type not in absent]
    for item in wanted:
        conditions = set_condition(
            conditions,
            item.type,
            item.status,
            reason=item.reason,
            message=item.message,
            now=now,
            generation=generation,
        )
    return conditions
