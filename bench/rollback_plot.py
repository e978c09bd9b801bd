"""The rollback bench's figure: every run's times, per scenario and controller."""

from pathlib import Path
from typing import Any

COLOURS = {"modelops": "tab:blue", "modelops-unsampled": "tab:cyan", "argo-rollouts": "tab:orange"}
CONTROLLERS = ("modelops", "modelops-unsampled", "argo-rollouts")
SHORT = {"modelops-unsampled": "unsampled"}  # tick labels that fit


def _values(rows: list[dict[str, Any]], key: str = "rollback") -> list[float]:
    return [r[key] for r in rows if r.get(key) is not None]


def _dots(axis: Any, x: float, values: list[float], label: str, median: float | None) -> None:
    axis.scatter([x] * len(values), values, color=COLOURS[label], alpha=0.7, zorder=3)
    if median is not None:
        axis.hlines(median, x - 0.25, x + 0.25, color=COLOURS[label], linewidth=3)


def plot(result: dict[str, Any], path: Path) -> None:
    """A panel per analysis interval (both controllers; the goal as a line), one of the
    reactions (first failing measurement -> 100 % on stable) and one of the crash-loop
    scenario; runs as dots, medians as bars."""
    import matplotlib  # noqa: PLC0415  (the optional `bench` extra)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    metric = result["metric"]
    panels = len(metric) + 2
    figure, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.4), squeeze=False)
    for axis, comparison in zip(axes[0], metric, strict=False):
        for x, label in enumerate(CONTROLLERS):
            if label not in comparison:
                continue
            scenario = comparison[label]
            _dots(axis, x, _values(scenario["rows"]), label, scenario["rollback"]["median"])
        axis.axhline(
            comparison["goal_seconds"], color="grey", linestyle="--", label="interval + 2 s"
        )
        ratio = comparison["ratio_of_medians"]
        ratio_text = "" if ratio is None else f", Argo/ours {ratio:.2f}x"
        axis.set_title(f"failing metric, interval {comparison['interval_seconds']:g} s{ratio_text}")
        axis.set_xticks(range(len(CONTROLLERS)), [SHORT.get(c, c) for c in CONTROLLERS])
        axis.set_ylabel("first failing observation -> 100 % on stable (s)")
        axis.set_ylim(bottom=0)
        axis.legend(loc="upper left")
    reaction = axes[0][len(metric)]
    ticks, names = [], []
    for group, comparison in enumerate(metric):
        for offset, label in enumerate(CONTROLLERS):
            x = group * (len(CONTROLLERS) + 1) + offset
            if label not in comparison:
                continue
            scenario = comparison[label]
            values = _values(scenario["rows"], "reaction")
            _dots(reaction, x, values, label, scenario["reaction"]["median"])
            ticks.append(x)
            names.append(f"{SHORT.get(label, label)}\n{comparison['interval_seconds']:g} s")
    reaction.set_xticks(ticks, names, fontsize=8)
    reaction.set_ylim(bottom=0)
    reaction.set_title("reaction: own failing measurement -> stable")
    reaction.set_ylabel("seconds")
    crash = axes[0][-1]
    labels = list(result["crash_loop"])
    for x, label in enumerate(labels):
        rows = result["crash_loop"][label]["rows"]
        values = _values(rows)
        _dots(crash, x, values, label, result["crash_loop"][label]["rollback"]["median"])
        if not values:  # say why: the run's error, e.g. "not on stable within 60 s"
            why = rows[0].get("error", "no rollback") if rows else "not run"
            crash.annotate(why, (x, 0), ha="center", va="bottom", color=COLOURS[label])
    crash.set_xticks(range(len(labels)), labels)
    crash.set_xlim(-0.75, len(labels) - 0.25)
    crash.set_ylim(bottom=0)
    crash.set_title("crash-loop canary")
    crash.set_ylabel("CrashLoopBackOff seen -> 100 % on stable (s)")
    figure.suptitle(
        f"Rollback speed, {result['runs']} runs each, {result['measured_at']}, "
        f"Argo Rollouts {result['argo_rollouts_version']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
