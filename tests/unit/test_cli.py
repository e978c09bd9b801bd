"""``modelops run``'s leader-election arguments: defaults, and a lease too short to work;
``modelops gateway``'s flags reach the gateway."""

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


def test_gateway_takes_its_own_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """The sidecar's command is `modelops gateway --listen ...`: the flags reach the gateway's
    parser (here it refuses a bad one), not the top-level one."""
    with pytest.raises(SystemExit) as exited:
        main(["gateway", "--listen", "nowhere"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: modelops gateway"), err
    assert "expected HOST:PORT" in err
