"""What a fetch ends with: a result the operator reads from the init container's termination
message (one line of JSON), or a ``FetchError`` whose reason is that message instead."""

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

# The kubelet keeps at most 4096 bytes of a termination message.
MESSAGE_LIMIT = 4096


class Origin(StrEnum):
    DOWNLOADED = "downloaded"
    CACHE = "cache"


class FetchError(Exception):
    """A fetch that cannot succeed; the message is the reason a user sees in the status,
    e.g. "s3: access denied for bucket models". It never holds a credential."""


@dataclass(frozen=True)
class FetchResult:
    origin: Origin
    seconds: float
    bytes: int
    files: int

    def to_message(self) -> str:
        fields = asdict(self)
        fields["seconds"] = round(self.seconds, 3)
        return json.dumps(fields, sort_keys=True)


def write_termination_message(path: Path | None, text: str) -> None:
    """Best effort: outside a pod there is no termination log, and a fetch that worked must
    not fail for want of one."""
    if path is None:
        return
    try:
        path.write_text(text.encode()[:MESSAGE_LIMIT].decode(errors="ignore"), encoding="utf-8")
    except OSError:
        return
