"""The real gateway in front of the reference model server (examples/demo-model, as a process on
loopback), called by the official ``openai`` client: the pair the real node runs in a pod."""

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.gateway.support import gateway, metric, run, write_policy
from tests.support.demo_model import running_demo_model


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_demo_model(tmp_path_factory.mktemp("demo"), "4.2.0") as url:
        yield url


def openai_client(url: str, key: str) -> openai.AsyncOpenAI:
    """The OpenAI client a user would point at the gateway, as client ``key``, no retries."""
    return openai.AsyncOpenAI(
        base_url=url + "/v1", api_key="unused", max_retries=0, default_headers={"X-API-Key": key}
    )


def test_streams_and_json_answers_are_charged_by_their_usage(
    demo_model: str, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "p.yaml", "tokensPerMinute: 1000\n")
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "The checkout page is slow and buggy"}
    ]

    async def scenario() -> None:
        async with gateway(demo_model, policy) as (url, gw):
            client = openai_client(url, "team-a")
            raw = await client.chat.completions.with_raw_response.create(
                model="m", messages=messages
            )
            assert raw.headers["x-model-version"] == "4.2.0"
            answer = raw.parse()
            assert answer.usage is not None
            stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
            chunks = [chunk async for chunk in stream]
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert text == answer.choices[0].message.content
            assert "negative" in text
            assert chunks[-1].usage == answer.usage
            labels = {"tier": "none", "track": "stable"}
            charged = metric(gw, "modelops_gateway_tokens_total", labels)
            assert charged == 2 * answer.usage.total_tokens
            await client.close()

    run(scenario)


def test_a_spent_token_budget_is_a_429_the_client_sees(demo_model: str, tmp_path: Path) -> None:
    # One answer costs about 20 tokens: the second request finds the budget spent.
    policy = write_policy(tmp_path / "p.yaml", "tokensPerMinute: 15\n")

    async def scenario() -> None:
        async with gateway(demo_model, policy) as (url, _):
            client = openai_client(url, "team-b")
            messages: list[openai.types.chat.ChatCompletionMessageParam] = [
                {"role": "user", "content": "Works perfectly"}
            ]
            first = await client.chat.completions.create(model="m", messages=messages)
            assert first.usage is not None and first.usage.total_tokens > 15
            with pytest.raises(openai.RateLimitError) as caught:
                await client.chat.completions.create(model="m", messages=messages)
            assert int(caught.value.response.headers["retry-after"]) >= 1
            await client.close()

    run(scenario)
