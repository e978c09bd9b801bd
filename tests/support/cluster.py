"""Getting a real Kubernetes control plane for the cluster tests.

``KUBECONFIG`` set: that cluster is used (kind, or one a developer started). Otherwise the
local control plane (hack/cluster-up.sh) is started and stopped at the end, unless it was
already running. A cluster that cannot be had fails the tests with the reason: never a skip.
"""

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
HACK = REPO / "hack"


class ClusterUnavailableError(RuntimeError):
    pass


def versions() -> dict[str, str]:
    out = {}
    for line in (HACK / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def cache_bin_dir() -> Path:
    root = os.environ.get("MODELOPS_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "modelops"
    )
    return Path(root) / "k8s" / versions()["K8S_VERSION"] / "bin"


def kubectl_binary() -> str:
    """The kubectl built beside the control plane (a matching version), else the PATH one."""
    built = cache_bin_dir() / "kubectl"
    return str(built) if built.exists() else "kubectl"


@dataclass
class Cluster:
    kubeconfig: str
    started_here: bool

    def kubectl(
        self, *args: str, input_text: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        result = subprocess.run(
            [kubectl_binary(), *args],
            input=input_text,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def apply(
        self,
        manifest: dict[str, Any] | str,
        namespace: str | None = None,
        check: bool = True,
        *,
        server_side: bool = False,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        where = ["-n", namespace] if namespace else []
        side = ["--server-side"] if server_side else []
        return self.kubectl(
            "apply", *side, *where, "-f", "-", input_text=text, check=check, timeout=timeout
        )

    def get(self, *args: str) -> Any:
        return yaml.safe_load(self.kubectl("get", *args, "-o", "yaml").stdout)

    def ready(self) -> bool:
        return self.kubectl("get", "--raw=/readyz", check=False, timeout=10).returncode == 0


def _run_hack(script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(HACK / script)], capture_output=True, text=True, timeout=timeout, check=False
    )


def acquire() -> Cluster:
    env_kubeconfig = os.environ.get("KUBECONFIG")
    if env_kubeconfig:
        cluster = Cluster(env_kubeconfig, started_here=False)
        if not cluster.ready():
            raise ClusterUnavailableError(
                f"KUBECONFIG={env_kubeconfig} is set but its API server is not ready "
                "(unset KUBECONFIG to start the local control plane)"
            )
        return cluster
    local = REPO / ".cluster" / "kubeconfig"
    was_up = local.exists() and Cluster(str(local), False).ready()
    if not was_up:
        # A cold cache builds the binaries first (minutes); hack/ logs progress to stderr.
        result = _run_hack("cluster-up.sh", timeout=3600)
        if result.returncode != 0:
            raise ClusterUnavailableError(
                "hack/cluster-up.sh failed:\n" + (result.stdout + result.stderr)[-4000:]
            )
    return Cluster(str(local), started_here=not was_up)


def release(cluster: Cluster) -> None:
    if cluster.started_here and os.environ.get("MODELOPS_KEEP_CLUSTER") != "1":
        _run_hack("cluster-down.sh", timeout=120)


def wait_until(
    condition: Callable[[], Any], timeout: float, interval: float = 0.25, message: str = ""
) -> Any:
    """Poll until ``condition()`` is truthy; fail with ``message`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s: {message} (last: {last!r})")
