"""The ``modelops`` command (also installed as ``kubectl-modelops``)."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from modelops.api import SpecError
from modelops.api.crd import crd
from modelops.commands import add_commands
from modelops.manifests import dump_all, load_model_services
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
    from modelops.operator import run_operator  # noqa: PLC0415

    return run_operator(args)


def _gateway(args: argparse.Namespace) -> int:
    from modelops.gateway import main as gateway_main  # noqa: PLC0415

    code: int = gateway_main(args.gateway_args)
    return code


def _lease_seconds(text: str) -> int:
    """--lease-duration: whole seconds, at least 3 (the renew deadline and retries fit inside)."""
    seconds = int(text)
    if seconds < 3:
        raise argparse.ArgumentTypeError(f"{seconds}: at least 3 seconds")
    return seconds


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="modelops", description=__doc__)
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
    run.set_defaults(handler=_run)

    add_commands(commands)

    gateway = commands.add_parser("gateway", help="run the rate-limit gateway", add_help=False)
    gateway.add_argument("gateway_args", nargs=argparse.REMAINDER)
    gateway.set_defaults(handler=_gateway)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["gateway"]:
        # argparse's REMAINDER does not take flags that come first: `modelops gateway --listen
        # ...` (the sidecar's command) would be refused as unrecognized arguments.
        from modelops.gateway import main as gateway_main  # noqa: PLC0415

        return gateway_main(arguments[1:])
    args = parser().parse_args(arguments)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
