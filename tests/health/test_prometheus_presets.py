"""The presets against a real Prometheus that scrapes a real gateway: the metric names, the
labels the scrape adds, the PromQL and the client must all agree for a number to come out."""

import time
import urllib.error
import urllib.request

import pytest

from modelops.api.spec import MetricPreset
from modelops.health.presets import preset_query, sample_count_query
from modelops.health.prometheus import NoDataError, PrometheusError, query_scalar
from tests.support.scrape import NAME, NAMESPACE, STREAM_PAUSE, STREAM_TOKENS, GatewayProcess

SCRAPE_TIMEOUT = 30.0
# Every fourth request fails: never two in a row, so the gateway's breaker stays closed. One
# of the three good ones streams, for the time-to-first-token and tokens-per-second presets.
PATTERN = ["/ok", "/stream", "/ok", "/fail"]


def send(gateway: GatewayProcess, paths: list[str]) -> list[int]:
    codes = []
    for path in paths:
        try:
            with urllib.request.urlopen(gateway.url + path, timeout=5) as response:
                response.read()
                codes.append(response.status)
        except urllib.error.HTTPError as error:
            error.read()
            codes.append(error.code)
    return codes


def wait_scraped(prometheus: str, total: int) -> None:
    """Until Prometheus holds ``total`` requests for ml/sentiment's canary (labels included)."""
    query = (
        f'sum(modelops_gateway_requests_total{{namespace="{NAMESPACE}",'
        f'instance_name="{NAME}",track="canary"}})'
    )
    deadline = time.monotonic() + SCRAPE_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = query_scalar(prometheus, query)
        except PrometheusError as error:
            last = error
        if last == total:
            return
        time.sleep(0.25)
    raise AssertionError(f"Prometheus did not scrape {total} requests: last {last!r}")


def test_error_rate_preset_measures_the_canarys_5xx_share(
    prometheus: str, canary_gateway: GatewayProcess
) -> None:
    # A first round creates the 200 and 500 series, so the window's first sample of each
    # already exists when the measured mix starts: rate() then sees all of the mix. It has the
    # same 3:1 ratio so that a scrape falling inside it cannot move the answer.
    assert send(canary_gateway, PATTERN) == [200, 200, 200, 500]
    wait_scraped(prometheus, 4)
    codes = send(canary_gateway, PATTERN * 5)
    assert codes.count(500) == 5
    assert codes.count(200) == 15
    wait_scraped(prometheus, 24)

    rate = query_scalar(prometheus, preset_query(MetricPreset.ERROR_RATE, NAMESPACE, NAME))
    assert rate == pytest.approx(0.25, abs=0.01)

    def preset(which: MetricPreset) -> float:
        return query_scalar(prometheus, preset_query(which, NAMESPACE, NAME))

    assert 0 < preset(MetricPreset.P99_LATENCY) < 1.0
    # What a baseline comparison counts: the requests in the window (increase() extrapolates
    # a little past the 20 measured since the first scrape; never none, never all 24 short).
    count = sample_count_query(MetricPreset.ERROR_RATE, NAMESPACE, NAME, "canary", "1m")
    assert 20 <= query_scalar(prometheus, count) <= 30
    assert 0 < preset(MetricPreset.TIME_TO_FIRST_TOKEN) < STREAM_PAUSE
    # 10 tokens after a 0.1 s pause: at most 100 per second, less by the time it takes.
    assert 20 < preset(MetricPreset.TOKENS_PER_SECOND) <= STREAM_TOKENS / STREAM_PAUSE

    # The selectors really select: another track or another ModelService has no data.
    with pytest.raises(NoDataError):
        query_scalar(
            prometheus, preset_query(MetricPreset.ERROR_RATE, NAMESPACE, NAME, track="stable")
        )
    with pytest.raises(NoDataError):
        query_scalar(prometheus, preset_query(MetricPreset.ERROR_RATE, NAMESPACE, "other"))
