"""``python -m demomodel.train DATA.csv WEIGHTS.json``: fit the classifier at image build time.

The CSV has a header ``label,text``. Every fifth row is held out; the held-out accuracy is
printed, and under ``--min-accuracy`` (default 0.8) the build fails rather than ship a model
that does not work. The weights are then fitted on every row.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from demomodel.textmodel import accuracy, train


def read_examples(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or set(rows[0]) != {"label", "text"}:
        raise ValueError(f"{path}: want a header 'label,text'")
    return [(row["text"], row["label"]) for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demomodel.train", description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("weights", type=Path)
    parser.add_argument("--min-accuracy", type=float, default=0.8)
    args = parser.parse_args(argv)
    examples = read_examples(args.data)
    held_out = examples[4::5]
    fitted = [e for i, e in enumerate(examples) if i % 5 != 4]
    score = accuracy(train(fitted), held_out)
    print(f"{len(examples)} examples; held-out accuracy {score:.3f} on {len(held_out)}")
    if score < args.min_accuracy:
        print(f"below --min-accuracy {args.min_accuracy}: not writing {args.weights}")
        return 1
    args.weights.write_text(train(examples).to_json())
    print(f"wrote {args.weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
