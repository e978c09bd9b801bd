"""A real Prometheus (Debian's package) on 127.0.0.1 for tests; missing, it fails loudly."""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import free_port, require_binary, stop, wait_http_ok


@contextmanager
def running_prometheus(
    config: dict[str, Any], workdir: Path, port: int | None = None, host: str = "127.0.0.1"
) -> Iterator[str]:
    """Prometheus with ``config``, its data under ``workdir``, listening on ``host`` (on
    ``port`` when given, else a free one); yields its base URL."""
    binary = require_binary("prometheus")
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = port or free_port(host)
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address={host}:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_http_ok(f"http://{host}:{port}/-/ready", process, "prometheus")
        yield f"http://{host}:{port}"
    finally:
        stop(process)
