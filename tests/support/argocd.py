"""Running manifests/argocd's Lua (health.lua, the actions in actions.yaml) with a real Lua
interpreter (Debian's lua5.4, from `make test-deps`), the way Argo CD does: the object as the
global ``obj``; health returns ``{status=..., message=...}``, an action the changed object."""

import json
import shutil
import subprocess
import tempfile
from typing import Any

import pytest
import yaml

from tests.support.cluster import REPO

HEALTH = REPO / "manifests" / "argocd" / "health.lua"
ACTIONS = REPO / "manifests" / "argocd" / "actions.yaml"


def lua_literal(value: Any) -> str:
    """A Python value (from JSON or YAML) as a Lua table constructor."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes (\" \\ \n \t) are Lua's too
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    if isinstance(value, dict):
        fields = (f"[{json.dumps(str(k))}] = {lua_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(fields) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


def run_lua(obj: dict[str, Any], chunk: str, show: str) -> str:
    """Run the Lua source ``chunk`` with ``obj`` as the global ``obj``; ``show`` is Lua that
    writes what the chunk returned (``result``) to stdout, which is returned."""
    lua = shutil.which("lua5.4") or shutil.which("lua5.3")
    if lua is None:
        pytest.fail(
            "no Lua interpreter: run `make test-deps` (Debian package lua5.4)", pytrace=False
        )
    script = f"obj = {lua_literal(obj)}\nlocal result = load({json.dumps(chunk)})()\n{show}\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        result = subprocess.run(
            [lua, file.name], capture_output=True, text=True, timeout=10, check=False
        )
    assert result.returncode == 0, result.stderr
    return result.stdout


def health(obj: dict[str, Any]) -> tuple[str, str]:
    out = run_lua(obj, HEALTH.read_text(), r'io.write(result.status, "\n", result.message or "")')
    status, _, message = out.partition("\n")
    return status, message


def _actions() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ACTIONS.read_text())
    return loaded


def available_actions(obj: dict[str, Any]) -> set[str]:
    """The actions Argo CD would offer for ``obj`` (discovery.lua): those not disabled."""
    show = r'for name, a in pairs(result) do if not a.disabled then io.write(name, "\n") end end'
    return set(run_lua(obj, _actions()["discovery.lua"], show).split())


def run_action(obj: dict[str, Any], name: str) -> dict[str, str]:
    """The annotations of ``obj`` after the action ``name``."""
    (definition,) = [d for d in _actions()["definitions"] if d["name"] == name]
    # Unit and record separators: annotation values may hold newlines (last-applied JSON).
    show = (
        r"for k, v in pairs(result.metadata.annotations or {}) do "
        r'io.write(k, "\31", v, "\30") end'
    )
    out = run_lua(obj, definition["action.lua"], show)
    return dict(record.split("\x1f", 1) for record in out.split("\x1e") if record)
