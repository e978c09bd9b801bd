"""API keys: who a request is, from its key, checked against the table in the mounted Secret.

The table is held by digest only (sha256 of the key): a raw key in the Secret is hashed when
the file loads, and a Secret may hold digests alone, so a leaked Secret need not leak keys.
A request's key is hashed once and looked up; logs carry a short prefix of that digest
(``key_id``), never the key.

The tier comes from the key. A tier header reaches the policy only when the spec says a
trusted proxy sets it; otherwise the gateway ignores it and strips it before the model.
"""

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from modelops.gateway.policy import Identity, Policy

KEYS_FILE = "keys.yaml"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
KEY_ID_LENGTH = 12


class KeysError(ValueError):
    """The keys file is missing, not YAML, or not a list of valid entries."""


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyEntry:
    client: str
    tier: str | None


@dataclass(frozen=True)
class KeyTable:
    by_digest: Mapping[str, KeyEntry]

    def lookup(self, key: str) -> tuple[str, KeyEntry | None]:
        """The key's digest (what may be logged, shortened) and its entry, if it is valid."""
        digest = key_digest(key)
        return digest, self.by_digest.get(digest)


def _entry(raw: object, position: int) -> tuple[str, KeyEntry]:
    where = f"keys[{position}]"
    if not isinstance(raw, dict):
        raise KeysError(f"{where} must be a mapping")
    unknown = set(raw) - {"key", "sha256", "client", "tier"}
    if unknown:
        raise KeysError(f"{where} has unknown fields {sorted(unknown)}")
    client, tier = raw.get("client"), raw.get("tier")
    if not isinstance(client, str) or not client:
        raise KeysError(f"{where}.client must be a non-empty string")
    if tier is not None and not isinstance(tier, str):
        raise KeysError(f"{where}.tier must be a string")
    key, digest = raw.get("key"), raw.get("sha256")
    if (key is None) == (digest is None):
        raise KeysError(f"{where} needs exactly one of key and sha256")
    if key is not None:
        if not isinstance(key, str) or not key:
            raise KeysError(f"{where}.key must be a non-empty string")
        digest = key_digest(key)
    elif not isinstance(digest, str) or not SHA256_HEX.match(digest.lower()):
        raise KeysError(f"{where}.sha256 must be 64 hex digits")
    return digest.lower(), KeyEntry(client, tier)


def parse_keys(text: str) -> KeyTable:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise KeysError(f"keys file is not YAML: {err}") from err
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise KeysError("keys file must be a mapping with a list under keys")
    table: dict[str, KeyEntry] = {}
    for position, raw in enumerate(entries):
        digest, entry = _entry(raw, position)
        if digest in table:
            raise KeysError(f"keys[{position}] repeats a key listed before")
        table[digest] = entry
    return KeyTable(table)


def load_keys(path: Path) -> KeyTable:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise KeysError(f"cannot read keys {path}: {err}") from err
    return parse_keys(text)


@dataclass(frozen=True)
class Refusal:
    """Why a request gets 401: the error type and message of its body."""

    kind: str
    message: str
    key_id: str | None = None


def authenticate(
    policy: Policy, keys: KeyTable | None, headers: Mapping[str, str]
) -> tuple[Identity | Refusal, str | None]:
    """Who the request is (or why not), and the key's id for the log (None without keys)."""
    if keys is None:
        who = policy.identify(headers)
        if who is None:
            header = policy.spec.client_header
            return Refusal("missing_api_key", f"the {header} header is required"), None
        return who, None
    spec = policy.spec
    key = headers.get(spec.client_header)
    if not key:
        return Refusal("missing_api_key", f"the {spec.client_header} header is required"), None
    digest, entry = keys.lookup(key)
    key_id = digest[:KEY_ID_LENGTH]
    if entry is None:
        return Refusal("invalid_api_key", "the API key is not valid", key_id), key_id
    trusted = policy.trusted_tier_header
    proxied = headers.get(trusted) if trusted else None
    return policy.identify_as(entry.client, proxied or entry.tier), key_id
