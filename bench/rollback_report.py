"""The rollback bench's summaries, comparisons against the goals, and printed tables."""

import statistics
from typing import Any

GOAL_MARGIN = 2.0  # ours <= interval + 2 s
GOAL_RATIO = 5.0  # Argo's median / ours


def summary(rows: list[dict[str, Any]], key: str = "rollback") -> dict[str, float | int | None]:
    values = [r[key] for r in rows if r[key] is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "measured": 0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "measured": len(values),
    }


def seconds(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.2f}"


def table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}\n  run    t_fail  t_stable    detect  rollback")
    for r in rows:
        print(
            f"  {r['run']:>3}  {seconds(r['t_fail']):>8}  {seconds(r['t_stable']):>8}  "
            f"{seconds(r['detect']):>8}  {seconds(r['rollback']):>8}  {r.get('error', '')}"
        )
    stats, detect = summary(rows), summary(rows, "detect")
    print(
        f"  rollback median {seconds(stats['median'])}  min {seconds(stats['min'])}  "
        f"max {seconds(stats['max'])}  ({stats['measured']}/{len(rows)} runs measured); "
        f"detect median {seconds(detect['median'])}"
    )


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def scenario(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rows": rows, "rollback": summary(rows), "detect": summary(rows, "detect")}


def comparison(interval: float, ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> Any:
    """The interval's summaries, the ratio of medians and the goals."""
    mine, argos = summary(ours), summary(theirs)
    ratio = (
        None
        if mine["median"] is None or argos["median"] is None or mine["median"] <= 0
        else argos["median"] / mine["median"]
    )
    goal = interval + GOAL_MARGIN
    return {
        "interval_seconds": interval,
        "goal_seconds": goal,
        "modelops": scenario(ours),
        "argo-rollouts": scenario(theirs),
        "ratio_of_medians": ratio,
        "goal_median_met": None if mine["median"] is None else mine["median"] <= goal,
        "goal_max_met": None if mine["max"] is None else mine["max"] <= goal,
        "goal_ratio_met": None if ratio is None else ratio >= GOAL_RATIO,
    }


def print_summary(metric: list[dict[str, Any]]) -> None:
    print(
        "\nfailing metric: first failing observation -> 100 % on stable (s, medians)\n"
        "  interval  modelops (min-max)     argo-rollouts (min-max)   argo/ours  "
        "goal ours<=I+2 (median/max)  goal >=5x"
    )
    for c in metric:
        mine, argos = c["modelops"]["rollback"], c["argo-rollouts"]["rollback"]
        ratio = "   -  " if c["ratio_of_medians"] is None else f"{c['ratio_of_medians']:5.1f}x"
        print(
            f"  {c['interval_seconds']:>6g} s  {seconds(mine['median'])} "
            f"({seconds(mine['min'])}-{seconds(mine['max'])})  {seconds(argos['median'])} "
            f"({seconds(argos['min'])}-{seconds(argos['max'])})     {ratio}     "
            f"{verdict(c['goal_median_met'])}/{verdict(c['goal_max_met'])}"
            f"                  {verdict(c['goal_ratio_met'])}"
        )
