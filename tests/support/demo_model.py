"""The reference model server (examples/demo-model) as a process on loopback."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port, stop, wait_http_ok

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-model"


def trained_weights(workdir: Path) -> Path:
    """The demo model's weights, trained once into ``workdir``."""
    weights = workdir / "model.json"
    if not weights.exists():
        subprocess.run(
            [sys.executable, "-m", "demomodel.train", "data/sentiment.csv", str(weights)],
            check=True,
            cwd=DEMO,
            capture_output=True,
        )
    return weights


@contextmanager
def running_demo_model(workdir: Path, version: str, **env: str) -> Iterator[str]:
    """``python -m demomodel`` on a free port with ``env`` (ERROR_RATE, LATENCY_MS...);
    yields its base URL."""
    port = free_port()
    variables = {
        **os.environ,
        "PYTHONPATH": str(DEMO),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MODEL_PATH": str(trained_weights(workdir)),
        "MODEL_VERSION": version,
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "demomodel"],
        cwd=DEMO,
        env=variables,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(url + "/ready", process, "demo model server")
        yield url
    finally:
        stop(process)
