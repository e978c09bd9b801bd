"""``modelops status|promote|abort NAME`` (also ``kubectl modelops ...``): read a ModelService's
status for people, and ask the operator to promote or abort the canary that runs now.

The Kubernetes client is imported when one of these commands runs, not when the command line
is built: `modelops render` and `crd` never load it."""

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from modelops.api import KIND
from modelops.health.tracks import analysis_address, prometheus_asker, track_lines
from modelops.render.meta import ANNOTATION_ABORT, ANNOTATION_PAUSE, ANNOTATION_PROMOTE

if TYPE_CHECKING:
    from modelops.kube.client import Kube

WATCH_INTERVAL = 2.0
RESUMED = "none"


def _namespace(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    from kubernetes import config  # noqa: PLC0415

    try:
        _, current = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        return "default"
    return str(current.get("context", {}).get("namespace") or "default")


def _kube() -> "Kube":
    from modelops.kube.client import Kube  # noqa: PLC0415

    return Kube.from_environment()


def _fetch(kube: "Kube", namespace: str, name: str) -> dict[str, Any]:
    body = kube.get(KIND, namespace, name)
    if body is None:
        raise SystemExit(f"error: ModelService {namespace}/{name} not found")
    return body


def describe(body: dict[str, Any]) -> str:
    """A person's view of the status: where the rollout is, and why."""
    status = body.get("status") or {}
    meta = body["metadata"]
    lines = [
        f"ModelService {meta['namespace']}/{meta['name']}: {status.get('phase', 'Pending')}",
        f"  stable   {status.get('stableVersion', '-')}  ready {status.get('ready', '-')}",
    ]
    if status.get("canaryVersion"):
        lines.extend(_rollout_lines(body, status))
    if status.get("message"):
        lines.append(f"  message  {status['message']}")
    analysis = status.get("analysis") or {}
    for result in analysis.get("results") or []:
        verdict = {True: "ok", False: "FAILED", None: "inconclusive"}[result.get("ok")]
        stable = f" (stable {result['baseline']})" if "baseline" in result else ""
        lines.append(f"  metric   {result['name']}={result.get('value')}{stable} {verdict}")
    for gate in status.get("gates") or []:
        tries = f" (try {gate['attempt']})" if gate.get("attempt", 1) > 1 else ""
        lines.append(
            f"  gate     {gate['kind'].lower()} {gate['name']} ({gate['point']}): "
            f"{gate['phase']}{tries} {gate.get('message', '')}".rstrip()
        )
    for condition in status.get("conditions") or []:
        lines.append(
            f"  {condition['type']:<12} {condition['status']:<6} {condition.get('reason', '')}"
        )
    for entry in (status.get("history") or [])[-5:]:
        lines.append(f"  history  {entry['version']} {entry['result']}: {entry.get('reason', '')}")
    return "\n".join(lines)


def _rollout_lines(body: dict[str, Any], status: dict[str, Any]) -> list[str]:
    """Where the rollout is: a canary's step, or a blue-green rollout's phase."""
    weight = int(status.get("canaryWeight") or 0)
    phase = status.get("blueGreen")
    if phase:
        where = f"blue-green {phase}  preview {body['metadata']['name']}-preview"
        if status.get("switchedAt"):
            where += f"  switched at {status['switchedAt']}"
    else:
        step = (status.get("currentStep") or 0) + 1
        steps = len(((body.get("spec") or {}).get("rollout") or {}).get("steps") or [])
        where = f"step {step}/{steps}"
    return [
        f"  canary   {status['canaryVersion']}  weight {weight}%  {where}  "
        f"stage {status.get('stage', '-')}",
        f"  traffic  {progress_bar(weight)} {weight}% to canary",
    ]


def progress_bar(percent: int, width: int = 20) -> str:
    filled = round(width * max(0, min(100, percent)) / 100)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def status_command(args: argparse.Namespace) -> int:
    kube = _kube()
    namespace = _namespace(args)
    shown = None
    while True:
        body = _fetch(kube, namespace, args.name)
        text = json.dumps(body.get("status") or {}, indent=2) if args.json else describe(body)
        if args.tracks and not args.json:
            text += "\n" + "\n".join(_tracks(args, body, namespace))
        if text != shown:
            print(text + ("\n" if args.watch else ""), flush=True)
            shown = text
        phase = (body.get("status") or {}).get("phase")
        if not args.watch or phase not in {"Progressing", "Pending", None}:
            return 0
        time.sleep(WATCH_INTERVAL)


def _tracks(args: argparse.Namespace, body: dict[str, Any], namespace: str) -> list[str]:
    address = args.prometheus or analysis_address(body.get("spec") or {})
    if not address:
        return ["  per track: no Prometheus (--prometheus URL, or an analysis metric's address)"]
    return track_lines(prometheus_asker(address), namespace, args.name)


def _annotate(
    args: argparse.Namespace, annotation: str, verb: str, value: str | None = None
) -> int:
    kube = _kube()
    namespace = _namespace(args)
    body = _fetch(kube, namespace, args.name)
    revision = (body.get("status") or {}).get("canaryRevision")
    if not revision:
        print(f"error: {namespace}/{args.name} has no canary to {verb}")
        return 1
    annotations = {annotation: value if value is not None else revision}
    kube.patch_metadata(KIND, namespace, args.name, {"annotations": annotations})
    print(f"{verb} requested for canary {revision} of {namespace}/{args.name}")
    return 0


def promote_command(args: argparse.Namespace) -> int:
    return _annotate(args, ANNOTATION_PROMOTE, "promote")


def abort_command(args: argparse.Namespace) -> int:
    return _annotate(args, ANNOTATION_ABORT, "abort")


def pause_command(args: argparse.Namespace) -> int:
    return _annotate(args, ANNOTATION_PAUSE, "pause")


def resume_command(args: argparse.Namespace) -> int:
    return _annotate(args, ANNOTATION_PAUSE, "resume", RESUMED)


def add_commands(commands: Any) -> None:
    for name, handler, text in (
        ("status", status_command, "show a ModelService's rollout status"),
        ("promote", promote_command, "promote the running canary now, skipping remaining steps"),
        ("abort", abort_command, "roll the running canary back now"),
        ("rollback", abort_command, "same as abort"),
        ("pause", pause_command, "hold the running canary at its step"),
        ("resume", resume_command, "let a paused canary go on"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("name", help="ModelService name")
        command.add_argument("-n", "--namespace", help="namespace (the context's when unset)")
        if name == "status":
            command.add_argument("--json", action="store_true", help="the raw status as JSON")
            command.add_argument(
                "-w", "--watch", action="store_true", help="follow a rollout until it ends"
            )
            command.add_argument(
                "--tracks",
                action="store_true",
                help="per-track gateway metrics side by side (stable, canary), from Prometheus",
            )
            command.add_argument(
                "--prometheus",
                help="Prometheus URL for --tracks (default: the analysis metrics' address)",
            )
        command.set_defaults(handler=handler)
