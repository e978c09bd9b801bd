"""Running manifests/argocd/health.lua with a real Lua interpreter (Debian's lua5.4, from
`make test-deps`), the way Argo CD does: the object as the global ``obj``, the chunk returns
``{status=..., message=...}``."""

import json
import shutil
import subprocess
import tempfile
from typing import Any

import pytest

from tests.support.cluster import REPO

HEALTH = REPO / "manifests" / "argocd" / "health.lua"


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


def health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = shutil.which("lua5.4") or shutil.which("lua5.3")
    if lua is None:
        pytest.fail(
            "no Lua interpreter: run `make test-deps` (Debian package lua5.4)", pytrace=False
        )
    script = (
        f"obj = {lua_literal(obj)}\n"
        f"local hs = dofile({json.dumps(str(HEALTH))})\n"
        'io.write(hs.status, "\\n", hs.message or "")\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        result = subprocess.run(
            [lua, file.name], capture_output=True, text=True, timeout=10, check=False
        )
    assert result.returncode == 0, result.stderr
    status, _, message = result.stdout.partition("\n")
    return status, message
