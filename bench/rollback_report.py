"""The rollback bench's summaries, comparisons against the goals, and printed tables."""

import statistics
from typing import Any

GOAL_MARGIN = 2.0  # ours <= interval + 2 s
GOAL_RATIO = 5.0  # Argo's median / ours
# A row's durations (s): from the first failing observation to the rollback reported, to 100 %
# on stable; that split at the controller's own first failing measurement (metric scenario).
DURATIONS = ("detect", "rollback", "measurement_wait", "reaction")
HEADERS = {"measurement_wait": "wait"}  # the printed tables' narrow columns


def summary(rows: list[dict[str, Any]], key: str = "rollback") -> dict[str, float | int | None]:
    values = [r[key] for r in rows if r.get(key) is not None]
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
    columns = ("t_fail", "t_stable", *DURATIONS)
    headers = [HEADERS.get(c, c) for c in columns]
    print(f"\n{title}\n  run  " + "".join(f"{h:>10}" for h in headers))
    for r in rows:
        cells = "".join(f"{seconds(r.get(c)):>10}" for c in columns)
        print(f"  {r['run']:>3}  {cells}  {r.get('error', '')}")
    medians = "".join(f"{seconds(summary(rows, c)['median']):>10}" for c in columns)
    stats = summary(rows)
    print(f"  median{medians}  ({stats['measured']}/{len(rows)} runs measured)")


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def scenario(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rows": rows, **{key: summary(rows, key) for key in DURATIONS}}


def ratio_of_medians(ours: dict[str, Any], theirs: dict[str, Any]) -> float | None:
    mine, argos = ours["median"], theirs["median"]
    return None if mine is None or argos is None or mine <= 0 else float(argos / mine)


def comparison(interval: float, ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> Any:
    """The interval's summaries, the ratios of medians (Argo / ours) and the goals."""
    mine, argos = scenario(ours), scenario(theirs)
    ratio = ratio_of_medians(mine["rollback"], argos["rollback"])
    goal = interval + GOAL_MARGIN
    median, worst = mine["rollback"]["median"], mine["rollback"]["max"]
    return {
        "interval_seconds": interval,
        "goal_seconds": goal,
        "modelops": mine,
        "argo-rollouts": argos,
        "ratio_of_medians": ratio,
        "reaction_ratio_of_medians": ratio_of_medians(mine["reaction"], argos["reaction"]),
        "goal_median_met": None if median is None else median <= goal,
        "goal_max_met": None if worst is None else worst <= goal,
        "goal_ratio_met": None if ratio is None else ratio >= GOAL_RATIO,
    }


def _times(ratio: float | None) -> str:
    return "   -  " if ratio is None else f"{ratio:5.2f}x"


def print_summary(metric: list[dict[str, Any]]) -> None:
    print(
        "\nfailing metric, medians (s): first failing observation -> 100 % on stable "
        "(min-max), and its last part, the reaction (controller's first failing measurement "
        "-> 100 % on stable)\n"
        "  interval  modelops (min-max)      argo-rollouts (min-max)  argo/ours  "
        "reaction ours / argo  argo/ours  goal ours<=I+2 (median/max)  goal >=5x"
    )
    for c in metric:
        mine, argos = c["modelops"], c["argo-rollouts"]
        print(
            f"  {c['interval_seconds']:>6g} s  {seconds(mine['rollback']['median'])} "
            f"({seconds(mine['rollback']['min'])}-{seconds(mine['rollback']['max'])})  "
            f"{seconds(argos['rollback']['median'])} "
            f"({seconds(argos['rollback']['min'])}-{seconds(argos['rollback']['max'])})  "
            f"{_times(c['ratio_of_medians'])}   "
            f"{seconds(mine['reaction']['median'])} / {seconds(argos['reaction']['median'])}"
            f"       {_times(c['reaction_ratio_of_medians'])}   "
            f"{verdict(c['goal_median_met'])}/{verdict(c['goal_max_met'])}"
            f"                   {verdict(c['goal_ratio_met'])}"
        )
