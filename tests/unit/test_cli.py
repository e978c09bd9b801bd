"""The command line: ``modelops run``'s leader-election arguments, help texts, and the offline
commands that must not load the Kubernetes client."""

import subprocess
import sys
from pathlib import Path

import pytest

from modelops.cli import main, parser
from modelops.controller.config import OperatorConfig

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def test_leader_election_defaults() -> None:
    args = parser().parse_args(["run", "--leader-elect"])
    assert args.leader_elect and not args.standalone
    assert (args.lease_name, args.lease_duration) == ("modelops", 15)


def test_a_lease_shorter_than_its_renewals_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # The client's leaderelection would sys.exit from inside kopf's start-up instead.
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--leader-elect", "--lease-duration", "2"])
    assert "at least 3 seconds" in capsys.readouterr().err


def test_the_gateway_gets_its_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sidecar runs `modelops gateway --listen ...`: the flags reach the gateway's parser."""
    seen: list[list[str]] = []

    def gateway_main(argv: list[str]) -> int:
        seen.append(argv)
        return 0

    monkeypatch.setattr("modelops.gateway.main", gateway_main)
    flags = ["--listen", "0.0.0.0:9000", "--upstream", "http://127.0.0.1:8080", "--track", "canary"]
    assert main(["gateway", *flags]) == 0
    assert seen == [flags]


def test_gateway_help_is_the_gateways_own(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["gateway", "--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: modelops gateway")
    assert "--listen" in out


def test_top_level_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert "gateway" in out
    assert "render" in out
    assert "``" not in out


OFFLINE = """
import io, sys, contextlib
from modelops.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main(sys.argv[1:]) == 0
loaded = sorted({name.split(".")[0] for name in sys.modules} & {"kubernetes", "kopf", "aiohttp"})
print(",".join(loaded))
"""


@pytest.mark.parametrize(
    "command", [["crd"], ["render", "-f", str(SAMPLES / "sentiment.yaml")]], ids=["crd", "render"]
)
def test_offline_commands_never_load_the_kubernetes_client(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE, *command],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == ""


def test_run_arguments_become_one_operator_config() -> None:
    args = parser().parse_args(
        [
            *("run", "-n", "ml", "-n", "nlp", "--leader-elect", "--gateway-image", "img:1"),
            *("--max-concurrent-rollouts", "3", "--lease-duration", "20"),
        ]
    )
    config = OperatorConfig.from_args(args, own_namespace="ops")
    assert config.namespaces == ("ml", "nlp")
    assert config.namespaced
    assert config.sidecar_image == "img:1"
    assert config.max_concurrent_rollouts == 3
    assert (config.leader_elect, config.lease_namespace, config.lease_seconds) == (True, "ops", 20)
    standalone = OperatorConfig.from_args(
        parser().parse_args(["run", "--standalone", "--leader-elect"]), own_namespace="ops"
    )
    assert not standalone.leader_elect
    assert not standalone.namespaced
