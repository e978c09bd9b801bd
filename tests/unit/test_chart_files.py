"""The Helm chart's copies (`make chart-crds`) match their sources, and values.schema.json
types, describes and defaults every value, refuses unknown keys, and agrees with values.yaml."""

import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelops"
COPIES = {
    CHART / "crds" / "modelops.dev_modelservices.yaml": REPO
    / "crds"
    / "modelops.dev_modelservices.yaml",
    CHART / "files" / "prometheusrule.yaml": REPO
    / "manifests"
    / "monitoring"
    / "prometheusrule.yaml",
}


def test_copies_are_fresh() -> None:
    for copy, source in COPIES.items():
        assert copy.exists() and copy.read_bytes() == source.read_bytes(), (
            f"{copy.relative_to(REPO)} is stale: run `make chart-crds`"
        )
    assert {p.name for p in (CHART / "crds").iterdir()} == {
        p.name for p in COPIES if p.parent.name == "crds"
    }


def walk(schema: dict[str, Any], path: str) -> list[str]:
    problems = []
    for key in ("type", "description", "default"):
        if key not in schema and path:
            problems.append(f"{path}: no {key}")
    if schema.get("type") == "object" and "properties" in schema:
        if schema.get("additionalProperties") is not False:
            problems.append(f"{path or 'values'}: unknown keys are not refused")
        for name, child in schema["properties"].items():
            problems.extend(walk(child, f"{path}.{name}" if path else name))
    return problems


def test_schema_covers_every_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert walk(schema, "") == []
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def compare(schema_node: dict[str, Any], value: Any, path: str) -> None:
        if "properties" in schema_node:
            assert set(value) == set(schema_node["properties"]), path
            for name, child in schema_node["properties"].items():
                compare(child, value[name], f"{path}.{name}")
        assert schema_node.get("default", value) == value, f"{path}: default != values.yaml"

    compare(schema, values, "values")
