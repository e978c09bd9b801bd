"""The lock-free families write what prometheus_client's Counter and Histogram would, for the
same observations: the same names, labels, ``le`` edges, cumulative counts and sums."""

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from modelops.gateway.metrics import LATENCY_BUCKETS
from modelops.gateway.series import CounterFamily, HistogramFamily


def _text(registry: CollectorRegistry) -> list[str]:
    lines = generate_latest(registry).decode().splitlines()
    return sorted(line for line in lines if "_created" not in line)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.tuples(
            st.sampled_from(["free", "paid"]),
            # Bucket edges themselves included: an edge value counts in its own bucket.
            st.one_of(st.sampled_from(LATENCY_BUCKETS), st.floats(0, 200, allow_nan=False)),
        ),
        max_size=50,
    )
)
def test_the_exposition_is_prometheus_clients(values: list[tuple[str, float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    hist = HistogramFamily("d_seconds", "help", ["tier"], LATENCY_BUCKETS)
    count = CounterFamily("n", "help", ["tier"])
    ours.register(hist)
    ours.register(count)
    their_hist = Histogram("d_seconds", "help", ["tier"], buckets=LATENCY_BUCKETS, registry=theirs)
    their_count = Counter("n", "help", ["tier"], registry=theirs)
    for tier, value in values:
        hist.series(tier).observe(value)
        count.series(tier).inc(value)
        their_hist.labels(tier).observe(value)
        their_count.labels(tier).inc(value)
    assert _text(ours) == _text(theirs)
