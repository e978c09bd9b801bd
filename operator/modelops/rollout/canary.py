"""Transitional: the names reconcile.py imports, until it imports them from their modules
(plan, transitions, verdict). Removed in the next commits."""

from modelops.rollout.plan import Plan, plan, rolling_out
from modelops.rollout.transitions import Commands, advance
from modelops.rollout.verdict import analysis_due, sampling_interval

__all__ = [
    "Commands",
    "Plan",
    "advance",
    "analysis_due",
    "plan",
    "rolling_out",
    "sampling_interval",
]
