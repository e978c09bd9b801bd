"""The reference model server's pure parts (examples/demo-model): tokens, the classifier, the
OpenAI-shaped answers and the settings read from the environment."""

import csv
import json
import math
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-model"
sys.path.insert(0, str(DEMO))

from demomodel import api, train  # noqa: E402
from demomodel.server import Settings  # noqa: E402
from demomodel.textmodel import NaiveBayes, accuracy, count_tokens, features, tokens  # noqa: E402
from demomodel.textmodel import train as fit  # noqa: E402

TOY = [
    ("great fast lovely", "positive"),
    ("lovely great", "positive"),
    ("awful slow broken", "negative"),
    ("slow awful", "negative"),
    ("great", "positive"),
]


def chat_body(**fields: object) -> bytes:
    doc: dict[str, object] = {"model": "x", "messages": [{"role": "user", "content": "Hi, you!"}]}
    doc.update(fields)
    return json.dumps(doc).encode()


# -- tokens ----------------------------------------------------------------------------------
def test_tokens_split_words_and_punctuation() -> None:
    assert tokens("Hi, you!") == ["Hi", ",", "you", "!"]
    assert tokens("  ") == []
    assert count_tokens("one two  three.") == 4


def test_features_mark_the_word_after_a_negation() -> None:
    assert features("This is NOT good, but fine") == ["this", "is", "not_good", "but", "fine"]
    assert features("never never slow") == ["not_slow"]


# -- the classifier --------------------------------------------------------------------------
def test_naive_bayes_matches_a_hand_computed_posterior() -> None:
    model = fit(TOY)
    assert model.labels == ("negative", "positive")
    # "great": positive counts great=3 of 6 words, vocabulary of 6 -> (3+1)/(6+6);
    # negative: 0 of 5 words -> 1/(5+6). Priors 3/5 and 2/5.
    pos = 3 / 5 * (4 / 12)
    neg = 2 / 5 * (1 / 11)
    found = model.predict("great")
    assert found.label == "positive"
    assert found.scores["positive"] == pytest.approx(pos / (pos + neg))
    assert sum(found.scores.values()) == pytest.approx(1.0)


def test_unknown_words_leave_the_priors() -> None:
    model = fit(TOY)
    found = model.predict("zebra quantum")
    assert found.scores["positive"] == pytest.approx(3 / 5)


def test_negated_words_are_their_own_feature() -> None:
    model = fit([*TOY, ("not great", "negative"), ("not great at all", "negative")])
    assert model.predict("not great").label == "negative"
    assert model.predict("great").label == "positive"


def test_weights_round_trip_and_refuse_other_formats() -> None:
    model = fit(TOY)
    again = NaiveBayes.from_json(model.to_json())
    assert again == model
    with pytest.raises(ValueError, match="weights file"):
        NaiveBayes.from_json(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="two labels"):
        fit([("a", "x"), ("b", "x")])


def test_the_shipped_data_trains_a_useful_model(tmp_path: Path) -> None:
    """What the image build runs: held-out accuracy over the floor, weights written."""
    weights = tmp_path / "model.json"
    assert train.main([str(DEMO / "data" / "sentiment.csv"), str(weights)]) == 0
    model = NaiveBayes.from_json(weights.read_text())
    assert model.predict("This is excellent, I love it").label == "positive"
    assert model.predict("It keeps crashing, terrible").label == "negative"
    with (DEMO / "data" / "sentiment.csv").open() as handle:
        rows = [(row["text"], row["label"]) for row in csv.DictReader(handle)]
    assert len(rows) >= 200
    assert {label for _, label in rows} == {"negative", "positive"}
    assert accuracy(model, rows) > 0.85


def test_training_refuses_a_model_under_the_floor(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    # Labels that contradict each other: nothing to learn, so held-out accuracy is poor.
    lines = ["label,text"] + [
        f"{'positive' if i % 2 else 'negative'},same words" for i in range(20)
    ]
    data.write_text("\n".join(lines) + "\n")
    weights = tmp_path / "model.json"
    assert train.main([str(data), str(weights), "--min-accuracy", "0.9"]) == 1
    assert not weights.exists()


# -- requests and answers ---------------------------------------------------------------------
def test_chat_request_parsing() -> None:
    request = api.parse_chat_request(
        chat_body(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hello there"}]},
            ],
            stream=True,
            stream_options={"include_usage": False},
            max_tokens=3,
        )
    )
    assert request.texts == (("system", "Be brief."), ("user", "Hello there"))
    assert (request.stream, request.include_usage, request.max_tokens) == (True, False, 3)
    assert api.prompt_tokens(request) == 3 + 2
    defaults = api.parse_chat_request(chat_body())
    assert (defaults.stream, defaults.include_usage, defaults.max_tokens) == (False, True, None)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"not json", None),
        (b"[1]", None),
        (chat_body(messages=[]), "messages"),
        (chat_body(messages=[{"content": "no role"}]), "messages[0]"),
        (chat_body(messages=[{"role": "user", "content": 3}]), "messages[0].content"),
        (chat_body(stream="yes"), "stream"),
        (chat_body(max_tokens=0), "max_tokens"),
        (chat_body(max_tokens=True), "max_tokens"),
        (chat_body(stream_options={"include_usage": "yes"}), "stream_options.include_usage"),
    ],
)
def test_bad_chat_requests_name_the_field(body: bytes, param: str | None) -> None:
    with pytest.raises(api.RequestError) as caught:
        api.parse_chat_request(body)
    assert caught.value.param == param


def test_completion_pieces_rebuild_the_text_and_stop_at_max_tokens() -> None:
    text = "That reads as positive, with 90% confidence."
    full = api.complete(text, None)
    assert full.text == text
    assert len(full.pieces) == count_tokens(text)
    assert full.finish_reason == "stop"
    cut = api.complete(text, 3)
    assert cut.pieces == ("That", " reads", " as")
    assert cut.finish_reason == "length"


def test_json_answer_carries_usage_and_the_model() -> None:
    completion = api.complete("a b c", None)
    doc = api.chat_completion("id1", 7, "demo:1.0", 4, completion)
    assert doc["model"] == "demo:1.0"
    assert doc["choices"][0]["message"] == {"role": "assistant", "content": "a b c"}
    assert doc["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}


def test_stream_chunks_concatenate_to_the_answer_and_end_with_usage() -> None:
    completion = api.complete("Good news, everyone", None)
    chunks = api.chat_chunks("id1", 7, "demo:2", 5, completion, include_usage=True)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant"
    assert "".join(d.get("content", "") for d in deltas) == completion.text
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert {c["id"] for c in chunks} == {"id1"}
    without = api.chat_chunks("id1", 7, "demo:2", 5, completion, include_usage=False)
    assert all("usage" not in c for c in without)
    assert len(without) == len(chunks) - 1


def test_sse_events() -> None:
    assert api.sse_event("[DONE]") == b"data: [DONE]\n\n"
    assert api.sse_event({"a": 1}) == b'data: {"a":1}\n\n'


def test_reply_reads_the_last_user_message() -> None:
    model = fit(TOY)
    request = api.parse_chat_request(
        chat_body(
            messages=[
                {"role": "user", "content": "great lovely"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "awful slow"},
            ]
        )
    )
    assert "negative" in api.reply_text(model, request)
    empty = api.parse_chat_request(chat_body(messages=[{"role": "user", "content": " "}]))
    assert api.reply_text(model, empty) == "There is nothing to read in that message."


def test_predict_requests_and_answers() -> None:
    model = fit(TOY)
    assert api.parse_predict_request(b'{"text": "great"}') == ["great"]
    assert api.parse_predict_request(b'{"instances": ["a", "b"]}') == ["a", "b"]
    for bad in (b'{"instances": []}', b'{"instances": [1]}', b"{}", b'"text"'):
        with pytest.raises(api.RequestError):
            api.parse_predict_request(bad)
    doc = api.predictions(model, ["great", "awful"], "demo:1")
    assert [p["label"] for p in doc["predictions"]] == ["positive", "negative"]
    assert all(math.isclose(sum(p["scores"].values()), 1.0) for p in doc["predictions"])


# -- settings ---------------------------------------------------------------------------------
def test_settings_from_the_environment() -> None:
    assert Settings.from_env({}) == Settings()
    got = Settings.from_env(
        {
            "PORT": "9000",
            "MODEL_VERSION": "2.1.0",
            "FAIL_READINESS": "true",
            "ERROR_RATE": "0.5",
            "LATENCY_MS": "20",
            "SLOW_START_S": "3",
            "CRASH_ON_START": "0",
        }
    )
    assert (got.port, got.model_id, got.fail_readiness, got.crash_on_start) == (
        9000,
        "demo-model:2.1.0",
        True,
        False,
    )
    assert (got.error_rate, got.latency_ms, got.slow_start_s) == (0.5, 20.0, 3.0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ERROR_RATE": "1.5"}, "outside 0..1"),
        ({"ERROR_RATE": "half"}, "not a number"),
        ({"FAIL_READINESS": "maybe"}, "FAIL_READINESS"),
        ({"PORT": "0"}, "outside"),
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_weights_come_from_model_dir_unless_model_path_says_otherwise() -> None:
    assert Settings.from_env({}).model_path == "/app/model.json"
    assert Settings.from_env({"MODEL_DIR": "/models/"}).model_path == "/models/model.json"
    both = {"MODEL_DIR": "/models", "MODEL_PATH": "/w/m.json"}
    assert Settings.from_env(both).model_path == "/w/m.json"
