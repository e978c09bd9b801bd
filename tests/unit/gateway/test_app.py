"""Command-line flags become the gateway's settings."""

from pathlib import Path

import pytest

from modelops.gateway.app import build_parser, config_from_args


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELOPS_TRACK", raising=False)
    config = config_from_args(build_parser().parse_args([]))
    assert (config.host, config.port) == ("0.0.0.0", 9000)
    assert config.upstream == "http://127.0.0.1:8080"
    assert config.track == "stable"
    assert config.policy_path is None
    assert config.max_connections == 256


def test_flags_and_track_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELOPS_TRACK", "canary")
    args = build_parser().parse_args(
        [
            "--listen",
            "127.0.0.1:9100",
            "--policy",
            "/etc/modelops/policy.yaml",
            "--fallback-upstream",
            "http://fallback:8080",
            "--upstream-timeout",
            "5",
            "--max-body-bytes",
            "1024",
            "--breaker-failures",
            "3",
            "--breaker-cooldown",
            "2.5",
            "--max-connections",
            "1000",
        ]
    )
    config = config_from_args(args)
    assert (config.host, config.port, config.track) == ("127.0.0.1", 9100, "canary")
    assert config.policy_path == Path("/etc/modelops/policy.yaml")
    assert config.fallback_upstream == "http://fallback:8080"
    assert (config.upstream_timeout, config.max_body_bytes) == (5.0, 1024)
    assert (config.breaker_failures, config.breaker_cooldown) == (3, 2.5)
    assert config.max_connections == 1000


@pytest.mark.parametrize(
    "argv", [["--listen", "nope"], ["--upstream-timeout", "0"], ["--track", "blue"]]
)
def test_bad_flags_exit(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
