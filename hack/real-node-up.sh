#!/usr/bin/env bash
# Join one real node to the running local control plane: a kubelet with containerd and runc
# (Debian's), CNI's bridge, kube-proxy in iptables mode, and CoreDNS for the pods, all with the
# images built by hack/build-images.sh imported (nothing is pulled). Called by hack/cluster-up.sh
# unless REAL_NODES=0; hack/real-node-down.sh removes it all.
#
# The node is a network namespace of its own (like a machine on a private link): its iptables,
# bridge, ports and conntrack never meet this machine's or another local cluster's. Addresses
# come from hack/lib/net.sh. The node is labelled and tainted modelops.dev/real-node, so only
# pods that ask land on it and the KWOK nodes keep every other test as it was.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
source "$here/lib.sh"
source "$here/lib/components.sh"

: "${NODE_READY_TIMEOUT:=120}"
bin="$(bin_dir)"
dir="$(cluster_dir)"
pki="$dir/pki"
kubeconfig="$dir/kubeconfig"
kubectl=("$bin/kubectl" --kubeconfig "$kubeconfig")
sock="$NODE_SOCK"
in_node=(nsenter "--net=/run/netns/$NODE_NETNS" --)
start=$SECONDS

[[ $(id -u) == 0 ]] || { log "the real node needs root (containerd, network namespaces); REAL_NODES=0 skips it"; exit 1; }
"$here/install-node-deps.sh" >/dev/null
if [[ ! -x $bin/kubelet || ! -x $bin/kube-proxy || ! -x $bin/coredns ]]; then
  "$here/build-binaries.sh" all
fi

# What a killed earlier run left behind (any checkout's, since it is found by name) goes first.
"$here/real-node-down.sh"
mkdir -p "$NODE_ROOT"/{run,cni,kubelet,pod-logs}

# --- network: the node's namespace, the link to it, routes into it --------------------------
ip netns add "$NODE_NETNS"
ip link add "$NODE_LINK" type veth peer name eth0 netns "$NODE_NETNS"
ip addr add "$LINK_HOST_IP/30" dev "$NODE_LINK"
ip link set "$NODE_LINK" up
"${in_node[@]}" ip addr add "$LINK_NODE_IP/30" dev eth0
"${in_node[@]}" ip link set eth0 up
"${in_node[@]}" ip link set lo up
# The node forwards between its pods and the link; this machine forwards nothing.
"${in_node[@]}" sysctl -qw net.ipv4.ip_forward=1
"${in_node[@]}" sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || modprobe br_netfilter 2>/dev/null || true
ip route add "$NODE_POD_CIDR" via "$LINK_NODE_IP"
ip route add "$SERVICE_CIDR" via "$LINK_NODE_IP"
# A request to a simulated (KWOK) pod never leaves the machine, here or inside the node.
ip route add blackhole "$KWOK_POD_CIDR"
"${in_node[@]}" ip route add blackhole "$KWOK_POD_CIDR"

# --- this machine's side: the API server for the node and its pods, cluster DNS -------------
launch_node_part() {  # name, command...: detached, logged like the control plane's components
  local name=$1; shift
  setsid "$@" >>"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name.pid"
}
# The API server listens on 127.0.0.1 only; this forwarder is its one door to the node, bound
# to the link's address, which exists nowhere but on this machine.
launch_node_part apiserver-forwarder socat \
  "TCP-LISTEN:$APISERVER_PORT,bind=$LINK_HOST_IP,reuseaddr,fork" "TCP:127.0.0.1:$APISERVER_PORT"
cat >"$NODE_ROOT/Corefile" <<COREFILE
.:53 {
    bind $LINK_HOST_IP
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
COREFILE
launch_node_part coredns "$bin/coredns" -conf "$NODE_ROOT/Corefile"

node_kubeconfig() {  # identity (a file stem in pki/) -> a kubeconfig that reaches the forwarder
  cat >"$NODE_ROOT/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://$LINK_HOST_IP:$APISERVER_PORT", certificate-authority: "$pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$pki/$1.crt", client-key: "$pki/$1.key"}
contexts:
- name: local
  context: {cluster: local, user: $1}
current-context: local
KC
}
node_kubeconfig node
node_kubeconfig kube-proxy

# --- containerd, with the sandbox and project images imported --------------------------------
cat >"$NODE_ROOT/cni/10-bridge.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "modelops-$NET_ID", "plugins": [
  {"type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$NODE_ROOT/cni-ipam", "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
CNI
cat >"$NODE_ROOT/containerd.toml" <<TOML
version = 2
root = "$NODE_ROOT/containerd"
state = "$NODE_ROOT/run/containerd"
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_ROOT/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:3.10"
  # The sandbox asks for oom_score_adj -998; without CAP_SYS_RESOURCE (this machine) runc fails
  # every sandbox with "can't get final child's PID from pipe" unless the value is clamped.
  restrict_oom_score_adj = true
  # The pods' network namespaces stay under the node's data, not in this machine's /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_ROOT/cni"
TOML
launch_node_part containerd "${in_node[@]}" containerd --config "$NODE_ROOT/containerd.toml"
wait_for containerd 30 node_containerd_answers || exit 1
"$here/node-images.sh"

# --- kubelet ---------------------------------------------------------------------------------
# Its cgroups live under a root of their own, so two local clusters' kubelets never meet.
for hierarchy in /sys/fs/cgroup/*/; do
  [[ -f $hierarchy/cgroup.procs ]] || continue
  mkdir -p "$hierarchy$NODE_CGROUP"
  if [[ -f $hierarchy/cpuset.cpus ]]; then
    cat "$hierarchy/cpuset.cpus" >"$hierarchy$NODE_CGROUP/cpuset.cpus"
    cat "$hierarchy/cpuset.mems" >"$hierarchy$NODE_CGROUP/cpuset.mems"
  fi
done
cat >"$NODE_ROOT/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine runs cgroup v1, which 1.35 refuses unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$NODE_CGROUP
containerRuntimeEndpoint: unix://$sock
address: $LINK_NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: Webhook}
clusterDNS: [$LINK_HOST_IP]
clusterDomain: cluster.local
resolvConf: ""
podLogsDir: $NODE_ROOT/pod-logs
failSwapOn: false
registerWithTaints:
- {key: modelops.dev/real-node, value: "true", effect: NoSchedule}
enforceNodeAllocatable: []
# Imported images are all there is (no registry): never collect them, never evict for disk.
imageGCHighThresholdPercent: 100
evictionHard: {"memory.available": "100Mi"}
# A Secret or ConfigMap volume is rewritten on the pod's next periodic sync: 20 s, not the
# default minute, so the API-key rotation test waits less (the README says which it measured).
syncFrequency: 20s
KUBELET
launch_node_part kubelet "${in_node[@]}" "$bin/kubelet" --config "$NODE_ROOT/kubelet.yaml" \
  --kubeconfig "$NODE_ROOT/node.kubeconfig" --hostname-override "$NODE_NAME" \
  --node-ip "$LINK_NODE_IP" --node-labels "modelops.dev/real-node=true" \
  --root-dir "$NODE_ROOT/kubelet" --cert-dir "$NODE_ROOT/kubelet/pki"

# --- kube-proxy: Services' ClusterIPs, inside the node's namespace ----------------------------
cat >"$NODE_ROOT/kube-proxy.yaml" <<PROXY
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$NODE_ROOT/kube-proxy.kubeconfig"}
mode: iptables
clusterCIDR: $NODE_POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Machine-wide conntrack settings are not ours to change.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
PROXY
launch_node_part kube-proxy "${in_node[@]}" "$bin/kube-proxy" --config "$NODE_ROOT/kube-proxy.yaml"

node_ready() {
  [[ $("${kubectl[@]}" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}
wait_for "$NODE_NAME Ready" "$NODE_READY_TIMEOUT" node_ready || exit 1
log "real node $NODE_NAME Ready in $((SECONDS - start)) s (pods $NODE_POD_CIDR, Services $SERVICE_CIDR, DNS $LINK_HOST_IP)"
