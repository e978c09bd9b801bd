"""The rollback bench's summaries, comparisons against the goals, and printed tables."""

import statistics
from typing import Any

GOAL_MARGIN = 2.0  # ours <= interval + 2 s
GOAL_RATIO = 5.0  # Argo's median / ours
# A row's durations (s): from the first failing observation to the rollback reported, to 100 %
# on stable; that split at the controller's own first failing measurement (metric scenario).
DURATIONS = ("detect", "rollback", "measurement_wait", "reaction")
HEADERS = {"measurement_wait": "wait"}  # the printed tables' narrow columns
UNSAMPLED = "modelops-unsampled"  # sampleInterval 0s: measured only at the interval


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


def comparison(interval: float, rows: dict[str, list[dict[str, Any]]]) -> Any:
    """The interval's summaries per controller, the ratios of medians (Argo / each modelops
    variant) and the goals (for modelops as shipped)."""
    scenarios = {label: scenario(runs) for label, runs in rows.items()}
    mine, argos = scenarios["modelops"], scenarios["argo-rollouts"]
    ratio = ratio_of_medians(mine["rollback"], argos["rollback"])
    goal = interval + GOAL_MARGIN
    median, worst = mine["rollback"]["median"], mine["rollback"]["max"]
    return {
        "interval_seconds": interval,
        "goal_seconds": goal,
        **scenarios,
        "ratio_of_medians": ratio,
        "reaction_ratio_of_medians": ratio_of_medians(mine["reaction"], argos["reaction"]),
        "unsampled_ratio_of_medians": (
            ratio_of_medians(scenarios[UNSAMPLED]["rollback"], argos["rollback"])
            if UNSAMPLED in scenarios
            else None
        ),
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
        "-> 100 % on stable); modelops as shipped samples between runs (interval/10), "
        "unsampled measures only at the interval\n"
        "  interval  modelops (min-max)      unsampled (min-max)     argo-rollouts (min-max)  "
        "argo/ours  argo/unsampled  reaction ours / argo  goal ours<=I+2 (median/max)  goal >=5x"
    )
    for c in metric:
        mine, argos = c["modelops"], c["argo-rollouts"]
        plain = c.get(UNSAMPLED) or scenario([])
        print(
            f"  {c['interval_seconds']:>6g} s  {_spread(mine)}  {_spread(plain)}  "
            f"{_spread(argos)}  {_times(c['ratio_of_medians'])}   "
            f"{_times(c.get('unsampled_ratio_of_medians'))}        "
            f"{seconds(mine['reaction']['median'])} / {seconds(argos['reaction']['median'])}"
            f"         {verdict(c['goal_median_met'])}/{verdict(c['goal_max_met'])}"
            f"                   {verdict(c['goal_ratio_met'])}"
        )


def _spread(one: dict[str, Any]) -> str:
    rollback = one["rollback"]
    low, high = seconds(rollback["min"]), seconds(rollback["max"])
    return f"{seconds(rollback['median'])} ({low}-{high})"
