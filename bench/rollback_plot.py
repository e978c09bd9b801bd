"""The rollback bench's figure: every run's rollback time, per scenario and controller."""

from pathlib import Path
from typing import Any

COLOURS = {"modelops": "tab:blue", "argo-rollouts": "tab:orange"}


def _values(rows: list[dict[str, Any]]) -> list[float]:
    return [r["rollback"] for r in rows if r["rollback"] is not None]


def plot(result: dict[str, Any], path: Path) -> None:
    """One panel per analysis interval (both controllers, the goal as a line) and one for the
    crash-loop scenario; runs as dots, medians as bars."""
    import matplotlib  # noqa: PLC0415  (the optional `bench` extra)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    panels = len(result["metric"]) + 1
    figure, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.2), squeeze=False)
    for axis, comparison in zip(axes[0], result["metric"], strict=False):
        labels = ["modelops", "argo-rollouts"]
        for x, label in enumerate(labels):
            values = _values(comparison[label]["rows"])
            axis.scatter([x] * len(values), values, color=COLOURS[label], alpha=0.7, zorder=3)
            median = comparison[label]["rollback"]["median"]
            if median is not None:
                axis.hlines(median, x - 0.25, x + 0.25, color=COLOURS[label], linewidth=3)
        axis.axhline(
            comparison["goal_seconds"], color="grey", linestyle="--", label="interval + 2 s"
        )
        ratio = comparison["ratio_of_medians"]
        ratio_text = "" if ratio is None else f", Argo/ours {ratio:.1f}x"
        axis.set_title(f"failing metric, interval {comparison['interval_seconds']:g} s{ratio_text}")
        axis.set_xticks(range(len(labels)), labels)
        axis.set_ylabel("first failing observation -> 100 % on stable (s)")
        axis.set_ylim(bottom=0)
        axis.legend(loc="upper left")
    crash = axes[0][-1]
    labels = list(result["crash_loop"])
    for x, label in enumerate(labels):
        rows = result["crash_loop"][label]["rows"]
        values = _values(rows)
        crash.scatter([x] * len(values), values, color=COLOURS[label], alpha=0.7, zorder=3)
        if not values:  # say why: the run's error, e.g. "not on stable within 60 s"
            why = rows[0].get("error", "no rollback") if rows else "not run"
            crash.annotate(why, (x, 0), ha="center", va="bottom", color=COLOURS[label])
    crash.set_xticks(range(len(labels)), labels)
    crash.set_xlim(-0.75, len(labels) - 0.25)
    crash.set_ylim(bottom=0)
    crash.set_title("crash-loop canary")
    crash.set_ylabel("CrashLoopBackOff seen -> 100 % on stable (s)")
    figure.suptitle(f"Rollback speed, {result['runs']} runs each, {result['measured_at']}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
