"""A daily budget spent through the Service's ClusterIP on the real node: the 429 names the
budget and its reset, a midnight in the budget's time zone (tzdata in the image)."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.support import BUDGET_ZONE, DAILY_BUDGET, Served, chat

pytestmark = pytest.mark.cluster


def test_a_spent_daily_budget_is_refused_naming_it(served: Served) -> None:
    codes = [chat(served.url, "key-capped").status for _ in range(DAILY_BUDGET)]
    assert codes == [200] * DAILY_BUDGET
    refused = chat(served.url, "key-capped")
    assert refused.status == 429, refused.body
    error = json.loads(refused.body)["error"]
    assert (error["type"], error["budget"]) == ("budget_exceeded", "capped-daily")
    assert refused.headers["X-Budget-Name"] == "capped-daily"
    resets = datetime.fromisoformat(refused.headers["X-Budget-Reset"])
    tomorrow = datetime.now(ZoneInfo(BUDGET_ZONE)).date() + timedelta(days=1)
    assert resets.date() == tomorrow, resets
    assert (resets.hour, resets.minute, resets.utcoffset()) == (0, 0, timedelta(hours=9))
    # Another tier has no such budget.
    assert chat(served.url, "key-pro").status == 200
