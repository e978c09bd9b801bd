"""A circuit breaker per upstream, as a pure state machine with the time passed in.

A model server that is down or overloaded answers slowly or not at all; sending it every
request makes recovery slower and makes clients wait for timeouts. After ``threshold``
consecutive failures the breaker opens and requests go to the fallback (or get a quick 503).
After ``cooldown`` one probe request is let through (half-open): success closes the breaker,
failure opens it again for another cooldown.
"""

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# Gauge values for the metric: higher is worse.
STATE_VALUES = {State.CLOSED: 0, State.HALF_OPEN: 1, State.OPEN: 2}


@dataclass
class Breaker:
    threshold: int = 5
    cooldown: float = 30.0
    state: State = State.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False

    def allow(self, now: float) -> bool:
        """May a request go to this upstream now? In half-open, only one at a time."""
        if self.state == State.OPEN and now >= self.opened_at + self.cooldown:
            self.state = State.HALF_OPEN
            self.probing = False
        if self.state == State.CLOSED:
            return True
        if self.state == State.HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def success(self) -> None:
        self.state = State.CLOSED
        self.failures = 0
        self.probing = False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.state == State.HALF_OPEN or self.failures >= self.threshold:
            self.state = State.OPEN
            self.opened_at = now
            self.probing = False

    def abandon(self) -> None:
        """The request ended without an answer either way (client went away): free the probe."""
        self.probing = False
