"""Serving for real: the demo model behind the gateway sidecar on the real node, called through
its Service's ClusterIP by the official ``openai`` client, with per-tier request and token
limits, and a real Prometheus scraping the gateway in the pod.
"""

import time
from collections.abc import Callable, Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.e2e.support import (
    CLIENT_HEADER,
    DEMO_IMAGE,
    NODE_NAME,
    OPERATOR_IMAGE,
    REQUEST_LIMIT,
    TOKEN_BUDGET,
    Served,
    chat,
    pods,
    promql_value,
)
from tests.support.cluster import Cluster, wait_until
from tests.support.msvc import status

pytestmark = pytest.mark.cluster

ClientFor = Callable[[str], openai.OpenAI]
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Say hello in five words."}
]


@pytest.fixture
def client_for(served: Served) -> Iterator[ClientFor]:
    """``client_for(key)``: an OpenAI client for the Service, as the client ``key``; no retries,
    so a 429 reaches the test."""
    made: list[openai.OpenAI] = []

    def make(key: str) -> openai.OpenAI:
        client = openai.OpenAI(
            base_url=f"{served.url}/v1",
            api_key="unused",  # the gateway identifies clients by CLIENT_HEADER
            default_headers={CLIENT_HEADER: key},
            max_retries=0,
            timeout=10,
            # Every address here is on this machine: no proxy from the environment.
            http_client=openai.DefaultHttpxClient(trust_env=False),
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_rate_limited_service_on_the_real_node_becomes_ready(
    cluster: Cluster, served: Served
) -> None:
    current = status(cluster, served.namespace, served.name)
    assert current["phase"] == "Stable", current
    assert current["stableVersion"] == served.version
    (pod,) = pods(cluster, served.namespace, served.name)
    assert pod["spec"]["nodeName"] == NODE_NAME
    containers = {c["name"]: c for c in pod["status"]["containerStatuses"]}
    assert set(containers) == {"model", "gateway"}
    assert all(c["ready"] and c["restartCount"] == 0 for c in containers.values()), containers
    # The sidecar runs the operator's image (the chart's default gateway image).
    images = {c["name"]: c["image"] for c in pod["spec"]["containers"]}
    assert images == {"model": DEMO_IMAGE, "gateway": OPERATOR_IMAGE}, images
    service = cluster.get("svc", "-n", served.namespace, served.name)
    assert service["spec"]["ports"][0]["targetPort"] == "gateway"  # the gateway is in front


def test_openai_client_answers_plain_and_streamed(client_for: ClientFor, served: Served) -> None:
    client = client_for("key-pro")
    raw = client.chat.completions.with_raw_response.create(model="demo-model", messages=MESSAGES)
    assert raw.headers["X-Model-Version"] == served.version
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert served.version in completion.model
    assert completion.usage is not None and completion.usage.total_tokens > 0

    stream = client.chat.completions.create(
        model="demo-model",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    usage = None
    for chunk in stream:
        parts.extend(choice.delta.content or "" for choice in chunk.choices)
        usage = chunk.usage or usage
    assert "".join(parts).strip(), parts
    assert len(parts) > 1, parts  # streamed in pieces, not one blob
    assert usage is not None and usage.total_tokens > 0


def test_over_a_tier_limit_429_with_retry_after(client_for: ClientFor) -> None:
    client = client_for("key-free")
    for _ in range(REQUEST_LIMIT):
        client.chat.completions.create(model="demo-model", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="demo-model", messages=MESSAGES)
    headers = refused.value.response.headers
    assert int(headers["Retry-After"]) >= 1, dict(headers)
    assert headers["X-RateLimit-Limit"] == str(REQUEST_LIMIT)
    assert headers["X-RateLimit-Remaining"] == "0"
    assert "requests limit exceeded" in str(refused.value.body)
    # Another client's tier is untouched by this one's limit.
    assert (
        client_for("key-pro").chat.completions.create(model="demo-model", messages=MESSAGES).choices
    )


def test_tokens_are_counted(served: Served) -> None:
    """The tier's budget is spent by the answers' usage: each admitted request reports the
    budget minus the tokens of the answers before it, and the first request after the budget
    is spent is refused."""
    spent: list[int] = []
    for _ in range(200):
        answer = chat(served.url, "key-budget")
        if answer.status == 429:
            break
        assert answer.status == 200, (answer.status, answer.body)
        remaining = int(answer.headers["X-RateLimit-Remaining"])
        assert remaining == max(0, TOKEN_BUDGET - sum(spent)), (remaining, spent)
        assert answer.headers["X-RateLimit-Limit"] == str(TOKEN_BUDGET)
        spent.append(int(answer.json()["usage"]["total_tokens"]))
        time.sleep(0.05)  # the charge lands after the answer
    else:
        pytest.fail(f"no 429 after 200 requests; usage {spent}")
    assert spent, "the very first request was refused"
    assert sum(spent[:-1]) < TOKEN_BUDGET <= sum(spent), spent
    assert "tokens limit exceeded" in answer.body.decode()
    assert int(answer.headers["Retry-After"]) >= 1


def test_prometheus_scrapes_the_gateway_in_the_pod(served: Served, prometheus: str) -> None:
    """Prometheus discovers the pod through the API server, scrapes the gateway at the pod's
    IP, and PromQL returns the requests and tokens this test sent."""
    where = f'namespace="{served.namespace}",instance_name="{served.name}"'
    wait_until(
        lambda: promql_value(prometheus, f"sum(up{{{where}}})") == 1,
        30,
        message="the gateway scraped (up == 1)",
    )
    ok = f'{where},tier="metered",code="200"'
    requests_query = f"sum(modelops_gateway_requests_total{{{ok}}}) or vector(0)"
    tokens_query = f'sum(modelops_gateway_tokens_total{{{where},tier="metered"}}) or vector(0)'
    before = promql_value(prometheus, requests_query), promql_value(prometheus, tokens_query)
    assert before == (0, 0), before  # only this test uses the tier
    sent, tokens = 7, 0
    for _ in range(sent):
        answer = chat(served.url, "key-metered")
        assert answer.status == 200, answer.body
        tokens += int(answer.json()["usage"]["total_tokens"])

    def counted() -> tuple[float | None, float | None]:
        return promql_value(prometheus, requests_query), promql_value(prometheus, tokens_query)

    wait_until(lambda: counted() == (sent, tokens), 20, message=f"{sent} requests, {tokens} tokens")
