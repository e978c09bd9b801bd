"""Generate the ModelService CRD from the pydantic models.

pydantic emits JSON Schema; a CRD needs a *structural* OpenAPI v3 schema. The differences
handled here: ``$ref`` inlined, ``Optional[X]`` (anyOf with null) becomes plain ``X`` (absent,
not null), ``const`` becomes a one-value ``enum``, ``additionalProperties: false`` dropped (the
API server prunes unknown fields instead), ``title`` dropped, int-or-string kept as the one
``anyOf`` shape the API server accepts.
"""

from typing import Any

from modelops.api.spec import (
    CATEGORIES,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    ModelServiceSpec,
)
from modelops.api.status import ModelServiceStatus

PRINTER_COLUMNS = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.name"},
    {"name": "Stable", "type": "string", "jsonPath": ".status.stableVersion"},
    {"name": "Canary", "type": "string", "jsonPath": ".status.canaryVersion"},
    {"name": "Weight", "type": "integer", "jsonPath": ".status.canaryWeight"},
    {"name": "Ready", "type": "string", "jsonPath": ".status.ready"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

_DROPPED_KEYS = {"title", "$defs", "discriminator"}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        extra = {k: _inline(v, defs) for k, v in node.items() if k != "$ref"}
        return {**target, **extra}
    return {k: _inline(v, defs) for k, v in node.items()}


def _is_null(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") == "null"


def _structural(node: Any) -> Any:
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    any_of = node.get("anyOf")
    if any_of is not None and any(_is_null(option) for option in any_of):
        options = [option for option in any_of if not _is_null(option)]
        node.pop("anyOf")
        if node.get("default", ...) is None:
            node.pop("default")
        if len(options) == 1:
            node = {**options[0], **node}
        else:
            node["anyOf"] = options
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("additionalProperties") in (False, True):
        node.pop("additionalProperties")
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    for key in _DROPPED_KEYS:
        node.pop(key, None)
    return {key: _structural(value) for key, value in node.items()}


def _with_type(node: Any) -> Any:
    """Every object in a structural schema has a type; pydantic leaves it out for models
    that only hold properties via ``$ref``."""
    if isinstance(node, list):
        return [_with_type(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _with_type(value) for key, value in node.items()}
    if "properties" in node and "type" not in node:
        node["type"] = "object"
    return node


def openapi_schema(model: type[Any]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of one pydantic model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    return dict(_with_type(_structural(_inline(raw, defs))))


def crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition object."""
    spec_schema = openapi_schema(ModelServiceSpec)
    status_schema = openapi_schema(ModelServiceStatus)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (
                                "A model served in production: Deployments per version, a "
                                "Service, an HPA, a PDB, rate limits and canary rollouts with "
                                "automatic rollback."
                            ),
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }
