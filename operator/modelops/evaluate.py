"""``modelops evaluate``: a golden-prompt evaluation of a model, for a rollout's Job gate.

Sends each golden prompt to the model's OpenAI-style ``/v1/chat/completions`` (by default
the canary: ``$CANARY_URL``, which a Job gate is given) and checks that the answer holds the
expected text. Prints one line per case and exits 1 when fewer pass than ``--min-pass``
asks: the Job fails, and the gate quotes the tail of this output in the rollout's status.

Cases: a JSON list of ``{"prompt": "...", "expect": "..."}``, inline or in a file (a
ConfigMap mounted as one).
Stdlib ``urllib`` only: it runs in the operator's image, which carries nothing more.
"""

import argparse
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

# No proxy from the environment: the model is reached inside the cluster.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Case:
    prompt: str
    expect: str


def load_cases(text: str) -> list[Case]:
    doc = json.loads(text)
    if not isinstance(doc, list) or not doc:
        raise ValueError("the cases must be a non-empty JSON list")
    return [Case(str(item["prompt"]), str(item["expect"])) for item in doc]


def ask(url: str, prompt: str, headers: dict[str, str], timeout: float) -> str:
    """The model's answer to one prompt; an exception says why there is none."""
    body = json.dumps({"messages": [{"role": "user", "content": prompt}]}).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the gate's own configuration
        url.rstrip("/") + "/v1/chat/completions",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    with _OPENER.open(request, timeout=timeout) as response:
        answer: Any = json.loads(response.read())
    return str(answer["choices"][0]["message"]["content"])


def judge(url: str, case: Case, headers: dict[str, str], timeout: float) -> tuple[bool, str]:
    try:
        answer = ask(url, case.prompt, headers, timeout)
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}: {error.read(200).decode('utf-8', 'replace')}"
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        return False, f"no answer: {type(error).__name__}: {error}"
    if case.expect.lower() in answer.lower():
        return True, answer
    return False, f"expected {case.expect!r}, got {answer!r}"


def evaluate_command(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get("CANARY_URL")
    if not url:
        raise SystemExit("error: --url or CANARY_URL is needed")
    text = args.cases
    if not text.lstrip().startswith("["):
        with open(text, encoding="utf-8") as cases_file:
            text = cases_file.read()
    cases = load_cases(text)
    headers = dict(header.split("=", 1) for header in args.header)
    passed = 0
    for number, case in enumerate(cases, 1):
        ok, detail = judge(url, case, headers, args.timeout)
        passed += ok
        print(f"{'PASS' if ok else 'FAIL'} {number}/{len(cases)} {case.prompt[:60]!r}: {detail}")
    share = passed / len(cases)
    verdict = "passed" if share >= args.min_pass else "failed"
    print(f"{verdict}: {passed}/{len(cases)} cases (at least {args.min_pass:.0%} needed)")
    return 0 if verdict == "passed" else 1


def add_evaluate(commands: Any) -> None:
    command = commands.add_parser(
        "evaluate", help="golden-prompt evaluation of a model (a rollout's Job gate)"
    )
    command.add_argument(
        "--cases", required=True, help='JSON list of {"prompt", "expect"}, or a file holding it'
    )
    command.add_argument("--url", help="the model's base URL (default: $CANARY_URL)")
    command.add_argument(
        "--header", action="append", default=[], help="NAME=VALUE sent with every prompt"
    )
    command.add_argument("--timeout", type=float, default=10.0, help="seconds per prompt")
    command.add_argument(
        "--min-pass", type=float, default=1.0, help="share of cases that must pass (0..1)"
    )
    command.set_defaults(handler=evaluate_command)
