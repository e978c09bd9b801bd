"""The modelops command line (also installed as kubectl-modelops, so `kubectl modelops ...`
works).

`render` and `crd` work offline: they never load kopf or the Kubernetes client (the other
commands import them when they run)."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from modelops.api import SpecError
from modelops.api.crd import crd
from modelops.commands import add_commands
from modelops.evaluate import add_evaluate
from modelops.manifests import dump_all, load_model_services
from modelops.notify.receivers import DEFAULT_URL_DIR, ReceiversError, parse_flag
from modelops.render import RenderContext, desired_children
from modelops.render.context import DEFAULT_GATEWAY_IMAGE


def _crd(_: argparse.Namespace) -> int:
    sys.stdout.write(dump_all([crd()]))
    return 0


def _render(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    try:
        services = load_model_services(text)
    except SpecError as error:
        for message in error.messages:
            print(f"error: {message}", file=sys.stderr)
        return 1
    except yaml.YAMLError as error:
        print(f"error: not valid YAML: {error}", file=sys.stderr)
        return 1
    if not services:
        print("error: no ModelService in the input", file=sys.stderr)
        return 1
    manifests = []
    for service in services:
        manifests.extend(desired_children(RenderContext.steady(service, args.gateway_image)))
    sys.stdout.write(dump_all(manifests))
    return 0


def _run(args: argparse.Namespace) -> int:
    # Imported here so `modelops render` and `crd` never load kopf or the Kubernetes client.
    from modelops.controller.config import OperatorConfig  # noqa: PLC0415
    from modelops.controller.process import run_operator  # noqa: PLC0415
    from modelops.kube.leader import own_namespace  # noqa: PLC0415

    return run_operator(OperatorConfig.from_args(args, own_namespace()))


def _gateway(args: argparse.Namespace) -> int:
    from modelops.gateway import main as gateway_main  # noqa: PLC0415

    code: int = gateway_main(args.gateway_args)
    return code


def _fetch(args: argparse.Namespace) -> int:
    from modelops.fetch import main as fetch_main  # noqa: PLC0415

    code: int = fetch_main(args.fetch_args)
    return code


def _lease_seconds(text: str) -> int:
    """--lease-duration: whole seconds, at least 3 (the renew deadline and retries fit inside)."""
    seconds = int(text)
    if seconds < 3:
        raise argparse.ArgumentTypeError(f"{seconds}: at least 3 seconds")
    return seconds


DESCRIPTION = (
    "Run and drive the modelops Kubernetes operator: canary rollouts, health analysis, "
    "automatic rollback and rate limits for model services. Also a kubectl plugin: "
    "`kubectl modelops status NAME`."
)


def _notify_flag(text: str) -> str:
    try:
        parse_flag(text, Path(DEFAULT_URL_DIR))
    except ReceiversError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="modelops", description=DESCRIPTION)
    commands = top.add_subparsers(dest="command", required=True)

    commands.add_parser("crd", help="print the ModelService CRD").set_defaults(handler=_crd)

    render = commands.add_parser(
        "render", help="print the manifests a ModelService becomes (offline, for GitOps diffs)"
    )
    render.add_argument("-f", "--file", required=True, help="ModelService YAML file, or -")
    render.add_argument(
        "--gateway-image", default=DEFAULT_GATEWAY_IMAGE, help="image of the gateway sidecar"
    )
    render.set_defaults(handler=_render)

    run = commands.add_parser("run", help="run the operator")
    run.add_argument("-n", "--namespace", action="append", default=[], help="watch only these")
    run.add_argument(
        "--standalone",
        action="store_true",
        help="one replica, no leader election (the default without --leader-elect)",
    )
    run.add_argument(
        "--leader-elect",
        action="store_true",
        help="HA: replicas elect a leader through a coordination.k8s.io Lease; only it acts",
    )
    run.add_argument("--lease-name", default="modelops", help="the Lease (with --leader-elect)")
    run.add_argument(
        "--lease-namespace",
        default=None,
        help="the Lease's namespace (default: the pod's own, else modelops-system)",
    )
    run.add_argument(
        "--lease-duration",
        type=_lease_seconds,
        default=15,
        help="seconds a follower waits for a leader that stopped renewing (killed, cut off) "
        "before it takes over; a graceful stop hands the Lease over at once",
    )
    run.add_argument("--metrics-port", type=int, default=8080, help="/metrics and /healthz")
    run.add_argument("--log-format", choices=["plain", "json"], default="plain")
    run.add_argument("--verbose", action="store_true")
    run.add_argument(
        "--max-concurrent-rollouts",
        type=int,
        default=0,
        help="canaries progressing at once; the rest wait and say so (0: no cap)",
    )
    run.add_argument(
        "--gateway-image",
        default=DEFAULT_GATEWAY_IMAGE,
        help="image of the rate-limit gateway sidecar (the operator's own image)",
    )
    run.add_argument(
        "--notify",
        action="append",
        default=[],
        type=_notify_flag,
        metavar="NAME[:json|slack[:EVENT,...]]",
        help="post rollout notifications (Started, StepAdvanced, Paused, Promoted, RolledBack; "
        "all by default) to the URL in the file NAME of --notify-url-dir",
    )
    run.add_argument(
        "--notify-url-dir",
        default=DEFAULT_URL_DIR,
        help="the directory of the receivers' URL files: a mounted Secret, one key per receiver",
    )
    run.set_defaults(handler=_run)

    add_commands(commands)
    add_evaluate(commands)

    # Listed here for `modelops --help`; main() hands every argument after `gateway` (--help
    # included) to the gateway's own parser, which argparse.REMAINDER would not.
    gateway = commands.add_parser(
        "gateway", help="run the rate-limit gateway sidecar (see `modelops gateway --help`)"
    )
    gateway.set_defaults(handler=_gateway, gateway_args=[])
    fetch = commands.add_parser(
        "fetch", help="fetch a model's files: the init container (see `modelops fetch --help`)"
    )
    fetch.set_defaults(handler=_fetch, fetch_args=[])
    return top


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["gateway"]:
        return _gateway(argparse.Namespace(gateway_args=arguments[1:]))
    if arguments[:1] == ["fetch"]:
        return _fetch(argparse.Namespace(fetch_args=arguments[1:]))
    args = parser().parse_args(arguments)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
