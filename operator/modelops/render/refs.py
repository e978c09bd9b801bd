"""How a child object is identified: API version, kind and name (namespace is the owner's)."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class ChildRef:
    api_version: str
    kind: str
    name: str


def ref_of(manifest: dict[str, Any]) -> ChildRef:
    return ChildRef(manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"])
