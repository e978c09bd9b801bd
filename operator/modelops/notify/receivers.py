"""Who is told: webhook receivers of the operator (flags; URLs from files of a mounted Secret)
and of a ModelService (its ConfigMap's ``receivers.yaml``)."""

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

# The Event reasons that notify, and the name a receiver filters them by.
NOTIFIED = {
    "RolloutStarted": "Started",
    "StepAdvanced": "StepAdvanced",
    "Switched": "Switched",  # blue-green: all traffic moved at once
    "Paused": "Paused",
    "Promoted": "Promoted",
    "RolledBack": "RolledBack",
}
KINDS = frozenset(NOTIFIED.values())
# The key of a ModelService's ConfigMap that lists its receivers.
CONFIG_MAP_KEY = "receivers.yaml"
MAX_RECEIVERS = 16
# Where the chart mounts the Secret with the URLs of the operator's receivers (--notify).
DEFAULT_URL_DIR = "/etc/modelops/notify"


class Format(StrEnum):
    JSON = "json"
    SLACK = "slack"


class ReceiversError(ValueError):
    """A receivers list (a flag, a file, a ConfigMap) that cannot be used, and why."""


@dataclass(frozen=True)
class Receiver:
    """One webhook. Its URL is given (a ConfigMap's) or read from ``url_file`` at each
    delivery (the operator's, from a mounted Secret: a rotated URL needs no restart)."""

    name: str
    format: Format = Format.JSON
    events: frozenset[str] = KINDS
    url: str | None = None
    url_file: Path | None = None

    def wants(self, kind: str) -> bool:
        return kind in self.events

    def address(self) -> str:
        """The URL to post to (from its file, if it has one)."""
        url = self.url
        if self.url_file is not None:
            try:
                url = self.url_file.read_text().strip()
            except OSError as error:
                raise ReceiversError(f"{self.name}: cannot read {self.url_file}: {error}") from None
        return _checked_url(self.name, url)


def _checked_url(name: str, url: object) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        # Never the value itself: it may be a secret written in the wrong place.
        raise ReceiversError(f"{name}: the URL must start with http:// or https://")
    return url


def _events(name: str, listed: object) -> frozenset[str]:
    if listed is None:
        return KINDS
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise ReceiversError(f"{name}: events must be a list of {', '.join(sorted(KINDS))}")
    unknown = set(listed) - KINDS
    if unknown:
        raise ReceiversError(
            f"{name}: unknown events {sorted(unknown)} (known: {', '.join(sorted(KINDS))})"
        )
    return frozenset(listed)


def _format(name: str, value: object) -> Format:
    try:
        return Format(str(value or Format.JSON))
    except ValueError:
        raise ReceiversError(f"{name}: format must be json or slack") from None


def parse_flag(value: str, url_dir: Path) -> Receiver:
    """``--notify NAME[:FORMAT[:EVENT,EVENT...]]``; the URL is the file NAME in ``url_dir``
    (a key of the Secret mounted there)."""
    name, _, rest = value.partition(":")
    fmt, _, listed = rest.partition(":")
    if not name or "/" in name or name.startswith("."):
        raise ReceiversError(f"--notify {value!r}: NAME[:json|slack[:EVENT,...]] expected")
    events = _events(name, listed.split(",") if listed else None)
    return Receiver(name, _format(name, fmt), events, url_file=url_dir / name)


def parse_config_map(data: dict[str, str] | None, where: str) -> list[Receiver]:
    """The receivers a ModelService's ConfigMap lists under ``receivers.yaml``."""
    text = (data or {}).get(CONFIG_MAP_KEY)
    if text is None:
        raise ReceiversError(f"{where} has no key {CONFIG_MAP_KEY}")
    try:
        listed = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ReceiversError(f"{where}: {CONFIG_MAP_KEY} is not YAML: {error}") from None
    if not isinstance(listed, list) or len(listed) > MAX_RECEIVERS:
        raise ReceiversError(
            f"{where}: {CONFIG_MAP_KEY} must be a list of at most {MAX_RECEIVERS} receivers"
        )
    receivers = []
    for index, item in enumerate(listed):
        if not isinstance(item, dict):
            raise ReceiversError(f"{where}: receiver {index} is not a mapping")
        name = str(item.get("name") or f"receiver-{index}")
        unknown = set(item) - {"name", "url", "format", "events"}
        if unknown:
            raise ReceiversError(f"{where}: {name}: unknown fields {sorted(unknown)}")
        url = _checked_url(f"{where}: {name}", item.get("url"))
        fmt = _format(name, item.get("format"))
        receivers.append(Receiver(name, fmt, _events(name, item.get("events")), url=url))
    return receivers
