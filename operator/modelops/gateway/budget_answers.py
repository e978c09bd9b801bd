"""The 429 of a spent budget: which budget, and when it resets, in the body and the headers.

A client (or the person reading its logs) must tell "slow down for a second" (a sliding
window) from "this is spent until midnight" (a budget): the body's ``type`` and the
``X-Budget-*`` headers say which, and the reset is a calendar time in the budget's zone.
"""

import json
from collections.abc import Sequence

from modelops.gateway.budgets import BudgetDemand, BudgetPlan
from modelops.gateway.http_exchange import Response
from modelops.gateway.limiter import Outcome
from modelops.gateway.responses import JSON_TYPE, limit_headers

BUDGET_NAME_HEADER = "X-Budget-Name"
BUDGET_RESET_HEADER = "X-Budget-Reset"


def spent_budget(outcome: Outcome, budgets: Sequence[BudgetDemand]) -> BudgetDemand | None:
    """The budget that refused the request, when the refusal reported is a budget's."""
    verdict = outcome.binding()
    if verdict is None:
        return None
    return next((b for b in budgets if b.key == verdict.key), None)


def budget_refusal(plan: BudgetPlan, spent: BudgetDemand, outcome: Outcome) -> Response:
    resets_at = plan.resets_at(spent)
    headers = limit_headers(outcome)
    headers[BUDGET_NAME_HEADER] = spent.budget
    headers[BUDGET_RESET_HEADER] = resets_at
    message = f"budget {spent.budget} ({spent.unit}) is spent until {resets_at}"
    error = {
        "type": "budget_exceeded",
        "message": message,
        "code": 429,
        "budget": spent.budget,
        "unit": spent.unit,
        "resets_at": resets_at,
    }
    return Response(429, json.dumps({"error": error}).encode(), headers, content_type=JSON_TYPE)
