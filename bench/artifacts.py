"""Model downloads in one run: ``modelops fetch`` of a 1 GiB file over HTTPS against ``curl``
of the same file from the same server (the floor), and a replica's fetch step with a cold
cache (it downloads) against a warm one (it finds the model).

The server is Debian's nginx with TLS (a certificate made for the run) on loopback. Each
figure is the wall time of the whole process, as
the init container would spend it (Python's start-up included for ``modelops fetch``); the
median of ``--runs`` runs, printed with its ratio to the baseline measured here.

  make bench-deps                                   # nginx, when missing
  PYTHONPATH=. .venv/bin/python bench/artifacts.py [--runs 3] [--size-mib 1024]
"""

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.gateway import nginx_argv
from tests.support.processes import free_port, stop
from tests.support.stores import make_certificate

# One TLS server with sendfile, in the gateway benchmark's nginx frame.
NGINX_FILES = """
  sendfile on;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    root {root};
  }}
"""


def make_model(path: Path, mib: int) -> str:
    """A ``mib`` MiB file of random blocks; returns its SHA-256."""
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for index in range(mib):
            chunk = index.to_bytes(8, "big") + block[8:]
            out.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - fixed programs, generated arguments
        argv, env=env, capture_output=True, check=False, timeout=900
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{argv[:4]} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
    return elapsed


def median_of(
    runs: int, prepare: Callable[[], None], argv: list[str], env: dict[str, str]
) -> float:
    times = []
    for _ in range(runs):
        prepare()
        times.append(timed(argv, env))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    if shutil.which("nginx") is None or shutil.which("curl") is None:
        sys.exit("nginx and curl are needed: make bench-deps (and apt-get install curl)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-artifacts-"))
    try:
        run(tmp, args.runs, args.size_mib)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp: Path, runs: int, mib: int) -> None:
    root = tmp / "www"
    root.mkdir()
    sha256 = make_model(root / "model.bin", mib)
    cert, key = make_certificate(tmp, "127.0.0.1")
    port = free_port()
    http = NGINX_FILES.format(port=port, cert=cert, key=key, root=root)
    nginx = subprocess.Popen(nginx_argv(tmp, "nginx", http))  # noqa: S603 - generated arguments
    env = {**os.environ, "SSL_CERT_FILE": str(cert)}
    url = f"https://127.0.0.1:{port}/model.bin"
    out = tmp / "out"
    try:
        time.sleep(0.5)

        def fresh() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()

        fetch = [sys.executable, "-m", "modelops.cli", "fetch", "--uri", url]
        curl = ["curl", "-sSf", "--cacert", str(cert), "-o", str(out / "model.bin"), url]
        floor = median_of(runs, fresh, curl, env)
        plain = median_of(
            runs,
            fresh,
            [*fetch, "--dest", str(out), "--termination-log", str(tmp / "termination-log")],
            env,
        )
        checked = median_of(
            runs,
            fresh,
            [
                *fetch,
                "--sha256",
                sha256,
                "--dest",
                str(out),
                "--termination-log",
                str(tmp / "termination-log"),
            ],
            env,
        )
        cache = [*fetch, "--sha256", sha256, "--cache-dir", str(out), "--cache-key", "model"]
        cold = median_of(
            runs, fresh, [*cache, "--termination-log", str(tmp / "termination-log")], env
        )
        warm = median_of(
            runs, lambda: None, [*cache, "--termination-log", str(tmp / "termination-log")], env
        )
    finally:
        stop(nginx)
    size = mib / 1024
    print(f"model: {mib} MiB over HTTPS from nginx on loopback; median of {runs} runs")
    print(f"{'what':<44}{'seconds':>9}{'GiB/s':>8}{'ratio':>8}")
    rows = [
        ("curl (the floor)", floor, floor),
        ("modelops fetch", plain, floor),
        ("modelops fetch --sha256 (verified)", checked, floor),
        ("replica, cold cache (download + sha256)", cold, cold),
        ("replica, warm cache (found, no request)", warm, cold),
    ]
    for what, seconds, base in rows:
        print(f"{what:<44}{seconds:>9.2f}{size / seconds:>8.2f}{seconds / base:>8.2f}")
    print("ratios: the fetch rows against curl, the warm cache against the cold one")


if __name__ == "__main__":
    main()
