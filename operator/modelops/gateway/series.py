"""Counter and histogram families for the series every request updates, read at scrape time.

Why not prometheus_client's Counter and Histogram for these: each of their increments takes a
lock and checks the metric is observable, and a histogram walks its buckets in Python. The
requests, durations and tokens of every answer cost the gateway 5% of the instructions of a
proxied request that way (bench/gateway_instructions.py, with them switched off). The gateway
updates these from one event loop thread, so plain numbers need no lock; a scrape (also on the
loop) reads them through prometheus_client's documented custom-collector interface, and the
exposition is the same (names, labels, ``le`` values), without the ``_created`` samples.
"""

import bisect
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# How prometheus_client writes a bucket's ``le`` (0.005, 1.0, +Inf), so the text is the same.
_le: Callable[[float], str] = floatToGoString


class CounterSeries:
    """One label set's count."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class HistogramSeries:
    """One label set's buckets: ``counts[i]`` holds the values at most ``bounds[i]`` and above
    the bound before it; the last holds those above every bound (``+Inf``)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, so a value equal to a bound is counted in it
        # (Prometheus' ``le``).
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value


class CounterFamily(Collector):
    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self._series: dict[tuple[str, ...], CounterSeries] = {}

    def series(self, *values: str) -> CounterSeries:
        """One label set's series, made on first use; keep it (as ``labels()``'s child)."""
        known = self._series.get(values)
        if known is None:
            known = self._series[values] = CounterSeries()
        return known

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(self.name, self.documentation, labels=self.labels)]

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, series in list(self._series.items()):
            family.add_metric(list(values), series.value)
        return [family]


class HistogramFamily(Collector):
    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.bounds = sorted(float(b) for b in buckets)
        self._series: dict[tuple[str, ...], HistogramSeries] = {}

    def series(self, *values: str) -> HistogramSeries:
        known = self._series.get(values)
        if known is None:
            known = self._series[values] = HistogramSeries(self.bounds)
        return known

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labels)]

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        edges = [_le(b) for b in self.bounds] + ["+Inf"]
        for values, series in list(self._series.items()):
            cumulative, buckets = 0, []
            for edge, count in zip(edges, series.counts, strict=True):
                cumulative += count
                buckets.append((edge, float(cumulative)))
            family.add_metric(list(values), buckets, series.sum)
        return [family]
