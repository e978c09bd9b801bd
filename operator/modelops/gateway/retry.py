"""When to try an upstream again, and how long to wait first.

Only failures that cannot have produced an answer are retried: the connection could not be
made (refused, unreachable, connect timeout), or the upstream said 502/503 (it did not take
the request on). A timeout waiting for the answer's headers is not retried (the model may be
working on it), and nothing is retried once an answer has begun: the chain hands an answer to
the caller only after its status line arrived, and never asks again for that request.

Backoff doubles from ``backoff`` up to ``max_backoff``, with full jitter: a uniformly random
wait up to that bound, so replicas that saw the same failure do not retry in step.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass

RETRYABLE_STATUSES = frozenset({502, 503})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 0  # retries after the first try
    backoff: float = 0.1
    max_backoff: float = 2.0

    def delay(self, retry: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        # Jitter spreads load; it guards nothing, so the plain generator is right here.
        bound: float = min(self.max_backoff, self.backoff * 2.0**retry)
        return draw() * bound
