"""Tokens and a small multinomial naive-Bayes classifier, pure and deterministic.

Token counts are what the gateway charges against LLM token budgets (through the answers'
``usage``), so they only need to be stable and plausible, not a real BPE: a word or a single
punctuation mark is one token. The classifier sees lower-cased words, with a ``not_`` prefix on
the word after a negation, so that "not good" does not count as "good".
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"[a-z0-9']+")
_NEGATIONS = frozenset({"not", "no", "never", "isn't", "wasn't", "don't", "didn't", "doesn't"})
FORMAT = "demomodel.naive-bayes/v1"


def tokens(text: str) -> list[str]:
    """Words and punctuation marks, in order: ``"Hi, you!"`` -> ``["Hi", ",", "you", "!"]``."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    return len(tokens(text))


def features(text: str) -> list[str]:
    """Lower-cased words; the word right after a negation gets a ``not_`` prefix."""
    found: list[str] = []
    negate = False
    for word in _WORD.findall(text.lower()):
        if word in _NEGATIONS:
            negate = True
            continue
        found.append(f"not_{word}" if negate else word)
        negate = False
    return found


@dataclass(frozen=True)
class Prediction:
    label: str
    scores: dict[str, float]  # label -> probability, summing to 1

    @property
    def confidence(self) -> float:
        return self.scores[self.label]


@dataclass(frozen=True)
class NaiveBayes:
    """Log priors and per-label log likelihoods (add-one smoothed) of every training word.

    Words never seen in training carry no evidence either way and are left out.
    """

    labels: tuple[str, ...]
    log_prior: dict[str, float]
    log_likelihood: dict[str, dict[str, float]]

    def predict(self, text: str) -> Prediction:
        vocabulary = self.log_likelihood[self.labels[0]]
        words = [w for w in features(text) if w in vocabulary]
        logs = {
            label: self.log_prior[label] + sum(self.log_likelihood[label][w] for w in words)
            for label in self.labels
        }
        top = max(logs.values())
        weights = {label: math.exp(value - top) for label, value in logs.items()}
        total = sum(weights.values())
        scores = {label: weight / total for label, weight in weights.items()}
        # Ties go to the label that sorts first, so the answer never depends on dict order.
        best = min(self.labels, key=lambda label: (-scores[label], label))
        return Prediction(best, scores)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "labels": list(self.labels),
                "log_prior": self.log_prior,
                "log_likelihood": self.log_likelihood,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> NaiveBayes:
        doc = json.loads(text)
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} weights file (format: {doc.get('format')!r})")
        return cls(
            labels=tuple(doc["labels"]),
            log_prior={k: float(v) for k, v in doc["log_prior"].items()},
            log_likelihood={
                label: {w: float(v) for w, v in words.items()}
                for label, words in doc["log_likelihood"].items()
            },
        )


def train(examples: Iterable[tuple[str, str]]) -> NaiveBayes:
    """Fit on ``(text, label)`` pairs. Needs at least two labels."""
    counts: dict[str, Counter[str]] = {}
    documents: Counter[str] = Counter()
    for text, label in examples:
        documents[label] += 1
        counts.setdefault(label, Counter()).update(features(text))
    labels = tuple(sorted(documents))
    if len(labels) < 2:
        raise ValueError(f"need examples of at least two labels, got {list(labels)}")
    vocabulary = sorted(set().union(*counts.values()))
    total_documents = sum(documents.values())
    log_likelihood: dict[str, dict[str, float]] = {}
    for label in labels:
        denominator = sum(counts[label].values()) + len(vocabulary)
        log_likelihood[label] = {
            w: math.log((counts[label][w] + 1) / denominator) for w in vocabulary
        }
    return NaiveBayes(
        labels=labels,
        log_prior={label: math.log(documents[label] / total_documents) for label in labels},
        log_likelihood=log_likelihood,
    )


def accuracy(model: NaiveBayes, examples: Sequence[tuple[str, str]]) -> float:
    if not examples:
        raise ValueError("no examples to score")
    right = sum(model.predict(text).label == label for text, label in examples)
    return right / len(examples)
