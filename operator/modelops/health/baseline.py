"""The canary judged against stable (``MetricCheck.baseline``): pure arithmetic, no I/O.

Both tracks are measured by the same preset over the same window at the same moment, so load
that moves both (a busy hour, a slow dependency) moves the bound with the canary instead of
failing it. A track with fewer observations than ``minSamples`` (or none) makes the result
inconclusive: a ratio of three requests says nothing, and taking it for a pass would promote a
canary nobody measured.
"""

from dataclasses import dataclass

from modelops.api.spec import Baseline
from modelops.api.status import MetricResult


@dataclass(frozen=True)
class TrackMeasure:
    """One track's preset value over the window (None: no data) and its observation count."""

    value: float | None
    samples: float


def _shown(number: float) -> str:
    return f"{number:.4g}"


def compare_with_stable(
    name: str, baseline: Baseline, canary: TrackMeasure, stable: TrackMeasure
) -> MetricResult:
    """The check's result: failed when the canary is outside stable's bounds, inconclusive
    (``ok`` unset) when either track has too few observations in the window."""

    def result(ok: bool | None, message: str) -> MetricResult:
        return MetricResult(
            name=name, value=canary.value, baseline=stable.value, ok=ok, message=message
        )

    short = [
        f"{track} has {_shown(measure.samples)}"
        for track, measure in (("canary", canary), ("stable", stable))
        if measure.samples < baseline.min_samples
    ]
    if short:
        return result(
            None,
            f"too few samples in {baseline.window} ({', '.join(short)}; "
            f"minSamples {baseline.min_samples})",
        )
    if canary.value is None or stable.value is None:
        missing = "canary" if canary.value is None else "stable"
        return result(None, f"no value for {missing} in {baseline.window}")
    was = f"stable {_shown(stable.value)}"
    margin = _shown(baseline.margin)
    if baseline.max_ratio is not None:
        upper = stable.value * baseline.max_ratio + baseline.margin
        if canary.value > upper:
            plus = f" + {margin}" if baseline.margin else ""
            bound = f"{_shown(baseline.max_ratio)}{plus} = {_shown(upper)}"
            return result(False, f"above {was} x {bound}")
    if baseline.min_ratio is not None:
        lower = stable.value * baseline.min_ratio - baseline.margin
        if canary.value < lower:
            minus = f" - {margin}" if baseline.margin else ""
            bound = f"{_shown(baseline.min_ratio)}{minus} = {_shown(lower)}"
            return result(False, f"below {was} x {bound}")
    return result(True, f"within stable's bounds ({was})")
