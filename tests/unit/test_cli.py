"""``modelops run``'s leader-election arguments: defaults, and a lease too short to work."""

import pytest

from modelops.cli import parser


def test_leader_election_defaults() -> None:
    args = parser().parse_args(["run", "--leader-elect"])
    assert args.leader_elect and not args.standalone
    assert (args.lease_name, args.lease_duration) == ("modelops", 15)


def test_a_lease_shorter_than_its_renewals_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # The client's leaderelection would sys.exit from inside kopf's start-up instead.
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--leader-elect", "--lease-duration", "2"])
    assert "at least 3 seconds" in capsys.readouterr().err
