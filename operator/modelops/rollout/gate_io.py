"""What crosses between the machine and the shell about gates: the runs a decision wants in
flight (actions) and the outcomes of finished ones (observations)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class GateRun:
    """An action: this run should be in flight (the shell starts it unless it is)."""

    id: str
    kind: str  # Job | Webhook
    name: str
    point: str  # step-N, promotion, rollback, post
    weight: int  # the canary's weight while it runs (the payload's)


@dataclass(frozen=True)
class GateOutcome:
    """An observation: how a finished run ended, in words for status."""

    passed: bool
    message: str
