"""The real node's addresses, as hack/lib/net.sh derives them for a cluster: read from that file
by bash itself, so the tests and the scripts never disagree."""

import os
import subprocess
from dataclasses import dataclass
from urllib.parse import urlparse

import yaml

from tests.support.cluster import HACK, Cluster

NAMES = (
    "NET_ID",
    "LINK_HOST_IP",
    "LINK_NODE_IP",
    "NODE_POD_CIDR",
    "SERVICE_CIDR",
    "KWOK_POD_CIDR",
    "NODE_NETNS",
    "NODE_LINK",
    "NODE_NAME",
    "NODE_ROOT",
)


@dataclass(frozen=True)
class NodeNetwork:
    net_id: str
    link_host_ip: str
    link_node_ip: str
    node_pod_cidr: str
    service_cidr: str
    kwok_pod_cidr: str
    node_netns: str
    node_link: str
    node_name: str
    node_root: str  # the node's data, removed with it by hack/real-node-down.sh
    apiserver_port: int


def api_server_port(cluster: Cluster) -> int:
    with open(cluster.kubeconfig) as file:
        config = yaml.safe_load(file)
    port = urlparse(config["clusters"][0]["cluster"]["server"]).port
    assert port is not None, cluster.kubeconfig
    return port


def node_network(cluster: Cluster) -> NodeNetwork:
    port = api_server_port(cluster)
    script = f'source "{HACK}/lib/net.sh"; ' + " ".join(f'echo "${name}";' for name in NAMES)
    out = subprocess.run(
        ["bash", "-c", script],
        env={
            "APISERVER_PORT": str(port),
            "PATH": "/usr/bin:/bin",
            **{k: v for k, v in os.environ.items() if k in ("NET_ID", "NODE_NAME", "NODE_ROOT")},
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.split("\n")
    return NodeNetwork(*out[: len(NAMES)], apiserver_port=port)  # type: ignore[arg-type]


def import_node_images(cluster: Cluster, timeout: float) -> subprocess.CompletedProcess[str]:
    """The checkout's images in the real node's containerd (hack/node-images.sh: rebuilt only
    when their inputs changed, seconds otherwise), so a kept cluster never runs a stale one."""
    env = {**os.environ, "APISERVER_PORT": str(api_server_port(cluster))}
    return subprocess.run(
        ["bash", str(HACK / "node-images.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
