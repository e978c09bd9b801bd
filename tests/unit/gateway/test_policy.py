"""Policy file loading and tier resolution."""

from pathlib import Path

import pytest
import yaml

from modelops.api.spec import RateLimit
from modelops.gateway.policy import (
    ANONYMOUS,
    NO_TIER,
    PolicyError,
    limit_name,
    load_policy,
    parse_policy,
)
from modelops.gateway.watcher import PolicyWatcher
from modelops.render.ratelimit import dump_policy

SPEC = RateLimit.model_validate(
    {
        "clientHeader": "X-API-Key",
        "tierHeader": "X-Tier",
        "requestsPerMinute": 100,
        "tokensPerMinute": 1000,
        "globalRequestsPerMinute": 500,
        "tiers": [
            {"name": "free", "requestsPerMinute": 10, "tokensPerMinute": 50},
            {"name": "pro", "requestsPerMinute": 60},
        ],
        "clients": [{"id": "alice", "tier": "pro"}, {"id": "stale", "tier": "gone"}],
        "window": "30s",
    }
)


def policy_text(spec: RateLimit = SPEC) -> str:
    # Exactly what the operator writes into the ConfigMap.
    return dump_policy(spec)


def test_operator_output_round_trips() -> None:
    policy = parse_policy(policy_text())
    assert policy.spec == SPEC
    assert policy.window == 30.0


@pytest.mark.parametrize(
    ("headers", "client", "tier", "rpm"),
    [
        ({"X-API-Key": "bob"}, "bob", NO_TIER, 100),
        ({"X-API-Key": "alice"}, "alice", "pro", 60),
        # Not said to come from a trusted proxy: a client's own tier header is ignored.
        ({"X-API-Key": "alice", "X-Tier": "free"}, "alice", "pro", 60),
        ({"X-API-Key": "bob", "X-Tier": "pro"}, "bob", NO_TIER, 100),
        ({"X-API-Key": "bob", "X-Tier": "nonexistent"}, "bob", NO_TIER, 100),
        ({"X-API-Key": "stale"}, "stale", NO_TIER, 100),  # mapping to an undefined tier
    ],
)
def test_tier_resolution(headers: dict[str, str], client: str, tier: str, rpm: int) -> None:
    who = parse_policy(policy_text()).identify(headers)
    assert who is not None
    assert (who.client, who.tier, who.requests_per_minute) == (client, tier, rpm)


def test_a_trusted_proxys_tier_header_wins() -> None:
    policy = parse_policy(policy_text(SPEC.model_copy(update={"tier_header_trusted": True})))
    assert policy.trusted_tier_header == "X-Tier"
    who = policy.identify({"X-API-Key": "alice", "X-Tier": "free"})
    assert who is not None
    assert (who.tier, who.requests_per_minute) == ("free", 10)
    assert parse_policy(policy_text()).trusted_tier_header is None


def test_default_tier_applies_to_unlisted_clients() -> None:
    spec = SPEC.model_copy(update={"default_tier": "free"})
    who = parse_policy(policy_text(spec)).identify({"X-API-Key": "carol"})
    assert who is not None
    assert (who.tier, who.tokens_per_minute) == ("free", 50)


def test_missing_key_rejected_or_anonymous() -> None:
    assert parse_policy(policy_text()).identify({}) is None
    anon = parse_policy(yaml.safe_dump({"missingKey": "Anonymous"})).identify({})
    assert anon is not None
    assert anon.client == ANONYMOUS


def test_demands_scale_limits_to_the_window_and_hide_the_key() -> None:
    policy = parse_policy(policy_text())
    who = policy.identify({"X-API-Key": "secret-key-123"})
    assert who is not None
    demands = policy.admission(who)
    # 100/min and 500/min over 30 s; token budget checked (need 1, charge 0).
    assert [(limit_name(d.key), d.limit, d.charge) for d in demands] == [
        ("requests", 50, 1),
        ("global_requests", 250, 1),
        ("tokens", 500, 0),
    ]
    assert all("secret-key-123" not in d.key for d in demands)


@pytest.mark.parametrize(
    "text", ["[1, 2]", "requestsPerMinute: -1", "bogusField: 1", "window: 10", "tiers: ["]
)
def test_bad_policies_are_refused_with_a_message(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_policy(text)


def test_watcher_reloads_on_change_and_keeps_old_policy_on_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("requestsPerMinute: 5\n")
    results: list[str] = []
    watcher = PolicyWatcher(path, results.append)
    assert watcher.current.spec.requests_per_minute == 5
    assert not watcher.check()
    path.write_text("requestsPerMinute: 7000\n")
    assert watcher.check()
    assert watcher.current.spec.requests_per_minute == 7000
    path.write_text("requestsPerMinute: nope\n")
    assert not watcher.check()
    assert watcher.current.spec.requests_per_minute == 7000
    assert results == ["loaded", "reloaded", "failed"]


def test_missing_policy_file_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")
