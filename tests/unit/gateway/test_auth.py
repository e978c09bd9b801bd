"""API keys: the table from the Secret's keys.yaml, and who a request is."""

import hashlib

import pytest
import yaml

from modelops.gateway.auth import (
    KEY_ID_LENGTH,
    KeysError,
    Refusal,
    authenticate,
    key_digest,
    parse_keys,
)
from modelops.gateway.policy import Identity, parse_policy

POLICY = {
    "clientHeader": "X-API-Key",
    "tierHeader": "X-Tier",
    "tiers": [{"name": "free", "requestsPerMinute": 5}, {"name": "team", "requestsPerMinute": 600}],
    "defaultTier": "free",
}
KEYS = {
    "keys": [
        {"key": "sk-raw-team", "client": "search", "tier": "team"},
        {
            "sha256": hashlib.sha256(b"sk-hashed-free").hexdigest(),
            "client": "trial",
            "tier": "free",
        },
        {"key": "sk-no-tier", "client": "legacy"},
    ]
}


def _who(headers: dict[str, str], trusted: bool = False) -> tuple[Identity | Refusal, str | None]:
    policy = parse_policy(yaml.safe_dump({**POLICY, "tierHeaderTrusted": trusted}))
    return authenticate(policy, parse_keys(yaml.safe_dump(KEYS)), headers)


def test_raw_keys_are_held_by_digest_only() -> None:
    table = parse_keys(yaml.safe_dump(KEYS))
    assert key_digest("sk-raw-team") in table.by_digest
    assert "sk-raw-team" not in table.by_digest


@pytest.mark.parametrize(
    ("key", "client", "tier"),
    [
        ("sk-raw-team", "search", "team"),
        ("sk-hashed-free", "trial", "free"),
        ("sk-no-tier", "legacy", "free"),
    ],
)
def test_a_valid_key_gives_its_client_and_tier(key: str, client: str, tier: str) -> None:
    who, key_id = _who({"X-API-Key": key})
    assert isinstance(who, Identity)
    assert (who.client, who.tier) == (client, tier)
    # What logs carry: a prefix of the key's digest, never the key.
    assert key_id == key_digest(key)[:KEY_ID_LENGTH]
    assert key not in str(key_id)


def test_unknown_and_missing_keys_are_refused() -> None:
    unknown, key_id = _who({"X-API-Key": "sk-guessed"})
    assert isinstance(unknown, Refusal)
    assert unknown.kind == "invalid_api_key"
    assert key_id == key_digest("sk-guessed")[:KEY_ID_LENGTH]
    missing, _ = _who({})
    assert isinstance(missing, Refusal)
    assert missing.kind == "missing_api_key"
    assert "X-API-Key" in missing.message


def test_a_client_cannot_raise_its_tier_with_the_header() -> None:
    who, _ = _who({"X-API-Key": "sk-hashed-free", "X-Tier": "team"})
    assert isinstance(who, Identity)
    assert (who.tier, who.requests_per_minute) == ("free", 5)


def test_a_trusted_proxys_tier_header_is_honoured() -> None:
    who, _ = _who({"X-API-Key": "sk-hashed-free", "X-Tier": "team"}, trusted=True)
    assert isinstance(who, Identity)
    assert who.tier == "team"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("keys: nope", "list under keys"),
        ("- key: a", "list under keys"),
        ("keys: [{key: a}]", "client"),
        ("keys: [{client: c}]", "exactly one of key and sha256"),
        ("keys: [{key: a, sha256: " + "0" * 64 + ", client: c}]", "exactly one"),
        ("keys: [{sha256: abc, client: c}]", "64 hex digits"),
        ("keys: [{key: a, client: c, role: admin}]", "unknown fields"),
        ("keys: [{key: a, client: c}, {key: a, client: d}]", "repeats"),
        ("keys: [", "not YAML"),
    ],
)
def test_bad_key_files_are_refused(text: str, problem: str) -> None:
    with pytest.raises(KeysError, match=problem):
        parse_keys(text)


def test_a_digest_in_capitals_matches() -> None:
    digest = key_digest("sk-x").upper()
    table = parse_keys(yaml.safe_dump({"keys": [{"sha256": digest, "client": "c"}]}))
    assert table.lookup("sk-x")[1] is not None
