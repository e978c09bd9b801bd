"""The real node as a platform: a pod finds Services by name and the API server by its in-cluster
config, `kubectl logs/exec/port-forward` reach it, and nothing it does leaves the machine."""

import json
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support.cluster import Cluster, kubectl_binary, wait_until
from tests.support.realnode import NodeNetwork, node_network

IMAGE = "localhost/modelops-demo-model:dev"
POD = "netcheck"

# Run inside the pod (the demo model's image has python3): name lookups, the API server through
# the `kubernetes` Service with the pod's own token, and addresses that must stay unreachable.
PROBE = """
import json, socket, ssl, sys, urllib.request
out = {}
service = sys.argv[1]
for name in (service, "kubernetes.default.svc"):
    try:
        out[name] = socket.gethostbyname(name)
    except OSError as error:
        out[name] = f"error: {error}"
sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
context = ssl.create_default_context(cafile=sa + "ca.crt")
request = urllib.request.Request(
    "https://kubernetes.default.svc/version",
    headers={"Authorization": "Bearer " + open(sa + "token").read()},
)
try:
    answer = urllib.request.urlopen(request, context=context, timeout=10)
    out["api"] = json.load(answer)["gitVersion"]
except Exception as error:
    out["api"] = f"error: {error}"
for address in sys.argv[2:]:
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((address, 80))
        out[address] = "connected"
    except OSError as error:
        out[address] = f"unreachable: {error}"
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def network(cluster: Cluster, real_node: str) -> NodeNetwork:
    return node_network(cluster)


@pytest.fixture(scope="module")
def pod(cluster: Cluster, real_node: str) -> Iterator[tuple[str, str]]:
    """A demo-model pod on the real node behind a Service, in a namespace of its own."""
    namespace = f"net-{int(time.time())}"
    cluster.kubectl("create", "namespace", namespace)
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": POD, "labels": {"app": POD}},
                "spec": {
                    "nodeSelector": {"modelops.dev/real-node": "true"},
                    "tolerations": [{"key": "modelops.dev/real-node", "operator": "Exists"}],
                    "containers": [
                        {
                            "name": "model",
                            "image": IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "env": [{"name": "MODEL_VERSION", "value": "net"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": 8080},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": POD},
                "spec": {"selector": {"app": POD}, "ports": [{"port": 80, "targetPort": 8080}]},
            },
        ],
    }
    cluster.apply(manifest, namespace)
    cluster.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Ready",
        f"pod/{POD}",
        "--timeout=120s",
        timeout=130,
    )
    yield namespace, POD
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_node_is_labelled_tainted_and_on_its_link(cluster: Cluster, network: NodeNetwork) -> None:
    node = cluster.get("node", network.node_name)
    assert node["metadata"]["labels"]["modelops.dev/real-node"] == "true"
    assert {"key": "modelops.dev/real-node", "value": "true", "effect": "NoSchedule"} in node[
        "spec"
    ]["taints"]
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == network.link_node_ip


def test_pod_finds_services_and_the_api_server_and_nothing_outside(
    cluster: Cluster, network: NodeNetwork, pod: tuple[str, str]
) -> None:
    namespace, name = pod
    service_ip = cluster.get("service", name, "-n", namespace)["spec"]["clusterIP"]
    kwok_address = network.kwok_pod_cidr.split("/")[0].rsplit(".", 1)[0] + ".7"
    outside = "192.0.2.77"  # TEST-NET-1: would need a default route to go anywhere
    probe = cluster.kubectl(
        "exec",
        "-n",
        namespace,
        name,
        "--",
        "python3",
        "-c",
        PROBE,
        f"{name}.{namespace}.svc",
        kwok_address,
        outside,
        timeout=60,
    )
    found = json.loads(probe.stdout)
    assert found[f"{name}.{namespace}.svc"] == service_ip
    assert found["kubernetes.default.svc"] == network.service_cidr.split("/")[0][:-1] + "1"
    assert re.fullmatch(r"v1\.\d+\.\d+", found["api"]), found["api"]
    assert found[kwok_address].startswith("unreachable"), found
    assert found[outside].startswith("unreachable"), found


def test_logs_and_port_forward_reach_the_kubelet(cluster: Cluster, pod: tuple[str, str]) -> None:
    namespace, name = pod
    forward = subprocess.Popen(
        [
            kubectl_binary(),
            "--kubeconfig",
            cluster.kubeconfig,
            "port-forward",
            "-n",
            namespace,
            f"pod/{name}",
            ":8080",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        port = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert port, line
        reply = subprocess.run(
            ["curl", "-sS", "-m", "5", f"http://127.0.0.1:{port.group(1)}/v1/models"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        assert "demo-model:net" in reply.stdout
    finally:
        forward.terminate()
        forward.wait(timeout=10)

    def logged() -> bool:
        logs = cluster.kubectl("logs", "-n", namespace, name).stdout
        return '"path":"/v1/models"' in logs

    wait_until(logged, 20, message="the request in kubectl logs")


def test_nothing_is_routed_or_exposed_off_the_machine(network: NodeNetwork) -> None:
    def run(*args: str) -> str:
        return subprocess.run(args, capture_output=True, text=True, check=True, timeout=10).stdout

    # The node's namespace has no default route: its pods reach this machine's link end only.
    node_routes = run("ip", "netns", "exec", network.node_netns, "ip", "-4", "route")
    assert "default" not in node_routes, node_routes
    assert f"blackhole {network.kwok_pod_cidr}" in node_routes
    host_routes = run("ip", "-4", "route")
    assert f"blackhole {network.kwok_pod_cidr}" in host_routes
    for cidr in (network.node_pod_cidr, network.service_cidr):
        assert f"{cidr} via {network.link_node_ip} dev {network.node_link}" in host_routes
    # kube-proxy's rules live in the node's namespace only; this machine's tables name none of
    # the cluster's addresses.
    host_rules = run("iptables-save")
    for cidr in (network.node_pod_cidr, network.service_cidr, network.kwok_pod_cidr):
        assert cidr not in host_rules, host_rules
    assert "KUBE-SERVICES" in run("ip", "netns", "exec", network.node_netns, "iptables-save")
    # The API server's port answers on loopback and on the link's own address, nowhere else.
    listening = run("ss", "-Hltn", f"sport = :{network.apiserver_port}")
    local = {line.split()[3].rsplit(":", 1)[0] for line in listening.splitlines()}
    assert local == {"127.0.0.1", network.link_host_ip}, listening
