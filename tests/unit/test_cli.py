"""``modelops run``'s leader-election arguments: defaults, and a lease too short to work."""

import pytest

from modelops.cli import main, parser


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


def test_gateway_help_is_the_gateways(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["gateway", "--help"])
    assert exited.value.code == 0
    assert "--upstream" in capsys.readouterr().out
