"""`make images` beside a killed run's leftovers: a containerd socket nobody answers on is not
a node to import into (hack/real-node-up.sh clears it and imports once its containerd answers)."""

import os
import socket
import subprocess
from pathlib import Path

from tests.support.cluster import HACK


def test_a_socket_nobody_answers_on_is_left_for_the_node_to_clear(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    sock = run / "containerd.sock"
    # Bound then closed, as a killed containerd leaves it: the file is a socket, nothing listens.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.close()
    assert sock.is_socket()

    done = subprocess.run(
        [str(HACK / "node-images.sh")],
        env={**os.environ, "NODE_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "does not answer" in done.stderr
    assert not (tmp_path / "imported-images").exists()
