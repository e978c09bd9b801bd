"""The pure parts of the gateway load no HTTP, Redis or Kubernetes library.

The operator imports ``modelops.gateway.policy`` to write the ConfigMap; it must not drag in
aiohttp and redis, and the limiter must stay testable without them.
"""

import subprocess
import sys

PURE = [
    "modelops.gateway.limiter",
    "modelops.gateway.breaker",
    "modelops.gateway.policy",
    "modelops.gateway.usage",
    "modelops.gateway.redis_script",
    "modelops.gateway.batching",
    "modelops.gateway",
]
FORBIDDEN = ["aiohttp", "redis", "kubernetes", "kopf", "prometheus_client"]


def test_pure_modules_import_no_io_library() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in PURE)
        + f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_gateway_process_loads_no_aiohttp() -> None:
    """Its HTTP server and client are its own (issue 19): aiohttp would only add start-up
    time and memory to every model pod."""
    code = "import sys\nimport modelops.gateway.app\nprint('aiohttp' in sys.modules)\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
