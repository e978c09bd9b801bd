"""Running the operator for cluster tests: the real ``modelops run`` as a subprocess."""

import functools
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import yaml

from tests.support.cluster import REPO, Cluster, wait_until
from tests.support.processes import free_port, http_ok

CRD_NAME = "modelservices.modelops.dev"


def install_crd(cluster: Cluster) -> None:
    install_crds(cluster, REPO / "crds")


def install_crds(cluster: Cluster, path: Path) -> None:
    """Server-side apply of the CRD files in directory ``path``, then wait for each to be
    Established."""
    names = [
        document["metadata"]["name"]
        for file in sorted(path.glob("*.yaml"))
        for document in yaml.safe_load_all(file.read_text())
        if document and document.get("kind") == "CustomResourceDefinition"
    ]
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
    # Polled: `kubectl wait --for=condition=...` fails at once on a CRD that has no
    # conditions yet, instead of waiting.
    jsonpath = '{.status.conditions[?(@.type=="Established")].status}'

    def established(name: str) -> bool:
        found = cluster.kubectl("get", f"crd/{name}", "-o", f"jsonpath={jsonpath}", check=False)
        return found.stdout.strip() == "True"

    for name in names:
        wait_until(functools.partial(established, name), 60, message=f"{name} Established")


class OperatorProcess:
    """``modelops run --standalone`` against the test cluster, its log in a temp file.

    ``kubeconfig``: another identity on the same cluster (the RBAC test's ServiceAccount token);
    ``standalone=False``: no ``--standalone``, for a run with ``--leader-elect``."""

    running: ClassVar[set["OperatorProcess"]] = set()  # started and not stopped, for paused()

    def __init__(
        self,
        cluster: Cluster,
        *extra: str,
        kubeconfig: str | None = None,
        standalone: bool = True,
    ) -> None:
        self._cluster = cluster
        self._extra = extra
        self._kubeconfig = kubeconfig or cluster.kubeconfig
        self._standalone = ["--standalone"] if standalone else []
        self._start()

    def _start(self) -> None:
        self.metrics_port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="modelops-operator-", suffix=".log")[1])
        env = {**os.environ, "KUBECONFIG": self._kubeconfig, "PYTHONUNBUFFERED": "1"}
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelops.cli",
                "run",
                *self._standalone,
                "--metrics-port",
                str(self.metrics_port),
                *self._extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        OperatorProcess.running.add(self)
        wait_until(self.healthy, 30, message=f"operator /healthz (log: {self.log_path})")

    def restart(self, kill: bool = True) -> None:
        """SIGKILL (or, with ``kill=False``, terminate) the operator and start it again with
        the same arguments and a fresh log; this object then stands for the new process."""
        if kill:
            self.process.kill()
            self.process.wait(timeout=10)
            self._log.close()
        else:
            self.stop()
        self._start()

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"operator exited:\n{self.log()[-3000:]}")
        return http_ok(f"http://127.0.0.1:{self.metrics_port}/healthz")

    def metrics(self) -> str:
        import urllib.request  # noqa: PLC0415

        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as response:
            return str(response.read().decode())

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        OperatorProcess.running.discard(self)
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self._log.close()

    def assert_no_tracebacks(self) -> None:
        text = self.log()
        assert "Traceback" not in text, text[-4000:]


@contextmanager
def paused() -> Iterator[None]:
    """Every operator this session runs (the session fixture's, say) stopped for the block and
    started again after it: for a test whose own operator must be the only one acting."""
    stopped = list(OperatorProcess.running)
    for running in stopped:
        running.stop()
    try:
        yield
    finally:
        for running in stopped:
            running._start()


def metric_total(text: str, name: str) -> float:
    """Sum of all samples of one metric in Prometheus text format."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head = line.split(" ")[0]
            if head == name or head.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
    return total
