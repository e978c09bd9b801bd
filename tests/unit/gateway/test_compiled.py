"""What the compiled gateway (setup.py, mypyc) needs of the sources, and that it is what runs.

mypyc's coroutines leave a handled exception set while they wait inside an ``except`` or
``finally`` block; a ``finally`` elsewhere on the same event loop then raised it again (a
forwarded request's fallback made the test gateway's shutdown fail). So no gateway module awaits
there.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[3] / "operator" / "modelops" / "gateway"


def awaits_in_handlers(source: str) -> list[tuple[int, str]]:
    """(line, "except" or "finally") of each await, async with or async for inside such a
    block of the same function."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, block: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            block = None  # a function defined there runs later, in its own frame
        if block is not None and isinstance(node, ast.Await | ast.AsyncWith | ast.AsyncFor):
            found.append((node.lineno, block))
        if isinstance(node, ast.Try | ast.TryStar):
            for child in [*node.body, *node.orelse]:
                visit(child, block)
            for handler in node.handlers:
                for child in handler.body:
                    visit(child, "except")
            for child in node.finalbody:
                visit(child, "finally")
            return
        for child in ast.iter_child_nodes(node):
            visit(child, block)

    visit(ast.parse(source), None)
    return found


def test_the_scan_finds_awaits_in_except_and_finally_blocks() -> None:
    source = (
        "async def f():\n"
        "    try:\n"
        "        await a()\n"
        "    except E:\n"
        "        await b()\n"
        "    finally:\n"
        "        async with c():\n"
        "            pass\n"
        "    try:\n"
        "        pass\n"
        "    except E:\n"
        "        async def later():\n"
        "            await d()\n"
    )
    assert awaits_in_handlers(source) == [(5, "except"), (7, "finally")]


def test_no_gateway_module_awaits_in_an_except_or_finally_block() -> None:
    found = [
        f"{path.name}:{line}: await in a {block} block"
        for path in sorted(GATEWAY.glob("*.py"))
        for line, block in awaits_in_handlers(path.read_text())
    ]
    assert found == []


def test_the_tests_run_the_compiled_gateway() -> None:
    """``make test`` puts hack/compile-gateway.sh's tree first on PYTHONPATH, so the gateway
    tests run the code the image ships. Run without it, this fails: say so, not skip."""
    tree = os.environ.get("MODELOPS_COMPILED_TREE")
    if not tree:
        pytest.fail("MODELOPS_COMPILED_TREE is unset: run the tests with `make test`")
    code = (
        "import modelops.gateway.limiter as l, modelops.gateway.server as s\n"
        "print(l.__file__, s.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    files = result.stdout.split()
    assert all(f.startswith(tree) and f.endswith(".so") for f in files), files
