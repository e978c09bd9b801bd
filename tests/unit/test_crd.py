"""The CRD in crds/ is generated from the pydantic models and must stay so."""

from pathlib import Path
from typing import Any

import yaml

from modelops.api.crd import crd
from modelops.manifests import dump_all

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "modelops.dev_modelservices.yaml"


def test_crds_dir_is_not_stale() -> None:
    assert CRD_FILE.read_text() == dump_all([crd()]), "crds/ is stale: run `make crd`"


def _walk(schema: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    out = [(path, schema)]
    for name, child in schema.get("properties", {}).items():
        out.extend(_walk(child, f"{path}.{name}"))
    if isinstance(schema.get("items"), dict):
        out.extend(_walk(schema["items"], f"{path}[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        out.extend(_walk(schema["additionalProperties"], f"{path}{{}}"))
    return out


def spec_schema() -> dict[str, Any]:
    return crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def test_every_spec_field_is_described_for_kubectl_explain() -> None:
    missing = [
        path
        for path, node in _walk(spec_schema(), "spec")
        if not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert missing == []


def test_schema_is_structural() -> None:
    """What the API server refuses in a structural schema never appears."""
    text = yaml.safe_dump(crd())
    for forbidden in (
        "$ref",
        "$defs",
        "title:",
        "const:",
        "type: 'null'",
        "additionalProperties: false",
    ):
        assert forbidden not in text, forbidden
    for path, node in _walk(spec_schema(), "spec"):
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        elif not node.get("x-kubernetes-preserve-unknown-fields"):
            assert "type" in node, path


def test_printer_columns_and_names() -> None:
    spec = crd()["spec"]
    columns = [c["name"] for c in spec["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Model", "Stable", "Canary", "Weight", "Ready", "Phase", "Age"]
    assert spec["names"]["shortNames"] == ["msvc"]
    assert spec["names"]["categories"] == ["modelops"]
    assert spec["versions"][0]["subresources"] == {"status": {}}
