# The local cluster's addresses, all derived from one number so that two clusters on one
# machine (different ports, as tests and parallel worktrees use) never share a bridge, a route,
# a network namespace or an iptables rule. Sourced after versions.env and lib.sh.
#
#   NET_ID (0..49)     defaults to a checksum of APISERVER_PORT; set it when two clusters collide
#   10.245.ID.0/30     the link between this machine (.1) and the real node's namespace (.2)
#   10.244.ID.0/24     the real node's pods (its CNI bridge)
#   10.(100+ID)/16     Service ClusterIPs
#   10.(150+ID)/16     KWOK's simulated pods: a blackhole route, so nothing sent there leaves
#
# Nothing is routed off the machine: the real node's namespace has no default route and this
# machine's own forwarding stays as it was (it only originates traffic into that namespace).
: "${APISERVER_PORT:=26443}"
if [[ -z "${NET_ID:-}" ]]; then
  NET_ID=$(( $(printf '%s' "$APISERVER_PORT" | cksum | cut -d' ' -f1) % 50 ))
fi
LINK_HOST_IP="10.245.$NET_ID.1"
LINK_NODE_IP="10.245.$NET_ID.2"
NODE_POD_CIDR="10.244.$NET_ID.0/24"
SERVICE_CIDR="10.$((100 + NET_ID)).0.0/16"
SERVICE_FIRST_IP="10.$((100 + NET_ID)).0.1"
KWOK_POD_CIDR="10.$((150 + NET_ID)).0.0/16"
NODE_NAME="${NODE_NAME:-real-node-0}"
NODE_NETNS="modelops-node-$NET_ID"       # the real node's network namespace
NODE_LINK="mo${NET_ID}host"              # this machine's end of the link (15 characters at most)
NODE_BRIDGE="mo${NET_ID}br0"             # the pods' bridge, inside the node's namespace
NODE_CGROUP="modelops-node-$NET_ID"      # the kubelet's cgroup root, in every v1 hierarchy
# The node's data lives outside any checkout, named by NET_ID, so a fresh clone finds and clears
# what a killed run of another clone left behind.
NODE_ROOT="${NODE_ROOT:-/var/lib/modelops/node-$NET_ID}"
NODE_SOCK="$NODE_ROOT/run/containerd.sock"  # the real node's containerd
# Whether that containerd answers: a socket alone may be what a killed run left behind.
node_containerd_answers() { ctr --address "$NODE_SOCK" --connect-timeout 5s version >/dev/null 2>&1; }
: "${REAL_NODES:=1}"
