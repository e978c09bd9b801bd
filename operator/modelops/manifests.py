"""Reading ModelService documents from YAML and writing manifests back as YAML."""

from collections.abc import Iterable
from typing import Any

import yaml
from pydantic import ValidationError

from modelops.api import KIND, ModelService, SpecError, format_validation_error


class _NoAliasDumper(yaml.SafeDumper):
    """Plain YAML for people and GitOps diffs: no &anchors even when a dict repeats."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_all(manifests: Iterable[dict[str, Any]]) -> str:
    return yaml.dump_all(
        list(manifests), Dumper=_NoAliasDumper, sort_keys=True, default_flow_style=False
    )


def parse_model_service(document: dict[str, Any]) -> ModelService:
    """A validated ModelService, or a ``SpecError`` naming each bad field."""
    if document.get("kind") != KIND:
        raise SpecError([f"kind: expected {KIND}, got {document.get('kind')!r}"])
    try:
        return ModelService.model_validate(document)
    except ValidationError as error:
        raise format_validation_error(error, root="") from error


def load_model_services(text: str) -> list[ModelService]:
    return [
        parse_model_service(document)
        for document in yaml.safe_load_all(text)
        if isinstance(document, dict) and document.get("kind") == KIND
    ]
